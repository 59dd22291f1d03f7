//! JWT client assertions (RFC 7523 §3, OIDC Core §9): the algorithm pinned to the method and the
//! key (HS256 with the client secret for client_secret_jwt; RS256, PS256, ES256 or EdDSA with
//! the client's keys for private_key_jwt; never `none`), `iss` = `sub` = client id, an `aud`
//! naming braid, a short life, and a `jti` used once across every replica.

use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::ExposeSecret;
use serde_json::{Map, Value};

use super::keys::{self, ClientKey};
use super::{AuthMethod, invalid_client};
use crate::error::AppError;
use crate::issuer::clients::{Client, ClientSecret};
use crate::state::AppState;

/// The longest life an assertion may claim (`exp` at most this far ahead), in seconds. An hour:
/// Authlib's default (an RP library in wide use); its `jti` is kept as long, so a replay is
/// refused for the assertion's whole life.
pub const MAX_LIFETIME_SECS: i64 = 3600;
/// Clock difference tolerated on `exp`, `iat` and `nbf`, in seconds.
pub const SKEW_SECS: i64 = 30;
/// The longest `jti` taken.
const MAX_JTI: usize = 256;

const ASYMMETRIC: &[Algorithm] = &[Algorithm::RS256, Algorithm::PS256, Algorithm::ES256, Algorithm::EdDSA];

/// The method an assertion uses, from its header's `alg`: HS256 is client_secret_jwt, the
/// asymmetric algorithms braid takes are private_key_jwt; anything else is refused.
pub fn method_of(jwt: &str) -> Result<AuthMethod, AppError> {
    let header = jsonwebtoken::decode_header(jwt)
        .map_err(|_| invalid_client("the client assertion is not a signed JWT braid accepts (alg none?)"))?;
    match header.alg {
        Algorithm::HS256 => Ok(AuthMethod::ClientSecretJwt),
        a if ASYMMETRIC.contains(&a) => Ok(AuthMethod::PrivateKeyJwt),
        a => Err(invalid_client(&format!("client assertions signed with {a:?} are not accepted"))),
    }
}

/// The store key of a used `jti` of `client`.
fn jti_key(client: &str, jti: &str) -> String {
    format!("cjti:{}", crate::ids::sha256_b64(format!("{client}\n{jti}").as_bytes()))
}

/// Verify `jwt` as `client`'s assertion with `method` at `endpoint`; on success its `jti` is
/// recorded so it can never be used again. Nothing is recorded on a refusal.
pub async fn verify(
    state: &AppState,
    client: &Client,
    method: AuthMethod,
    jwt: &str,
    endpoint: &str,
) -> Result<(), AppError> {
    let header = jsonwebtoken::decode_header(jwt).map_err(|_| invalid_client("the client assertion is malformed"))?;
    let candidates: Vec<DecodingKey> = match method {
        AuthMethod::ClientSecretJwt => match (&client.secret, header.alg) {
            (Some(ClientSecret::Plain(s)), Algorithm::HS256) => {
                vec![DecodingKey::from_secret(s.expose_secret().as_bytes())]
            }
            _ => return Err(invalid_client("this client cannot use client_secret_jwt")),
        },
        AuthMethod::PrivateKeyJwt => {
            let Some(keys) = client.jwks.as_deref() else {
                return Err(invalid_client("this client has no keys registered"));
            };
            if !ASYMMETRIC.contains(&header.alg) {
                return Err(invalid_client("private_key_jwt assertions must use RS256, PS256, ES256 or EdDSA"));
            }
            let found = keys::candidates(keys, &state.http, state.clock.now_ms(), header.kid.as_deref(), header.alg)
                .await
                .map_err(|e| invalid_client(&e))?;
            found.into_iter().map(|k: ClientKey| k.key).collect()
        }
        _ => return Err(invalid_client("not an assertion method")),
    };
    if candidates.is_empty() {
        return Err(invalid_client("no registered key of this client matches the assertion's kid and alg"));
    }
    let mut v = Validation::new(header.alg);
    v.validate_exp = false; // checked below against braid's clock
    v.validate_nbf = false;
    v.validate_aud = false;
    v.set_required_spec_claims::<&str>(&[]);
    let claims = candidates
        .iter()
        .find_map(|k| jsonwebtoken::decode::<Map<String, Value>>(jwt, k, &v).ok())
        .ok_or_else(|| invalid_client("the client assertion's signature does not verify"))?
        .claims;
    let (jti, exp) = check_claims(&claims, &client.id, &state.issuer, endpoint, state.clock.now_secs())?;
    let ttl = u64::try_from(exp - state.clock.now_secs() + SKEW_SECS).unwrap_or(1).max(1);
    let fresh = state.records.store().put_new(&jti_key(&client.id, jti), b"1", Duration::from_secs(ttl)).await?;
    if !fresh {
        tracing::warn!(client = %client.id, "client assertion replayed; refused");
        return Err(invalid_client("this client assertion was already used (jti)"));
    }
    Ok(())
}

/// Check the claims of a verified assertion at `now` (seconds); returns its `jti` and `exp`.
fn check_claims<'a>(
    claims: &'a Map<String, Value>,
    client_id: &str,
    issuer: &str,
    endpoint: &str,
    now: i64,
) -> Result<(&'a str, i64), AppError> {
    let s = |k: &str| claims.get(k).and_then(Value::as_str);
    if s("iss") != Some(client_id) || s("sub") != Some(client_id) {
        return Err(invalid_client("the client assertion's iss and sub must both be the client_id"));
    }
    let token_endpoint = format!("{issuer}{}", crate::routes::TOKEN);
    let ours = |a: &str| a == issuer || a == token_endpoint || a == endpoint;
    let aud_ok = match claims.get("aud") {
        Some(Value::String(a)) => ours(a),
        Some(Value::Array(list)) => list.iter().filter_map(Value::as_str).any(ours),
        _ => false,
    };
    if !aud_ok {
        return Err(invalid_client("the client assertion's aud must name braid's issuer or its token endpoint"));
    }
    let exp =
        claims.get("exp").and_then(Value::as_i64).ok_or_else(|| invalid_client("the client assertion has no exp"))?;
    if exp <= now - SKEW_SECS {
        return Err(invalid_client("the client assertion has expired"));
    }
    if exp > now + MAX_LIFETIME_SECS + SKEW_SECS {
        return Err(invalid_client(&format!("the client assertion may live at most {MAX_LIFETIME_SECS} seconds")));
    }
    for k in ["iat", "nbf"] {
        match claims.get(k) {
            None => {}
            Some(t) if t.as_i64().is_some_and(|t| t <= now + SKEW_SECS) => {}
            Some(_) => return Err(invalid_client(&format!("the client assertion's {k} is in the future"))),
        }
    }
    let jti = s("jti").filter(|j| !j.is_empty() && j.len() <= MAX_JTI);
    let jti = jti.ok_or_else(|| invalid_client("the client assertion needs a jti (1-256 characters)"))?;
    Ok((jti, exp))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn claims(v: Value) -> Map<String, Value> {
        v.as_object().cloned().unwrap()
    }

    const I: &str = "https://braid.example";

    #[test]
    fn claims_are_checked_one_by_one() {
        let ok = json!({"iss": "c", "sub": "c", "aud": I, "exp": 1100, "jti": "j"});
        assert!(check_claims(&claims(ok.clone()), "c", I, "x", 1000).is_ok());
        let with = |k: &str, v: Value| {
            let mut c = claims(ok.clone());
            c.insert(k.into(), v);
            check_claims(&c, "c", I, "https://braid.example/par", 1000).is_ok()
        };
        assert!(with("aud", json!(["x", "https://braid.example/token"])));
        assert!(with("aud", json!("https://braid.example/par")));
        assert!(!with("aud", json!("https://other")));
        assert!(!with("iss", json!("d")));
        assert!(!with("sub", json!("d")));
        assert!(!with("exp", json!(960)));
        assert!(!with("exp", json!(1000 + MAX_LIFETIME_SECS + SKEW_SECS + 1)));
        assert!(!with("iat", json!(1100)));
        assert!(!with("jti", json!("")));
        assert!(!with("jti", json!(5)));
    }
}
