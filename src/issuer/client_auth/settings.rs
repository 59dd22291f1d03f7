//! The client-authentication keys of a client registration (`[[clients]]` of `braid.toml` and
//! the admin catalog's client JSON): `token_endpoint_auth_method`, `jwks`, `jwks_uri`, checked
//! together, and the keys they give.

use std::sync::Arc;

use serde_json::Value;

use super::AuthMethod;
use super::keys::{ClientKeys, parse_set};

/// What a registration says about client authentication.
#[derive(Debug, Clone, Copy)]
pub struct Registration<'a> {
    /// `token_endpoint_auth_method`, if given.
    pub method: Option<AuthMethod>,
    /// Whether the client has a secret.
    pub has_secret: bool,
    /// Whether braid keeps only the secret's SHA-256 (catalog clients).
    pub secret_hashed: bool,
    /// `jwks`.
    pub jwks: Option<&'a Value>,
    /// `jwks_uri`.
    pub jwks_uri: Option<&'a str>,
}

/// `jwks` as given: a JWK Set object, or a string holding one as JSON.
pub fn jwks_value(v: &Value) -> Result<Value, String> {
    match v {
        Value::String(s) => serde_json::from_str(s).map_err(|e| format!("not a JSON JWK Set: {e}")),
        other => Ok(other.clone()),
    }
}

/// The problems of a registration, each with the key it is about.
pub fn check(r: &Registration<'_>) -> Vec<(&'static str, String)> {
    let mut out = Vec::new();
    let method = r.method.unwrap_or(if r.has_secret { AuthMethod::ClientSecretBasic } else { AuthMethod::None });
    let m = method.as_str();
    match method {
        AuthMethod::ClientSecretBasic | AuthMethod::ClientSecretPost if !r.has_secret => {
            out.push(("token_endpoint_auth_method", format!("{m} needs a client secret")));
        }
        AuthMethod::ClientSecretJwt if r.secret_hashed => out.push((
            "token_endpoint_auth_method",
            "client_secret_jwt is not available here: braid keeps only a SHA-256 of this client's secret, which \
             cannot verify an HS256 assertion (use private_key_jwt, or define the client in braid.toml)"
                .into(),
        )),
        AuthMethod::ClientSecretJwt if !r.has_secret => {
            out.push(("token_endpoint_auth_method", "client_secret_jwt needs a client secret".into()));
        }
        AuthMethod::PrivateKeyJwt | AuthMethod::None if r.has_secret && !r.secret_hashed => {
            out.push(("token_endpoint_auth_method", format!("a {m} client has no secret: remove `secret`")));
        }
        _ => {}
    }
    match (method, r.jwks, r.jwks_uri) {
        (AuthMethod::PrivateKeyJwt, None, None) => {
            out.push(("jwks", "private_key_jwt needs the client's public keys: give `jwks` or `jwks_uri`".into()));
        }
        (AuthMethod::PrivateKeyJwt, Some(_), Some(_)) => {
            out.push(("jwks_uri", "give `jwks` or `jwks_uri`, not both".into()));
        }
        (AuthMethod::PrivateKeyJwt, _, _) => {}
        (_, Some(_), _) => out.push(("jwks", format!("keys are used only with private_key_jwt, not {m}"))),
        (_, _, Some(_)) => out.push(("jwks_uri", format!("keys are used only with private_key_jwt, not {m}"))),
        _ => {}
    }
    if let Some(j) = r.jwks {
        if let Err(e) = jwks_value(j).and_then(|v| parse_set(&v)) {
            out.push(("jwks", e));
        }
    }
    if let Some(u) = r.jwks_uri {
        match url::Url::parse(u) {
            Ok(p) if matches!(p.scheme(), "https" | "http") => {
                if let Err(e) = crate::config::check_redirect_uri(u) {
                    out.push(("jwks_uri", e));
                }
            }
            _ => out.push(("jwks_uri", format!("`{u}` must be an https URL"))),
        }
    }
    out
}

/// The keys of a checked registration (`None` unless private_key_jwt).
pub fn keys(r: &Registration<'_>) -> Result<Option<Arc<ClientKeys>>, String> {
    if let Some(j) = r.jwks {
        let set = jwks_value(j).and_then(|v| parse_set(&v))?;
        return Ok(Some(Arc::new(ClientKeys::Inline(set))));
    }
    Ok(r.jwks_uri.map(|u| Arc::new(ClientKeys::remote(u))))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn reg(method: Option<AuthMethod>, has_secret: bool) -> Registration<'static> {
        Registration { method, has_secret, secret_hashed: false, jwks: None, jwks_uri: None }
    }

    #[test]
    fn methods_need_what_they_use() {
        assert!(check(&reg(None, true)).is_empty());
        assert!(check(&reg(None, false)).is_empty());
        assert_eq!(check(&reg(Some(AuthMethod::ClientSecretPost), false))[0].0, "token_endpoint_auth_method");
        assert_eq!(check(&reg(Some(AuthMethod::PrivateKeyJwt), false))[0].0, "jwks");
        assert_eq!(check(&reg(Some(AuthMethod::None), true))[0].0, "token_endpoint_auth_method");
        let hashed = Registration { secret_hashed: true, ..reg(Some(AuthMethod::ClientSecretJwt), true) };
        assert!(check(&hashed)[0].1.contains("SHA-256"));
        let both_keys = json!({"keys": []});
        let r = Registration {
            jwks: Some(&both_keys),
            jwks_uri: Some("https://a/j"),
            ..reg(Some(AuthMethod::PrivateKeyJwt), false)
        };
        assert!(check(&r).iter().any(|(k, e)| *k == "jwks_uri" && e.contains("not both")));
        let r =
            Registration { jwks_uri: Some("http://app.example/jwks"), ..reg(Some(AuthMethod::PrivateKeyJwt), false) };
        assert!(check(&r)[0].1.contains("https"));
        let r =
            Registration { jwks_uri: Some("http://127.0.0.1:8/jwks"), ..reg(Some(AuthMethod::PrivateKeyJwt), false) };
        assert!(check(&r).is_empty());
        let r = Registration { jwks_uri: Some("https://a/j"), ..reg(None, true) };
        assert!(check(&r)[0].1.contains("only with private_key_jwt"));
    }

    #[test]
    fn inline_keys_must_be_public_and_usable() {
        let secret = json!({"keys": [{"kty": "oct", "k": "AAAA"}]});
        let private = json!({"keys": [{"kty": "EC", "crv": "P-256", "x": "", "y": "", "d": "x"}]});
        let small = json!({"keys": [{"kty": "RSA", "n": "AQAB", "e": "AQAB"}]});
        let curve = json!({"keys": [{"kty": "EC", "crv": "P-384", "x": "", "y": ""}]});
        for (set, words) in [(secret, "private or secret"), (private, "private"), (small, "2048"), (curve, "P-384")] {
            let r = Registration { jwks: Some(&set), ..reg(Some(AuthMethod::PrivateKeyJwt), false) };
            let problems = check(&r);
            assert!(problems.iter().any(|(k, e)| *k == "jwks" && e.contains(words)), "{problems:?}");
        }
        let text = json!("{not json");
        let r = Registration { jwks: Some(&text), ..reg(Some(AuthMethod::PrivateKeyJwt), false) };
        assert!(check(&r)[0].1.contains("not a JSON JWK Set"));
    }
}
