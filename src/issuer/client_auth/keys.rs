//! The public keys of private_key_jwt clients: an inline JWK Set, or one fetched from the
//! client's `jwks_uri` (bounded time and size, cached, fetched again when a key id is unknown but
//! at most once every [`REFETCH_AFTER_SECS`]). Each key is pinned to the algorithms of its type.

use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, DecodingKey};
use serde_json::Value;

/// A fetched key set is used this long before it is fetched again.
pub const CACHE_SECS: i64 = 300;
/// An unknown key id fetches the set again only if the last fetch is at least this old.
pub const REFETCH_AFTER_SECS: i64 = 30;
/// Time a `jwks_uri` fetch may take.
pub const FETCH_TIMEOUT: Duration = Duration::from_secs(5);
/// The most keys braid keeps of one set.
const MAX_KEYS: usize = 20;

/// One verification key of a client.
#[derive(Clone)]
pub struct ClientKey {
    /// `kid`, if the JWK has one.
    pub kid: Option<String>,
    /// The algorithms this key may verify.
    pub algs: Vec<Algorithm>,
    /// The key.
    pub key: DecodingKey,
}

impl std::fmt::Debug for ClientKey {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientKey").field("kid", &self.kid).field("algs", &self.algs).finish()
    }
}

/// Where a private_key_jwt client's keys come from.
#[derive(Debug)]
pub enum ClientKeys {
    /// `jwks`, parsed once.
    Inline(Vec<ClientKey>),
    /// `jwks_uri`, with the last fetch.
    Remote {
        /// The URL.
        uri: String,
        /// The keys and when (ms) they were fetched.
        cache: tokio::sync::Mutex<Option<(Vec<ClientKey>, i64)>>,
    },
}

impl ClientKeys {
    /// Keys fetched from `uri` when first needed.
    pub fn remote(uri: &str) -> Self {
        Self::Remote { uri: uri.to_owned(), cache: tokio::sync::Mutex::new(None) }
    }
}

fn b64_len(v: &Value, member: &str) -> Result<usize, String> {
    let s = v.get(member).and_then(Value::as_str).ok_or_else(|| format!("`{member}` is missing"))?;
    URL_SAFE_NO_PAD.decode(s).map(|b| b.len()).map_err(|_| format!("`{member}` is not base64url"))
}

fn b64_bytes(v: &Value, member: &str) -> Result<Vec<u8>, String> {
    let s = v.get(member).and_then(Value::as_str).ok_or_else(|| format!("`{member}` is missing"))?;
    URL_SAFE_NO_PAD.decode(s).map_err(|_| format!("`{member}` is not base64url"))
}

/// Parse one JWK; `Ok(None)` for a key not meant for signatures (`use` other than `sig`).
pub fn parse_jwk(v: &Value) -> Result<Option<ClientKey>, String> {
    if !v.is_object() {
        return Err("a key must be a JSON object".into());
    }
    if v.get("use").is_some_and(|u| u != "sig") {
        return Ok(None);
    }
    for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
        if v.get(private).is_some() {
            return Err(format!("holds private or secret key material (`{private}`); publish only public keys"));
        }
    }
    let kty = v.get("kty").and_then(Value::as_str).unwrap_or_default();
    let crv = v.get("crv").and_then(Value::as_str).unwrap_or_default();
    let (algs, key) = match kty {
        "RSA" => {
            let n = b64_bytes(v, "n")?;
            let bits = n.iter().skip_while(|b| **b == 0).count() * 8;
            if bits < 2048 {
                return Err(format!("an RSA key must have at least 2048 bits, this one has about {bits}"));
            }
            b64_len(v, "e")?;
            let (n, e) = (v["n"].as_str().unwrap_or_default(), v["e"].as_str().unwrap_or_default());
            (
                vec![Algorithm::RS256, Algorithm::PS256],
                DecodingKey::from_rsa_components(n, e).map_err(|e| e.to_string())?,
            )
        }
        "EC" if crv == "P-256" => {
            if b64_len(v, "x")? != 32 || b64_len(v, "y")? != 32 {
                return Err("a P-256 key has 32-byte `x` and `y`".into());
            }
            let (x, y) = (v["x"].as_str().unwrap_or_default(), v["y"].as_str().unwrap_or_default());
            (vec![Algorithm::ES256], DecodingKey::from_ec_components(x, y).map_err(|e| e.to_string())?)
        }
        "OKP" if crv == "Ed25519" => {
            if b64_len(v, "x")? != 32 {
                return Err("an Ed25519 key has a 32-byte `x`".into());
            }
            let x = v["x"].as_str().unwrap_or_default();
            (vec![Algorithm::EdDSA], DecodingKey::from_ed_components(x).map_err(|e| e.to_string())?)
        }
        "EC" | "OKP" => return Err(format!("curve `{crv}` is not supported (P-256 for EC, Ed25519 for OKP)")),
        "oct" => return Err("symmetric keys are not accepted; client_secret_jwt uses the client secret".into()),
        other => return Err(format!("key type `{other}` is not supported (RSA, EC P-256, OKP Ed25519)")),
    };
    let algs = match v.get("alg") {
        None => algs,
        Some(a) => {
            let named = a.as_str().and_then(|a| a.parse::<Algorithm>().ok()).filter(|a| algs.contains(a));
            match named {
                Some(a) => vec![a],
                None => return Err(format!("`alg` {a} does not fit a `{kty}` key braid verifies")),
            }
        }
    };
    let kid = v.get("kid").and_then(Value::as_str).map(str::to_owned);
    Ok(Some(ClientKey { kid, algs, key }))
}

/// Parse a JWK Set strictly (configuration): every key must be usable.
pub fn parse_set(set: &Value) -> Result<Vec<ClientKey>, String> {
    let keys = set.get("keys").and_then(Value::as_array).ok_or("a JWK Set is an object with a `keys` array")?;
    if keys.len() > MAX_KEYS {
        return Err(format!("at most {MAX_KEYS} keys"));
    }
    let mut out = Vec::new();
    for (i, k) in keys.iter().enumerate() {
        if let Some(key) = parse_jwk(k).map_err(|e| format!("keys[{i}]: {e}"))? {
            out.push(key);
        }
    }
    if out.is_empty() {
        return Err("the set holds no signing key".into());
    }
    Ok(out)
}

/// Parse a fetched JWK Set leniently: keys braid cannot use are skipped (and logged).
fn parse_fetched(set: &Value, uri: &str) -> Vec<ClientKey> {
    let keys = set.get("keys").and_then(Value::as_array).map(Vec::as_slice).unwrap_or_default();
    keys.iter()
        .take(MAX_KEYS)
        .filter_map(|k| match parse_jwk(k) {
            Ok(k) => k,
            Err(e) => {
                tracing::warn!(jwks_uri = %uri, reason = %e, "client key skipped");
                None
            }
        })
        .collect()
}

/// The keys of `keys` that may verify `alg` with `kid` (any `kid` when the assertion has none).
fn matching(keys: &[ClientKey], kid: Option<&str>, alg: Algorithm) -> Vec<ClientKey> {
    keys.iter()
        .filter(|k| k.algs.contains(&alg) && kid.is_none_or(|kid| k.kid.as_deref() == Some(kid)))
        .cloned()
        .collect()
}

/// The candidate keys for an assertion with `kid` and `alg`, fetching the remote set when it is
/// missing, stale, or lacks the key (not more often than [`REFETCH_AFTER_SECS`]).
pub async fn candidates(
    keys: &ClientKeys,
    http: &reqwest::Client,
    now_ms: i64,
    kid: Option<&str>,
    alg: Algorithm,
) -> Result<Vec<ClientKey>, String> {
    let (uri, cache) = match keys {
        ClientKeys::Inline(k) => return Ok(matching(k, kid, alg)),
        ClientKeys::Remote { uri, cache } => (uri, cache),
    };
    let mut guard = cache.lock().await;
    let age = guard.as_ref().map(|(_, at)| now_ms.saturating_sub(*at));
    if let (Some((k, _)), Some(age)) = (guard.as_ref(), age) {
        let found = matching(k, kid, alg);
        if age < CACHE_SECS * 1000 && (!found.is_empty() || age < REFETCH_AFTER_SECS * 1000) {
            return Ok(found);
        }
    }
    let fetched = crate::upstream::http::json(http.get(uri.as_str()).timeout(FETCH_TIMEOUT)).await;
    match fetched {
        Ok(set) => {
            let k = parse_fetched(&set, uri);
            let found = matching(&k, kid, alg);
            *guard = Some((k, now_ms));
            Ok(found)
        }
        Err(e) => {
            tracing::warn!(jwks_uri = %uri, error = %e, "client jwks_uri could not be fetched");
            Err(format!("the client's jwks_uri could not be fetched: {e}"))
        }
    }
}
