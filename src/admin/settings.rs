//! `[admin]`: who may use the admin API (the SHA-256 of each bearer token, never the token) and
//! the admin console (account ids), and the tokens themselves: made, hashed and recognised.

use serde::Deserialize;
use subtle::ConstantTimeEq as _;

/// What every admin token starts with (so a leaked one is recognisable in a secret scanner).
pub const TOKEN_PREFIX: &str = "braid_admin_";

/// `[admin]`.
#[derive(Debug, Clone, Deserialize, Default)]
#[serde(deny_unknown_fields, default)]
pub struct AdminSettings {
    /// `[[admin.tokens]]`: the admin API's bearer tokens, by hash. None: the API is off (404).
    pub tokens: Vec<AdminToken>,
    /// Account ids that may use the admin console at `/admin`.
    pub accounts: Vec<String>,
}

/// One admin token, as `braid.toml` holds it.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AdminToken {
    /// Its name, recorded with every change made with it.
    pub name: String,
    /// The token's SHA-256, lower-case hex (what `braid admin token create` prints).
    pub sha256: String,
}

impl AdminSettings {
    /// Problems with the values: (key, reason).
    pub fn check(&self) -> Vec<(String, String)> {
        let mut bad = Vec::new();
        for (i, t) in self.tokens.iter().enumerate() {
            if !valid_name(&t.name) {
                bad.push((
                    format!("admin.tokens[{i}].name"),
                    format!("`{}` must be 1 to 64 letters, digits, `-`, `_` or `.`", t.name),
                ));
            } else if self.tokens[..i].iter().any(|o| o.name == t.name) {
                bad.push((format!("admin.tokens[{i}].name"), format!("`{}` is used by an earlier token", t.name)));
            }
            if t.sha256.len() != 64 || !t.sha256.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
                bad.push((
                    format!("admin.tokens[{i}].sha256"),
                    "must be 64 lower-case hex digits (the line `braid admin token create` prints)".into(),
                ));
            } else if self.tokens[..i].iter().any(|o| o.sha256 == t.sha256) {
                bad.push((format!("admin.tokens[{i}].sha256"), "is the hash of an earlier token".into()));
            }
        }
        for (i, a) in self.accounts.iter().enumerate() {
            if a.trim().is_empty() {
                bad.push((format!("admin.accounts[{i}]"), "must be an account id".into()));
            }
        }
        bad
    }

    /// Whether the admin API is on (at least one token).
    pub fn api_enabled(&self) -> bool {
        !self.tokens.is_empty()
    }

    /// The name of the token `presented`, when it is one of ours. Every configured hash is
    /// compared in constant time.
    pub fn token_name(&self, presented: &str) -> Option<&str> {
        let digest = digest_hex(presented);
        let mut found = None;
        for t in &self.tokens {
            if bool::from(t.sha256.as_bytes().ct_eq(digest.as_bytes())) {
                found = Some(t.name.as_str());
            }
        }
        found
    }
}

fn valid_name(name: &str) -> bool {
    (1..=64).contains(&name.len()) && name.bytes().all(|b| b.is_ascii_alphanumeric() || b"-_.".contains(&b))
}

/// A new admin token: the prefix and 32 random bytes.
pub fn new_token() -> String {
    format!("{TOKEN_PREFIX}{}", crate::ids::random_token(32))
}

/// The SHA-256 of `token`, lower-case hex.
pub fn digest_hex(token: &str) -> String {
    let d = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes());
    d.as_ref().iter().map(|b| format!("{b:02x}")).collect()
}

/// What `braid admin token create --name NAME` prints: the token once, and the lines for
/// `braid.toml`. `None` when the name is not valid.
pub fn create(name: &str) -> Option<(String, String)> {
    if !valid_name(name) {
        return None;
    }
    let token = new_token();
    let toml = format!("[[admin.tokens]]\nname = \"{name}\"\nsha256 = \"{}\"\n", digest_hex(&token));
    Some((token, toml))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_created_token_is_recognised_by_its_hash_only() {
        let (token, toml) = create("ops").unwrap();
        assert!(token.starts_with(TOKEN_PREFIX) && token.len() > 50);
        let settings: AdminSettings = toml::from_str(&format!("[admin]\n{}", toml.replace("[[admin.tokens]]", "[[tokens]]")))
            .map(|t: toml::Table| t["admin"].clone().try_into().unwrap())
            .unwrap();
        assert!(settings.check().is_empty(), "{:?}", settings.check());
        assert_eq!(settings.token_name(&token), Some("ops"));
        assert_eq!(settings.token_name(&format!("{token}x")), None);
        assert_eq!(settings.token_name(&settings.tokens[0].sha256), None, "the hash is not the token");
        assert!(create("no spaces").is_none());
    }

    #[test]
    fn bad_names_and_hashes_are_named_by_key() {
        let s = AdminSettings {
            tokens: vec![
                AdminToken { name: "a".into(), sha256: "0".repeat(64) },
                AdminToken { name: "a".into(), sha256: "XYZ".into() },
            ],
            accounts: vec![" ".into()],
        };
        let keys: Vec<String> = s.check().into_iter().map(|(k, _)| k).collect();
        assert_eq!(keys, ["admin.tokens[1].name", "admin.tokens[1].sha256", "admin.accounts[0]"]);
    }
}
