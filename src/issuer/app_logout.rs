//! Telling applications that a session or an account ended: each client's logout endpoints
//! (OIDC Back-Channel Logout 1.0 and Front-Channel Logout 1.0), the `sub` a client sees, and
//! the signed logout token. Tokens leave from the durable outbox ([`crate::notify::logout_outbox`]);
//! the front-channel page is [`crate::issuer::frontchannel`].

use serde_json::{Value, json};

use super::clients::Client;
use super::keys::{KeyError, SigningKey};
use crate::accounts::AccountId;

/// `typ` of logout tokens (Back-Channel Logout 1.0 §2.4).
pub const TYP_LOGOUT: &str = "logout+jwt";
/// The event a logout token carries.
pub const EVENT: &str = "http://schemas.openid.net/event/backchannel-logout";
/// How long a logout token is valid, in seconds (it is signed again at every attempt).
pub const TOKEN_TTL_SECS: i64 = 120;

/// A client's logout endpoints: the same keys in `[[clients]]` and the admin catalog's client JSON.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ClientLogout {
    /// Where braid POSTs logout tokens.
    pub backchannel_logout_uri: Option<String>,
    /// The client requires `sid` in every logout token.
    pub backchannel_logout_session_required: bool,
    /// What braid's logout page loads in an invisible iframe.
    pub frontchannel_logout_uri: Option<String>,
    /// The client requires `iss` and `sid` on its front-channel logout URI.
    pub frontchannel_logout_session_required: bool,
}

impl ClientLogout {
    /// Check both URIs (absolute, no fragment, https except on loopback): `(key, reason)`.
    pub fn check(&self) -> Result<(), (&'static str, String)> {
        if let Some(u) = &self.backchannel_logout_uri {
            crate::config::check_redirect_uri(u).map_err(|r| ("backchannel_logout_uri", r))?;
        }
        if let Some(u) = &self.frontchannel_logout_uri {
            crate::config::check_redirect_uri(u).map_err(|r| ("frontchannel_logout_uri", r))?;
        }
        Ok(())
    }

    /// The origin (`scheme://host[:port]`) of the front-channel URI, for `frame-src`.
    pub fn frontchannel_origin(&self) -> Option<String> {
        let u = url::Url::parse(self.frontchannel_logout_uri.as_deref()?).ok()?;
        Some(u.origin().ascii_serialization()).filter(|o| o != "null")
    }
}

impl crate::config::ClientSettings {
    /// The client's logout endpoints.
    pub fn logout(&self) -> ClientLogout {
        ClientLogout {
            backchannel_logout_uri: self.backchannel_logout_uri.clone(),
            backchannel_logout_session_required: self.backchannel_logout_session_required,
            frontchannel_logout_uri: self.frontchannel_logout_uri.clone(),
            frontchannel_logout_session_required: self.frontchannel_logout_session_required,
        }
    }
}

/// The `sub` that `client` sees for `account` (pairwise or the account id), as in its tokens.
pub fn subject_for(keys: &super::keyring::KeyRing, client: &Client, account: &AccountId) -> String {
    super::shape::subject_with(keys, &client.token_shape, account.as_str())
}

/// The claims of a logout token for `client`: `sub`, and `sid` when the logout is of one session.
pub fn claims(issuer: &str, client_id: &str, sub: &str, sid: Option<&str>, jti: &str, now: i64) -> Value {
    let mut c = json!({
        "iss": issuer, "aud": client_id, "iat": now, "exp": now + TOKEN_TTL_SECS, "jti": jti,
        "sub": sub, "events": { EVENT: {} },
    });
    if let (Some(sid), Some(o)) = (sid, c.as_object_mut()) {
        o.insert("sid".into(), json!(sid));
    }
    c
}

/// Sign a logout token with braid's current key (as ID tokens are signed).
pub fn sign(key: &SigningKey, claims: &Value) -> Result<String, KeyError> {
    super::jwt::sign(key, TYP_LOGOUT, claims)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_logout_token_has_the_event_no_nonce_and_sid_only_for_a_session() {
        let c = claims("https://i", "app", "acc", Some("s1"), "j", 100);
        assert_eq!(c["events"][EVENT], json!({}));
        assert_eq!(c["sid"], "s1");
        assert_eq!(c["exp"], 100 + TOKEN_TTL_SECS);
        assert!(c.get("nonce").is_none());
        assert!(claims("https://i", "app", "acc", None, "j", 100).get("sid").is_none());
    }

    #[test]
    fn logout_uris_are_checked_like_redirect_uris() {
        let mut l =
            ClientLogout { backchannel_logout_uri: Some("http://app.example/bcl".into()), ..Default::default() };
        assert_eq!(l.check().unwrap_err().0, "backchannel_logout_uri");
        l.backchannel_logout_uri = Some("https://app.example/bcl".into());
        l.frontchannel_logout_uri = Some("https://app.example:8443/fcl?x=1".into());
        assert!(l.check().is_ok());
        assert_eq!(l.frontchannel_origin().as_deref(), Some("https://app.example:8443"));
    }
}
