//! JWTs braid issues and checks: signing with the parsed current key (no key parsing on the hot
//! path), and verification of braid's own tokens with the algorithm pinned per `kid`.

use std::collections::HashMap;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde_json::{Value, json};

use super::keys::{KeyError, SigningKey};

/// `typ` of access tokens (RFC 9068).
pub const TYP_ACCESS: &str = "at+jwt";
/// `typ` of ID tokens.
pub const TYP_ID: &str = "JWT";

/// Sign `claims` with `key`, with `typ` in the header.
pub fn sign(key: &SigningKey, typ: &str, claims: &Value) -> Result<String, KeyError> {
    let header = json!({ "alg": key.alg.as_str(), "kid": key.kid, "typ": typ });
    let mut out = String::with_capacity(1024);
    out.push_str(&URL_SAFE_NO_PAD.encode(header.to_string()));
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(claims.to_string()));
    let sig = key.sign(out.as_bytes())?;
    out.push('.');
    out.push_str(&URL_SAFE_NO_PAD.encode(sig));
    Ok(out)
}

/// Why a token of braid's was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum VerifyError {
    /// Not a well-formed, correctly signed JWT from one of braid's keys.
    #[error("invalid token")]
    Invalid,
    /// Well formed but of the wrong `typ`.
    #[error("wrong token type")]
    WrongType,
    /// Past its `exp`.
    #[error("token expired")]
    Expired,
}

/// Verify a token braid signed: known `kid`, algorithm pinned to that key, `iss`, `typ`, and
/// `exp` against `now` (seconds, from the `Clock`). Returns the claims.
pub fn verify(
    token: &str,
    keys: &HashMap<String, (jsonwebtoken::DecodingKey, jsonwebtoken::Algorithm)>,
    issuer: &str,
    typ: &str,
    now: i64,
) -> Result<serde_json::Map<String, Value>, VerifyError> {
    let header = jsonwebtoken::decode_header(token).map_err(|_| VerifyError::Invalid)?;
    let kid = header.kid.as_deref().ok_or(VerifyError::Invalid)?;
    let (key, alg) = keys.get(kid).ok_or(VerifyError::Invalid)?;
    if header.alg != *alg {
        return Err(VerifyError::Invalid);
    }
    let mut v = jsonwebtoken::Validation::new(*alg);
    v.validate_exp = false; // checked below against braid's clock
    v.validate_nbf = false;
    v.validate_aud = false;
    v.set_required_spec_claims(&["exp", "iss", "sub"]);
    v.set_issuer(&[issuer]);
    let data =
        jsonwebtoken::decode::<serde_json::Map<String, Value>>(token, key, &v).map_err(|_| VerifyError::Invalid)?;
    if data.header.typ.as_deref().map(str::to_ascii_lowercase) != Some(typ.to_ascii_lowercase()) {
        return Err(VerifyError::WrongType);
    }
    let exp = data.claims.get("exp").and_then(Value::as_i64).ok_or(VerifyError::Invalid)?;
    if exp <= now {
        return Err(VerifyError::Expired);
    }
    Ok(data.claims)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::SigningAlg;
    use crate::issuer::keys::KeySet;

    fn setup(alg: SigningAlg) -> (tempfile::TempDir, KeySet) {
        let dir = tempfile::tempdir().unwrap();
        let keys = KeySet::load_or_generate(dir.path(), alg).unwrap();
        (dir, keys)
    }

    #[test]
    fn signed_tokens_verify_with_every_algorithm() {
        for alg in [SigningAlg::RS256, SigningAlg::ES256, SigningAlg::EdDSA] {
            let (_d, keys) = setup(alg);
            let t = sign(keys.current(), TYP_ACCESS, &json!({"iss": "https://i", "sub": "a", "exp": 100})).unwrap();
            let claims = verify(&t, &keys.decoding_keys(), "https://i", TYP_ACCESS, 99).unwrap();
            assert_eq!(claims["sub"], "a");
        }
    }

    #[test]
    fn verification_refuses_expiry_wrong_type_issuer_and_tampering() {
        let (_d, keys) = setup(SigningAlg::RS256);
        let dk = keys.decoding_keys();
        let t = sign(keys.current(), TYP_ACCESS, &json!({"iss": "https://i", "sub": "a", "exp": 100})).unwrap();
        assert_eq!(verify(&t, &dk, "https://i", TYP_ACCESS, 100), Err(VerifyError::Expired));
        assert_eq!(verify(&t, &dk, "https://i", TYP_ID, 1), Err(VerifyError::WrongType));
        assert_eq!(verify(&t, &dk, "https://other", TYP_ACCESS, 1), Err(VerifyError::Invalid));
        let mut parts: Vec<&str> = t.split('.').collect();
        let forged = URL_SAFE_NO_PAD.encode(json!({"iss": "https://i", "sub": "b", "exp": 100}).to_string());
        parts[1] = &forged;
        assert_eq!(verify(&parts.join("."), &dk, "https://i", TYP_ACCESS, 1), Err(VerifyError::Invalid));
        let none = format!(
            "{}.{}.",
            URL_SAFE_NO_PAD.encode(json!({"alg": "none", "kid": keys.current().kid, "typ": "at+jwt"}).to_string()),
            forged
        );
        assert_eq!(verify(&none, &dk, "https://i", TYP_ACCESS, 1), Err(VerifyError::Invalid));
    }
}
