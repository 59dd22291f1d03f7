//! Verification of JWS compact tokens from upstreams (ID tokens, and any JWT braid accepts from
//! outside): strict base64url parsing, keys from a JWK Set each pinned to one algorithm (taken
//! from the key, never from the token header), `crit` refused, embedded `jwk`/`jku`/`x5u`/`x5c`
//! ignored. Signature checks run through jsonwebtoken's aws-lc-rs backend.

use base64::Engine as _;
use base64::alphabet::URL_SAFE;
use base64::engine::{DecodePaddingMode, GeneralPurpose, GeneralPurposeConfig};
use jsonwebtoken::jwk::{AlgorithmParameters, EllipticCurve, Jwk, KeyAlgorithm, PublicKeyUse};
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::{Map, Value};

/// base64url without padding, refusing padding and non-canonical trailing bits.
const STRICT_B64URL: GeneralPurpose = GeneralPurpose::new(
    &URL_SAFE,
    GeneralPurposeConfig::new()
        .with_encode_padding(false)
        .with_decode_padding_mode(DecodePaddingMode::RequireNone)
        .with_decode_allow_trailing_bits(false),
);

/// Why a token was refused. The `Display` texts are for logs, never for the person.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum JoseError {
    /// Not three strictly base64url-encoded segments with a JSON object header.
    #[error("malformed token")]
    Malformed,
    /// The header names an extension (`crit`) braid does not understand.
    #[error("unsupported critical header")]
    Critical,
    /// No key has the token's `kid` (the caller may fetch the keys again).
    #[error("no key with kid {0:?}")]
    UnknownKid(Option<String>),
    /// Several keys could verify a token that names none.
    #[error("token names no kid and several keys exist")]
    AmbiguousKey,
    /// The header's `alg` is not the algorithm of the key.
    #[error("alg {0} does not match the key")]
    WrongAlgorithm(String),
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
}

/// One upstream verification key with the one algorithm it may verify.
#[derive(Clone)]
pub struct PinnedKey {
    /// `kid`, if the JWK has one.
    pub kid: Option<String>,
    /// The algorithm pinned to this key.
    pub alg: Algorithm,
    key: DecodingKey,
}

impl std::fmt::Debug for PinnedKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("PinnedKey").field("kid", &self.kid).field("alg", &self.alg).finish()
    }
}

/// A verified token: its header and the raw payload bytes.
#[derive(Debug, Clone, PartialEq)]
pub struct Verified {
    /// The protected header.
    pub header: Map<String, Value>,
    /// The payload, decoded.
    pub payload: Vec<u8>,
}

fn alg_from_key(jwk: &Jwk) -> Option<Algorithm> {
    let stated = match &jwk.common.key_algorithm {
        Some(KeyAlgorithm::RS256) => Some(Algorithm::RS256),
        Some(KeyAlgorithm::RS384) => Some(Algorithm::RS384),
        Some(KeyAlgorithm::RS512) => Some(Algorithm::RS512),
        Some(KeyAlgorithm::PS256) => Some(Algorithm::PS256),
        Some(KeyAlgorithm::PS384) => Some(Algorithm::PS384),
        Some(KeyAlgorithm::PS512) => Some(Algorithm::PS512),
        Some(KeyAlgorithm::ES256) => Some(Algorithm::ES256),
        Some(KeyAlgorithm::ES384) => Some(Algorithm::ES384),
        Some(KeyAlgorithm::EdDSA) => Some(Algorithm::EdDSA),
        Some(KeyAlgorithm::HS256) => Some(Algorithm::HS256),
        Some(KeyAlgorithm::HS384) => Some(Algorithm::HS384),
        Some(KeyAlgorithm::HS512) => Some(Algorithm::HS512),
        Some(_) => return None,
        None => None,
    };
    let family_ok = |a: Algorithm| match (&jwk.algorithm, a) {
        (AlgorithmParameters::RSA(_), Algorithm::RS256 | Algorithm::RS384 | Algorithm::RS512)
        | (AlgorithmParameters::RSA(_), Algorithm::PS256 | Algorithm::PS384 | Algorithm::PS512) => true,
        (AlgorithmParameters::EllipticCurve(p), Algorithm::ES256) => p.curve == EllipticCurve::P256,
        (AlgorithmParameters::EllipticCurve(p), Algorithm::ES384) => p.curve == EllipticCurve::P384,
        (AlgorithmParameters::OctetKeyPair(p), Algorithm::EdDSA) => p.curve == EllipticCurve::Ed25519,
        (AlgorithmParameters::OctetKey(_), Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512) => true,
        _ => false,
    };
    let alg = match stated {
        Some(a) => a,
        // No `alg` on the key: the one algorithm its type implies (RS256 is OIDC's default).
        None => match &jwk.algorithm {
            AlgorithmParameters::RSA(_) => Algorithm::RS256,
            AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P256 => Algorithm::ES256,
            AlgorithmParameters::EllipticCurve(p) if p.curve == EllipticCurve::P384 => Algorithm::ES384,
            AlgorithmParameters::OctetKeyPair(p) if p.curve == EllipticCurve::Ed25519 => Algorithm::EdDSA,
            _ => return None,
        },
    };
    family_ok(alg).then_some(alg)
}

fn usable_for_signatures(jwk: &Jwk) -> bool {
    let use_ok = match &jwk.common.public_key_use {
        None | Some(PublicKeyUse::Signature) => true,
        Some(_) => false,
    };
    let ops_ok = match &jwk.common.key_operations {
        None => true,
        Some(ops) => ops.iter().any(|o| matches!(o, jsonwebtoken::jwk::KeyOperations::Verify)),
    };
    use_ok && ops_ok
}

/// Keys for verifying one issuer's tokens.
#[derive(Debug, Clone, Default)]
pub struct PinnedKeys {
    keys: Vec<PinnedKey>,
    /// Kids that more than one key of the set claims: tokens naming them are refused.
    ambiguous: Vec<String>,
}

impl PinnedKeys {
    /// Keys from a JWK Set document (`{"keys": [...]}`) or a single JWK.
    ///
    /// A set holding private key material, or mixing symmetric with asymmetric keys, is refused
    /// whole. Keys braid cannot pin to exactly one signature algorithm, keys for encryption,
    /// HMAC keys shorter than their hash, RSA moduli with the ROCA fingerprint, and symmetric keys
    /// when `allow_symmetric` is false are left out.
    pub fn from_jwks(doc: &Value, allow_symmetric: bool) -> Self {
        let list: Vec<&Value> = match doc.get("keys").and_then(Value::as_array) {
            Some(keys) => keys.iter().collect(),
            None if doc.get("kty").is_some() => vec![doc],
            None => Vec::new(),
        };
        const PRIVATE: [&str; 6] = ["d", "p", "q", "dp", "dq", "qi"];
        let has_private = list.iter().any(|k| PRIVATE.iter().any(|m| k.get(*m).is_some()));
        let symmetric = list.iter().filter(|k| k.get("kty").and_then(Value::as_str) == Some("oct")).count();
        if has_private || (symmetric > 0 && symmetric < list.len()) {
            return Self::default();
        }
        let mut kids: Vec<&str> = list.iter().filter_map(|k| k.get("kid").and_then(Value::as_str)).collect();
        kids.sort_unstable();
        let ambiguous: Vec<String> = kids.windows(2).filter(|w| w[0] == w[1]).map(|w| w[0].to_owned()).collect();
        let mut keys = Vec::new();
        for v in list {
            let Ok(jwk) = serde_json::from_value::<Jwk>(v.clone()) else { continue };
            if !usable_for_signatures(&jwk) {
                continue;
            }
            match &jwk.algorithm {
                AlgorithmParameters::OctetKey(_) if !allow_symmetric => continue,
                AlgorithmParameters::RSA(rsa) if roca_fingerprint(&rsa.n) => continue,
                _ => {}
            }
            let Some(alg) = alg_from_key(&jwk) else { continue };
            if let AlgorithmParameters::OctetKey(oct) = &jwk.algorithm {
                let min = match alg {
                    Algorithm::HS384 => 48,
                    Algorithm::HS512 => 64,
                    _ => 32,
                };
                if STRICT_B64URL.decode(&oct.value).map_or(true, |k| k.len() < min) {
                    continue;
                }
            }
            let Ok(key) = DecodingKey::from_jwk(&jwk) else { continue };
            if jwk.common.key_id.as_ref().is_some_and(|k| ambiguous.contains(k)) {
                continue;
            }
            keys.push(PinnedKey { kid: jwk.common.key_id.clone(), alg, key });
        }
        Self { keys, ambiguous }
    }

    /// How many keys are usable.
    pub fn len(&self) -> usize {
        self.keys.len()
    }

    /// Whether no key is usable.
    pub fn is_empty(&self) -> bool {
        self.keys.is_empty()
    }

    /// Whether a key with this `kid` exists.
    pub fn has_kid(&self, kid: &str) -> bool {
        self.keys.iter().any(|k| k.kid.as_deref() == Some(kid))
    }

    /// Verify a compact JWS and return its header and payload.
    pub fn verify(&self, token: &str) -> Result<Verified, JoseError> {
        let (header, payload, signing_input, signature) = split(token)?;
        if header.contains_key("crit") {
            return Err(JoseError::Critical);
        }
        let alg = header.get("alg").and_then(Value::as_str).ok_or(JoseError::Malformed)?;
        let kid = match header.get("kid") {
            None => None,
            Some(Value::String(k)) => Some(k.as_str()),
            Some(_) => return Err(JoseError::Malformed),
        };
        let key = match kid {
            Some(k) if self.ambiguous.iter().any(|a| a == k) => return Err(JoseError::AmbiguousKey),
            Some(k) => {
                let mut matching = self.keys.iter().filter(|key| key.kid.as_deref() == Some(k));
                match (matching.next(), matching.next()) {
                    (Some(one), None) => one,
                    // Two keys under one kid: which one signed is not well defined; refuse.
                    (Some(_), Some(_)) => return Err(JoseError::AmbiguousKey),
                    (None, _) => return Err(JoseError::UnknownKid(Some(k.to_owned()))),
                }
            }
            None => match self.keys.as_slice() {
                [] => return Err(JoseError::UnknownKid(None)),
                [only] => only,
                _ => return Err(JoseError::AmbiguousKey),
            },
        };
        if alg_name(key.alg) != alg {
            return Err(JoseError::WrongAlgorithm(alg.chars().take(16).collect()));
        }
        match jsonwebtoken::crypto::verify(signature, signing_input.as_bytes(), &key.key, key.alg) {
            Ok(true) => Ok(Verified { header, payload }),
            _ => Err(JoseError::BadSignature),
        }
    }
}

/// Whether an RSA modulus (base64url) carries the ROCA fingerprint (CVE-2017-15361): for every
/// small prime p of the test, n mod p lies in the subgroup generated by 65537.
fn roca_fingerprint(n_b64: &str) -> bool {
    const PRIMES: [u32; 38] = [
        3, 5, 7, 11, 13, 17, 19, 23, 29, 31, 37, 41, 43, 47, 53, 59, 61, 67, 71, 73, 79, 83, 89, 97, 101, 103, 107,
        109, 113, 127, 131, 137, 139, 149, 151, 157, 163, 167,
    ];
    let Ok(n) = STRICT_B64URL.decode(n_b64) else { return false };
    PRIMES.iter().all(|&p| {
        let r = n.iter().fold(0u32, |acc, &b| (acc * 256 + u32::from(b)) % p);
        let g = 65537 % p;
        let mut x = 1u32;
        for _ in 0..p {
            if x == r {
                return true;
            }
            x = x * g % p;
        }
        false
    })
}

/// The JOSE name of an algorithm.
pub fn alg_name(a: Algorithm) -> &'static str {
    match a {
        Algorithm::HS256 => "HS256",
        Algorithm::HS384 => "HS384",
        Algorithm::HS512 => "HS512",
        Algorithm::ES256 => "ES256",
        Algorithm::ES384 => "ES384",
        Algorithm::RS256 => "RS256",
        Algorithm::RS384 => "RS384",
        Algorithm::RS512 => "RS512",
        Algorithm::PS256 => "PS256",
        Algorithm::PS384 => "PS384",
        Algorithm::PS512 => "PS512",
        Algorithm::EdDSA => "EdDSA",
    }
}

/// Split a compact JWS strictly: three segments of canonical unpadded base64url, a JSON object
/// header. Returns (header, payload bytes, signing input, signature segment).
/// A split token: (header, payload bytes, signing input, signature segment).
type Parts<'a> = (Map<String, Value>, Vec<u8>, &'a str, &'a str);

fn split(token: &str) -> Result<Parts<'_>, JoseError> {
    if token.len() > 64 * 1024 {
        return Err(JoseError::Malformed);
    }
    let mut parts = token.split('.');
    let (Some(h), Some(p), Some(s), None) = (parts.next(), parts.next(), parts.next(), parts.next()) else {
        return Err(JoseError::Malformed);
    };
    let b64 = |seg: &str| -> Result<Vec<u8>, JoseError> {
        if !seg.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_') {
            return Err(JoseError::Malformed);
        }
        STRICT_B64URL.decode(seg).map_err(|_| JoseError::Malformed)
    };
    if h.is_empty() || s.is_empty() {
        return Err(JoseError::Malformed);
    }
    let header: Map<String, Value> = serde_json::from_slice(&b64(h)?).map_err(|_| JoseError::Malformed)?;
    let payload = b64(p)?;
    b64(s)?;
    let signing_input = &token[..h.len() + 1 + p.len()];
    Ok((header, payload, signing_input, s))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_without_a_single_pinned_algorithm_or_for_encryption_are_left_out() {
        let ec = |kid: &str, extra: Value| {
            let mut k = serde_json::json!({"kty": "EC", "crv": "P-256", "kid": kid,
                "x": "f83OJ3D2xF1Bg8vub9tLe1gHMzV76e8Tus9uPHvRVEU", "y": "x_FEzRu9m36HLN_tue659LNpXW6pCyStikYjKIWI5a0"});
            if let (Some(o), Some(e)) = (k.as_object_mut(), extra.as_object()) {
                o.extend(e.clone());
            }
            k
        };
        let doc = serde_json::json!({"keys": [
            ec("enc", serde_json::json!({"use": "enc"})),
            ec("wrongalg", serde_json::json!({"alg": "RS256"})),
            ec("ok", serde_json::json!({})),
            ec("twice", serde_json::json!({})),
            ec("twice", serde_json::json!({"alg": "ES256"})),
        ]});
        let keys = PinnedKeys::from_jwks(&doc, false);
        assert_eq!(keys.len(), 1);
        assert!(keys.has_kid("ok"));
        let twice = "eyJhbGciOiJFUzI1NiIsImtpZCI6InR3aWNlIn0.e30.AA";
        assert_eq!(keys.verify(twice).unwrap_err(), JoseError::AmbiguousKey);
        let mixed =
            serde_json::json!({"keys": [ec("ok", serde_json::json!({})), {"kty": "oct", "k": "AAAA", "alg": "HS256"}]});
        assert!(PinnedKeys::from_jwks(&mixed, true).is_empty(), "a mixed set is refused whole");
        let private = serde_json::json!({"keys": [ec("p", serde_json::json!({"d": "AAAA"}))]});
        assert!(PinnedKeys::from_jwks(&private, false).is_empty(), "private material is refused");
    }

    #[test]
    fn malformed_tokens_are_refused_without_panicking() {
        let keys = PinnedKeys::default();
        for t in ["", ".", "..", "a.b", "a.b.c.d", "e30.e30.", "e30=.e30.AA", "e30.e30.A?A", "W10.e30.AA"] {
            assert_eq!(keys.verify(t).unwrap_err(), JoseError::Malformed, "{t}");
        }
        assert!(matches!(keys.verify("e30.e30.AA"), Err(JoseError::Malformed)), "no alg");
    }
}
