//! OAuth 2.0 social logins without OpenID Connect (GitHub and the like): the code flow with
//! state and S256 PKCE, the profile read from a user endpoint, the subject from a stable field
//! (GitHub: the numeric `id`, never the login name), and a verified email only from an emails
//! endpoint that says so (GitHub: the primary address with `verified: true`).

use serde_json::{Map, Value};

use super::http::{self, HttpError};
use super::registry::OAuth2Settings;
use crate::accounts::ExternalIdentity;
use crate::metrics;

/// Why an OAuth2 sign-in failed (logged; the person sees a generic page).
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum OAuth2Error {
    /// The token, user or emails endpoint failed.
    #[error("{what}: {source}")]
    Http {
        /// Which call.
        what: &'static str,
        /// The failure.
        source: HttpError,
    },
    /// An answer lacks what braid needs.
    #[error("response: {0}")]
    Response(String),
}

/// One OAuth2 provider.
#[derive(Debug)]
pub struct OAuth2Client {
    /// Settings from the provider file (presets applied).
    pub settings: OAuth2Settings,
    /// The provider's id (the label of its upstream timings).
    pub provider: std::sync::Arc<str>,
}

fn http_err(what: &'static str) -> impl Fn(HttpError) -> OAuth2Error {
    move |source| OAuth2Error::Http { what, source }
}

impl OAuth2Client {
    /// The URL that starts the upstream sign-in.
    pub fn authorization_url(
        &self,
        redirect_uri: &str,
        state: &str,
        code_challenge: &str,
        login_hint: Option<&str>,
        force_login: bool,
    ) -> String {
        let s = &self.settings;
        let scope = s.scopes.join(" ");
        let mut params: Vec<(&str, &str)> = vec![
            ("response_type", "code"),
            ("client_id", &s.client_id),
            ("redirect_uri", redirect_uri),
            ("state", state),
            ("code_challenge", code_challenge),
            ("code_challenge_method", "S256"),
        ];
        if !scope.is_empty() {
            params.push(("scope", &scope));
        }
        if let Some(h) = login_hint {
            params.push((s.login_hint_param.as_str(), h));
        }
        // Honoured by providers that know it; GitHub has no way to force a fresh sign-in.
        if force_login {
            params.push(("prompt", "login"));
        }
        for (k, v) in &s.extra_params {
            params.push((k, v));
        }
        crate::issuer::authorize::with_params(&s.authorize_url, &params)
    }

    /// Redeem `code` and read the person's profile.
    pub async fn finish(
        &self,
        client: &reqwest::Client,
        code: &str,
        verifier: &str,
        redirect_uri: &str,
    ) -> Result<ExternalIdentity, OAuth2Error> {
        let s = &self.settings;
        let form = vec![
            ("grant_type", "authorization_code".to_owned()),
            ("code", code.to_owned()),
            ("redirect_uri", redirect_uri.to_owned()),
            ("code_verifier", verifier.to_owned()),
        ];
        let req = http::token_request(client, &s.token_url, form, &s.client_id, s.client_secret.as_ref(), s.token_auth);
        let tokens = metrics::upstream(&self.provider, "token", http::json(req)).await.map_err(http_err("token"))?;
        if let Some(e) = tokens.get("error").and_then(Value::as_str) {
            return Err(OAuth2Error::Response(format!("token endpoint said {e}")));
        }
        let access = tokens
            .get("access_token")
            .and_then(Value::as_str)
            .ok_or_else(|| OAuth2Error::Response("no access_token".into()))?;
        let fetch = http::json(client.get(&s.userinfo_url).bearer_auth(access));
        let user = metrics::upstream(&self.provider, "userinfo", fetch).await.map_err(http_err("user"))?;
        let subject = match user.get(&s.subject_field) {
            Some(Value::Number(n)) => n.to_string(),
            Some(Value::String(x)) if !x.is_empty() => x.clone(),
            _ => return Err(OAuth2Error::Response(format!("no `{}` in the user answer", s.subject_field))),
        };
        let (email, email_verified) = match &s.emails_url {
            Some(url) => {
                metrics::upstream(&self.provider, "userinfo", primary_verified_email(client, url, access)).await?
            }
            None => {
                let email = user.get(&s.email_field).and_then(Value::as_str).map(str::to_owned);
                let verified = s.email_verified_field.as_ref().is_some_and(|f| super::oidc::is_true(user.get(f)));
                (email, verified)
            }
        };
        let mut claims = Map::new();
        for k in &s.keep {
            if let Some(v) = user.get(k) {
                claims.insert(k.clone(), v.clone());
            }
        }
        Ok(ExternalIdentity {
            issuer: s.issuer.clone(),
            subject,
            email_verified: email.is_some() && email_verified,
            email,
            name: user.get(&s.name_field).and_then(Value::as_str).map(str::to_owned),
            claims,
        })
    }
}

/// The primary address from a GitHub-style emails list, verified only if the list says
/// `verified: true` for it.
async fn primary_verified_email(
    client: &reqwest::Client,
    url: &str,
    access: &str,
) -> Result<(Option<String>, bool), OAuth2Error> {
    let list = http::json_value(client.get(url).bearer_auth(access)).await.map_err(http_err("emails"))?;
    let list = list.as_array().ok_or_else(|| OAuth2Error::Response("emails: not a list".into()))?;
    let primary = list.iter().find(|e| e.get("primary") == Some(&Value::Bool(true)));
    Ok(match primary {
        Some(p) => {
            (p.get("email").and_then(Value::as_str).map(str::to_owned), p.get("verified") == Some(&Value::Bool(true)))
        }
        None => (None, false),
    })
}
