//! The `claims` authorization request parameter (OIDC Core 5.5): the individual claims a client
//! asks for in the ID token and at `/userinfo`, returned whatever the scope. braid answers the
//! claims it knows ([`REQUESTABLE`]); others, `essential` and `value(s)` are ignored (5.5.1).

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// The claims a client may ask for by name.
pub const REQUESTABLE: &[&str] = &["email", "email_verified", "name", "preferred_username"];

/// The claims asked for, by where they go.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClaimsRequest {
    /// Claims for the ID token.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub id_token: Vec<String>,
    /// Claims for `/userinfo`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub userinfo: Vec<String>,
}

impl ClaimsRequest {
    /// Nothing asked for.
    pub fn is_empty(&self) -> bool {
        self.id_token.is_empty() && self.userinfo.is_empty()
    }

    /// Parse the parameter's JSON; `Err` names what is wrong (answered as `invalid_request`).
    pub fn parse(text: &str) -> Result<Self, &'static str> {
        let doc: Value = serde_json::from_str(text).map_err(|_| "claims is not valid JSON")?;
        let obj = doc.as_object().ok_or("claims must be a JSON object")?;
        let members = |name: &str| -> Result<Vec<String>, &'static str> {
            match obj.get(name) {
                None | Some(Value::Null) => Ok(Vec::new()),
                Some(Value::Object(m)) => {
                    // Each member is null or an object (essential, value, values).
                    if m.values().any(|v| !(v.is_null() || v.is_object())) {
                        return Err("each requested claim must be null or an object");
                    }
                    Ok(REQUESTABLE.iter().filter(|c| m.contains_key(**c)).map(|c| (*c).to_owned()).collect())
                }
                Some(_) => Err("the userinfo and id_token members of claims must be objects"),
            }
        };
        Ok(Self { id_token: members("id_token")?, userinfo: members("userinfo")? })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_claims_are_kept_and_unknown_ones_ignored() {
        let r = ClaimsRequest::parse(
            r#"{"userinfo":{"email":{"essential":true},"phone_number":null},"id_token":{"name":null,"acr":{"values":["x"]}}}"#,
        )
        .unwrap();
        assert_eq!(r.userinfo, vec!["email"]);
        assert_eq!(r.id_token, vec!["name"]);
        assert!(ClaimsRequest::parse("{}").unwrap().is_empty());
    }

    #[test]
    fn malformed_requests_are_refused() {
        for bad in ["{", "[]", r#"{"userinfo":["email"]}"#, r#"{"id_token":{"email":true}}"#] {
            assert!(ClaimsRequest::parse(bad).is_err(), "{bad}");
        }
    }
}
