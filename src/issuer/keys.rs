//! braid's own signing keys: PKCS#8 PEM files in `keys/` (generated if absent, race-safe between
//! replicas), parsed once into aws-lc-rs key pairs, `kid` = RFC 7638 thumbprint, and the JWKS.

use std::collections::HashMap;
use std::io::Write as _;
use std::path::{Path, PathBuf};

use aws_lc_rs::encoding::AsDer;
use aws_lc_rs::rand::SystemRandom;
use aws_lc_rs::rsa::KeySize;
use aws_lc_rs::signature::{
    ECDSA_P256_SHA256_FIXED_SIGNING, EcdsaKeyPair, Ed25519KeyPair, KeyPair as _, RSA_PKCS1_SHA256, RsaKeyPair,
};
use base64::Engine as _;
use base64::engine::general_purpose::{STANDARD, URL_SAFE_NO_PAD};
use serde_json::{Value, json};

use crate::config::SigningAlg;

/// Why keys could not be loaded or made.
#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    /// A file could not be read or written.
    #[error("{path}: {source}")]
    Io {
        /// The file or directory.
        path: PathBuf,
        /// The cause.
        source: std::io::Error,
    },
    /// A key file does not hold a key braid can use.
    #[error("{path}: {reason}")]
    Bad {
        /// The file.
        path: PathBuf,
        /// What is wrong.
        reason: String,
    },
    /// Signing failed.
    #[error("signing failed")]
    Sign,
}

enum Pair {
    Rsa(RsaKeyPair),
    Ec(EcdsaKeyPair),
    Ed(Ed25519KeyPair),
}

/// One key pair with its public JWK.
pub struct SigningKey {
    pair: Pair,
    /// The algorithm it signs with.
    pub alg: SigningAlg,
    /// RFC 7638 thumbprint.
    pub kid: String,
    /// The public JWK (with `kid`, `alg`, `use`).
    pub jwk: Value,
    /// The file it came from.
    pub path: PathBuf,
    seq: u32,
    /// When its file was written (ms): a new key signs only once it has been published long
    /// enough for every replica and client cache to know it.
    pub created_ms: i64,
}

impl std::fmt::Debug for SigningKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SigningKey").field("alg", &self.alg).field("kid", &self.kid).finish()
    }
}

impl SigningKey {
    /// Sign `msg` as a JWS signature of this key's algorithm.
    pub fn sign(&self, msg: &[u8]) -> Result<Vec<u8>, KeyError> {
        match &self.pair {
            Pair::Rsa(k) => {
                let mut sig = vec![0u8; k.public_modulus_len()];
                k.sign(&RSA_PKCS1_SHA256, &SystemRandom::new(), msg, &mut sig).map_err(|_| KeyError::Sign)?;
                Ok(sig)
            }
            Pair::Ec(k) => k.sign(&SystemRandom::new(), msg).map(|s| s.as_ref().to_vec()).map_err(|_| KeyError::Sign),
            Pair::Ed(k) => Ok(k.sign(msg).as_ref().to_vec()),
        }
    }
}

/// Every key in `keys/`: the current signing key of each algorithm and all published public
/// keys. braid keeps a key of every algorithm it can sign with (`SigningAlg::ALL`), so that a
/// client may ask for any of them, also one added while braid runs.
#[derive(Debug)]
pub struct KeySet {
    keys: Vec<SigningKey>,
    /// The `[keys] algorithm`: what signs when a client names none (forward-auth assertions
    /// follow `[proxy] assertion_algorithm`).
    default: SigningAlg,
    /// The current key of each algorithm that has one, as an index into `keys`.
    current: Vec<(SigningAlg, usize)>,
}

impl KeySet {
    /// Load every key in `dir`, generating one of each algorithm that has none; the newest key
    /// of each algorithm signs, `alg` by default.
    pub fn load_or_generate(dir: &Path, alg: SigningAlg) -> Result<Self, KeyError> {
        Self::load_or_generate_at(dir, alg, i64::MAX, 0)
    }

    /// Load every key in `dir`, generating one of each algorithm that has none (a directory of
    /// an older braid, with keys of one algorithm only, gains the others; nothing else changes).
    /// The newest key of each algorithm that has been published for `delay_ms` at `now` signs;
    /// an algorithm's first key signs at once (nothing was published before it).
    pub fn load_or_generate_at(dir: &Path, alg: SigningAlg, now: i64, delay_ms: i64) -> Result<Self, KeyError> {
        let io = |source| KeyError::Io { path: dir.to_owned(), source };
        std::fs::create_dir_all(dir).map_err(io)?;
        restrict_dir(dir);
        let mut keys = load_all(dir)?;
        let missing: Vec<SigningAlg> =
            SigningAlg::ALL.into_iter().filter(|a| !keys.iter().any(|k| k.alg == *a)).collect();
        if !missing.is_empty() {
            for a in missing {
                generate_into(dir, a, 1)?;
            }
            keys = load_all(dir)?;
        }
        Self::from_keys(keys, alg, dir, now, delay_ms)
    }

    /// Load every key in `dir` without generating any (for `braid check`): a key of `alg` must
    /// exist; the others are made by `braid serve` when absent.
    pub fn load_existing(dir: &Path, alg: SigningAlg) -> Result<Self, KeyError> {
        Self::from_keys(load_all(dir)?, alg, dir, i64::MAX, 0)
    }

    /// Write a new key of `alg` after the newest one; it is published at once and signs once it
    /// is `[keys] activation_delay_secs` old.
    pub fn rotate(dir: &Path, alg: SigningAlg) -> Result<PathBuf, KeyError> {
        std::fs::create_dir_all(dir).map_err(|source| KeyError::Io { path: dir.to_owned(), source })?;
        let next = load_all(dir)?.iter().map(|k| k.seq).max().unwrap_or(0) + 1;
        generate_into(dir, alg, next)
    }

    fn from_keys(
        keys: Vec<SigningKey>,
        alg: SigningAlg,
        dir: &Path,
        now: i64,
        delay_ms: i64,
    ) -> Result<Self, KeyError> {
        let mut current = Vec::new();
        for a in SigningAlg::ALL {
            let mut of_alg: Vec<(usize, &SigningKey)> = keys.iter().enumerate().filter(|(_, k)| k.alg == a).collect();
            of_alg.sort_by_key(|(_, k)| std::cmp::Reverse(k.seq));
            let chosen = of_alg
                .iter()
                .find(|(_, k)| now.saturating_sub(k.created_ms) >= delay_ms)
                .or_else(|| of_alg.last())
                .map(|(i, _)| *i);
            if let Some(i) = chosen {
                current.push((a, i));
            }
        }
        if !current.iter().any(|(a, _)| *a == alg) {
            return Err(KeyError::Bad {
                path: dir.to_owned(),
                reason: format!("no {} key; run `braid keys rotate` or start `braid serve`", alg.as_str()),
            });
        }
        Ok(Self { keys, default: alg, current })
    }

    /// The key that signs new tokens of `alg`, if braid has one.
    pub fn current_for(&self, alg: SigningAlg) -> Option<&SigningKey> {
        self.current.iter().find(|(a, _)| *a == alg).map(|(_, i)| &self.keys[*i])
    }

    /// The `[keys] algorithm`.
    pub fn default_alg(&self) -> SigningAlg {
        self.default
    }

    /// Every algorithm braid can sign with now, in `SigningAlg::ALL` order.
    pub fn algorithms(&self) -> Vec<SigningAlg> {
        self.current.iter().map(|(a, _)| *a).collect()
    }

    /// The key that signs new tokens of the `[keys] algorithm`.
    pub fn current(&self) -> &SigningKey {
        // `from_keys` refuses a set without a key of the default algorithm.
        let i = self.current.iter().find(|(a, _)| *a == self.default).map_or(0, |(_, i)| *i);
        &self.keys[i]
    }

    /// A key by `kid`.
    pub fn by_kid(&self, kid: &str) -> Option<&SigningKey> {
        self.keys.iter().find(|k| k.kid == kid)
    }

    /// Every key.
    pub fn all(&self) -> &[SigningKey] {
        &self.keys
    }

    /// The JWKS document.
    pub fn jwks(&self) -> Value {
        json!({ "keys": self.keys.iter().map(|k| k.jwk.clone()).collect::<Vec<_>>() })
    }

    /// Verification keys for braid's own tokens, by `kid`, each pinned to its algorithm.
    pub fn decoding_keys(&self) -> HashMap<String, (jsonwebtoken::DecodingKey, jsonwebtoken::Algorithm)> {
        let mut out = HashMap::new();
        for k in &self.keys {
            let s = |name: &str| k.jwk[name].as_str().unwrap_or_default().to_owned();
            let decoded = match k.alg {
                SigningAlg::RS256 => jsonwebtoken::DecodingKey::from_rsa_components(&s("n"), &s("e"))
                    .map(|d| (d, jsonwebtoken::Algorithm::RS256)),
                SigningAlg::ES256 => jsonwebtoken::DecodingKey::from_ec_components(&s("x"), &s("y"))
                    .map(|d| (d, jsonwebtoken::Algorithm::ES256)),
                SigningAlg::EdDSA => {
                    jsonwebtoken::DecodingKey::from_ed_components(&s("x")).map(|d| (d, jsonwebtoken::Algorithm::EdDSA))
                }
            };
            if let Ok(d) = decoded {
                out.insert(k.kid.clone(), d);
            }
        }
        out
    }
}

fn restrict_dir(dir: &Path) {
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        let _ = std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700));
    }
}

/// File name of key number `seq`: `signing-0001-RS256.pem`.
fn file_name(seq: u32, alg: SigningAlg) -> String {
    format!("signing-{seq:04}-{}.pem", alg.as_str())
}

fn parse_name(name: &str) -> Option<(u32, SigningAlg)> {
    let rest = name.strip_prefix("signing-")?.strip_suffix(".pem")?;
    let (seq, alg) = rest.split_once('-')?;
    Some((seq.parse().ok()?, SigningAlg::parse(alg)?))
}

fn load_all(dir: &Path) -> Result<Vec<SigningKey>, KeyError> {
    let entries = match std::fs::read_dir(dir) {
        Ok(e) => e,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => return Err(KeyError::Io { path: dir.to_owned(), source }),
    };
    let mut keys = Vec::new();
    for entry in entries.flatten() {
        let path = entry.path();
        let Some((seq, alg)) = path.file_name().and_then(|n| n.to_str()).and_then(parse_name) else {
            continue;
        };
        let text = std::fs::read_to_string(&path).map_err(|source| KeyError::Io { path: path.clone(), source })?;
        let der = pem_decode(&text).ok_or_else(|| KeyError::Bad {
            path: path.clone(),
            reason: "not a PEM `PRIVATE KEY` (PKCS#8) file".into(),
        })?;
        let created_ms = std::fs::metadata(&path)
            .and_then(|m| m.modified())
            .ok()
            .and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok())
            .map_or(0, |d| i64::try_from(d.as_millis()).unwrap_or(i64::MAX));
        let mut key = from_pkcs8(&der, alg, seq, path)?;
        key.created_ms = created_ms;
        keys.push(key);
    }
    // A stable order (the JWKS lists keys in it): by number, then algorithm.
    keys.sort_by_key(|k| (k.seq, k.alg));
    Ok(keys)
}

fn from_pkcs8(der: &[u8], alg: SigningAlg, seq: u32, path: PathBuf) -> Result<SigningKey, KeyError> {
    let bad = |reason: String| KeyError::Bad { path: path.clone(), reason };
    let (pair, mut jwk) = match alg {
        SigningAlg::RS256 => {
            let k = RsaKeyPair::from_pkcs8(der).map_err(|e| bad(format!("not an RSA key: {e}")))?;
            let public = k.public_key();
            let n = URL_SAFE_NO_PAD.encode(public.modulus().big_endian_without_leading_zero());
            let e = URL_SAFE_NO_PAD.encode(public.exponent().big_endian_without_leading_zero());
            (Pair::Rsa(k), json!({ "kty": "RSA", "n": n, "e": e }))
        }
        SigningAlg::ES256 => {
            let k = EcdsaKeyPair::from_pkcs8(&ECDSA_P256_SHA256_FIXED_SIGNING, der)
                .map_err(|e| bad(format!("not a P-256 key: {e}")))?;
            let point = k.public_key().as_ref().to_vec();
            if point.len() != 65 {
                return Err(bad("unexpected P-256 public key encoding".into()));
            }
            let x = URL_SAFE_NO_PAD.encode(&point[1..33]);
            let y = URL_SAFE_NO_PAD.encode(&point[33..65]);
            (Pair::Ec(k), json!({ "kty": "EC", "crv": "P-256", "x": x, "y": y }))
        }
        SigningAlg::EdDSA => {
            let k = Ed25519KeyPair::from_pkcs8(der).map_err(|e| bad(format!("not an Ed25519 key: {e}")))?;
            let x = URL_SAFE_NO_PAD.encode(k.public_key().as_ref());
            (Pair::Ed(k), json!({ "kty": "OKP", "crv": "Ed25519", "x": x }))
        }
    };
    let kid = thumbprint(&jwk);
    if let Some(o) = jwk.as_object_mut() {
        o.insert("kid".into(), json!(kid));
        o.insert("alg".into(), json!(alg.as_str()));
        o.insert("use".into(), json!("sig"));
    }
    Ok(SigningKey { pair, alg, kid, jwk, path, seq, created_ms: 0 })
}

/// RFC 7638 JWK thumbprint: SHA-256 over the required members in lexicographic order.
pub fn thumbprint(jwk: &Value) -> String {
    let members: &[&str] = match jwk["kty"].as_str() {
        Some("RSA") => &["e", "kty", "n"],
        Some("EC") => &["crv", "kty", "x", "y"],
        _ => &["crv", "kty", "x"],
    };
    let body = members.iter().map(|m| format!("\"{m}\":{}", jwk[*m])).collect::<Vec<_>>().join(",");
    crate::ids::sha256_b64(format!("{{{body}}}").as_bytes())
}

fn generate_into(dir: &Path, alg: SigningAlg, seq: u32) -> Result<PathBuf, KeyError> {
    let err = |reason: &str| KeyError::Bad { path: dir.to_owned(), reason: reason.to_owned() };
    let der: Vec<u8> = match alg {
        SigningAlg::RS256 => RsaKeyPair::generate(KeySize::Rsa2048)
            .and_then(|k| k.as_der().map(|d| d.as_ref().to_vec()))
            .map_err(|_| err("RSA key generation failed"))?,
        SigningAlg::ES256 => EcdsaKeyPair::generate(&ECDSA_P256_SHA256_FIXED_SIGNING)
            .and_then(|k| k.to_pkcs8v1().map(|d| d.as_ref().to_vec()))
            .map_err(|_| err("P-256 key generation failed"))?,
        SigningAlg::EdDSA => Ed25519KeyPair::generate()
            .and_then(|k| k.to_pkcs8().map(|d| d.as_ref().to_vec()))
            .map_err(|_| err("Ed25519 key generation failed"))?,
    };
    write_once(dir, &file_name(seq, alg), pem_encode(&der).as_bytes())
}

/// Write `contents` to `dir/name` (mode 0600) unless that file exists: when two replicas start
/// together, the first one's file wins and the other simply reads it. Returns the path.
pub(crate) fn write_once(dir: &Path, name: &str, contents: &[u8]) -> Result<PathBuf, KeyError> {
    let target = dir.join(name);
    let tmp = dir.join(format!(".tmp-{}", crate::ids::random_base32(8)));
    let io = |path: &Path, source| KeyError::Io { path: path.to_owned(), source };
    {
        let mut opts = std::fs::OpenOptions::new();
        opts.write(true).create_new(true);
        #[cfg(unix)]
        {
            use std::os::unix::fs::OpenOptionsExt;
            opts.mode(0o600);
        }
        let mut f = opts.open(&tmp).map_err(|e| io(&tmp, e))?;
        f.write_all(contents).map_err(|e| io(&tmp, e))?;
        f.sync_all().map_err(|e| io(&tmp, e))?;
    }
    // A hard link never replaces an existing file: when two replicas start together, the first
    // one's key wins and the other simply loads it.
    let linked = std::fs::hard_link(&tmp, &target);
    let _ = std::fs::remove_file(&tmp);
    match linked {
        Ok(()) => Ok(target),
        Err(e) if e.kind() == std::io::ErrorKind::AlreadyExists => Ok(target),
        Err(e) => Err(io(&target, e)),
    }
}

fn pem_encode(der: &[u8]) -> String {
    let b64 = STANDARD.encode(der);
    let mut out = String::from("-----BEGIN PRIVATE KEY-----\n");
    for chunk in b64.as_bytes().chunks(64) {
        out.push_str(&String::from_utf8_lossy(chunk));
        out.push('\n');
    }
    out.push_str("-----END PRIVATE KEY-----\n");
    out
}

fn pem_decode(text: &str) -> Option<Vec<u8>> {
    let body = text.split("-----BEGIN PRIVATE KEY-----").nth(1)?.split("-----END PRIVATE KEY-----").next()?;
    let compact: String = body.chars().filter(|c| !c.is_whitespace()).collect();
    STANDARD.decode(compact).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn thumbprint_matches_rfc7638_example() {
        let jwk = json!({
            "kty": "RSA",
            "n": "0vx7agoebGcQSuuPiLJXZptN9nndrQmbXEps2aiAFbWhM78LhWx4cbbfAAtVT86zwu1RK7aPFFxuhDR1L6tSoc_BJECPebWKRXjBZCiFV4n3oknjhMstn64tZ_2W-5JsGY4Hc5n9yBXArwl93lqt7_RN5w6Cf0h4QyQ5v-65YGjQR0_FDW2QvzqY368QQMicAtaSqzs8KJZgnYb9c7d0zgdAZHzu6qMQvRL5hajrn1n91CbOpbISD08qNLyrdkt-bFTWhAI4vMQFh6WeZu0fM4lFd2NcRwr3XPksINHaQ-G_xBniIqbw0Ls1jF44-csFCur-kEgU8awapJzKnqDKgw",
            "e": "AQAB",
        });
        assert_eq!(thumbprint(&jwk), "NzbLsXh8uDCcd-6MNwXF4W_7noWXFZAfHkxZsRGC9Xs");
    }

    #[test]
    fn keys_are_generated_once_and_reloaded_with_the_same_kid() {
        let dir = tempfile::tempdir().unwrap();
        for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA] {
            let a = KeySet::load_or_generate(dir.path(), alg).unwrap();
            let b = KeySet::load_or_generate(dir.path(), alg).unwrap();
            assert_eq!(a.current().kid, b.current().kid);
            assert_eq!(a.current().alg, alg);
            assert!(!a.current().sign(b"msg").unwrap().is_empty());
        }
        assert_eq!(KeySet::load_existing(dir.path(), SigningAlg::RS256).unwrap().all().len(), 3);
    }

    #[test]
    fn rotation_adds_a_newer_key_that_becomes_current() {
        let dir = tempfile::tempdir().unwrap();
        let first = KeySet::load_or_generate(dir.path(), SigningAlg::ES256).unwrap().current().kid.clone();
        KeySet::rotate(dir.path(), SigningAlg::ES256).unwrap();
        let set = KeySet::load_or_generate(dir.path(), SigningAlg::ES256).unwrap();
        assert_ne!(set.current().kid, first);
        assert!(set.by_kid(&first).is_some(), "old key stays published");
    }
}
