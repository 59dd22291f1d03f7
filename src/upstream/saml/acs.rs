//! SAML over HTTP: `GET /saml/{provider}/metadata` (braid's SP metadata), starting a sign-in
//! (an AuthnRequest over HTTP-Redirect, its ID and the attempt kept server-side, `RelayState`
//! an opaque handle bound to this browser by a cookie), and `POST /saml/{provider}/acs`: the
//! attempt taken once, the response verified off the async runtime, its assertion ID recorded
//! against replay, then the common sign-in.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::rejection::FormRejection;
use axum::extract::{Form, Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use super::checks::{Asserted, Expect};
use super::gate::{self, Limits};
use super::verify::{Reject, VerifyInput, verify_response};
use super::{SamlClient, sp};
use crate::accounts::ExternalIdentity;
use crate::error::AppError;
use crate::records::{LoginAttempt, key};
use crate::state::AppState;
use crate::upstream::{Protocol, Provider};
use crate::web::client_ip::ClientIp;
use crate::web::cookies;

/// Largest ACS request body (the form); larger ones get 413 before anything is read.
pub const MAX_ACS_BODY: usize = 512 * 1024;

fn saml_provider(state: &AppState, id: &str) -> Result<(Provider, Arc<SamlClient>), AppError> {
    let provider = state.providers.snapshot().enabled(id).cloned();
    match provider {
        Some(p) => match &p.protocol {
            Protocol::Saml(c) => {
                let c = c.clone();
                Ok((p, c))
            }
            _ => Err(unknown()),
        },
        None => Err(unknown()),
    }
}

fn unknown() -> AppError {
    AppError::page_status(
        StatusCode::NOT_FOUND,
        "Unknown provider",
        "This SAML provider does not exist or is disabled.",
    )
}

fn unavailable(provider: &Provider, what: &str, e: &str) -> AppError {
    tracing::warn!(provider = %provider.id, error = %e, "{what}");
    AppError::page_status(
        StatusCode::BAD_GATEWAY,
        format!("{} cannot be used right now", provider.display_name),
        "braid could not load what it needs to talk to this sign-in provider, so nothing was changed. Try again later or choose another way to sign in.",
    )
}

/// Refuse a response: counted under `reason` (a fixed name), logged with `why`.
fn refused(provider: &Provider, reason: &'static str, why: &dyn std::fmt::Debug) -> AppError {
    tracing::warn!(provider = %provider.id, reason = ?why, "SAML response refused");
    crate::metrics::saml_refusal(&provider.id, reason);
    crate::metrics::sign_in(&provider.id, crate::metrics::outcome::REFUSED_UPSTREAM);
    AppError::page_status(
        StatusCode::FORBIDDEN,
        "Sign-in could not be verified",
        format!(
            "braid could not verify the answer of {}, so you were not signed in and nothing was changed. Start again from the application.",
            provider.display_name
        ),
    )
}

async fn sp_key(state: &AppState, provider: &Provider) -> Result<Arc<sp::SpKey>, AppError> {
    state.saml_sp.get().await.map_err(|e| unavailable(provider, "SAML SP key unavailable", &e))
}

/// `GET /saml/{provider}/metadata`
pub async fn metadata_get(State(state): State<AppState>, Path(id): Path<String>) -> Result<Response, AppError> {
    let (provider, client) = saml_provider(&state, &id)?;
    let key = sp_key(&state, &provider).await?;
    let s = &client.settings;
    let xml = sp::metadata_xml(
        &sp::entity_id(&state.issuer, &provider.id, s),
        &sp::acs_url(&state.issuer, &provider.id),
        s.sign_requests.unwrap_or(false),
        s.want_assertions_signed,
        s.allow_cbc_encryption,
        &key.cert_b64,
        &sp::instant(state.clock.now_secs() + 7 * 86_400),
    );
    let mut resp = xml.into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("application/samlmetadata+xml"));
    Ok(resp)
}

/// Send the browser to the IdP with an AuthnRequest. `ForceAuthn` for links and for a client's
/// `prompt=login` or `max_age`.
pub async fn start(
    state: &AppState,
    headers: &HeaderMap,
    provider: &Provider,
    client: &SamlClient,
    tx: Option<String>,
    link: Option<crate::accounts::AccountId>,
    force: bool,
) -> Result<Response, AppError> {
    let asked_by_client = crate::signin::live_tx(state, tx.as_deref()).await?.is_some_and(|r| r.force_login());
    let force_login = force || link.is_some() || asked_by_client;
    let now = state.clock.now_ms();
    let meta = client.metadata(&state.http, now).await.map_err(|e| unavailable(provider, "IdP metadata", &e))?;
    let s = &client.settings;
    let sign = s.sign_requests.unwrap_or(meta.want_authn_requests_signed);
    // Each signed request is an RSA private-key operation anyone can ask for: bounded per
    // provider, checked before anything is stored.
    if sign {
        if let Err(retry_after) = client.signing_budget.take(now) {
            return Ok(too_many_requests(provider, retry_after));
        }
    }
    let key = sp_key(state, provider).await?;
    let request_id = format!("_{}", crate::ids::random_token(32));
    let (login_state, _) =
        crate::signin::begin(state, headers, provider, tx, None, link, force_login, Some(request_id.clone())).await?;
    let entity = sp::entity_id(&state.issuer, &provider.id, s);
    let acs = sp::acs_url(&state.issuer, &provider.id);
    let request = super::request::AuthnRequest {
        id: &request_id,
        now_secs: now / 1000,
        destination: &meta.sso_url,
        acs_url: &acs,
        issuer: &entity,
        force_authn: force_login,
    };
    let url = request
        .redirect_url(&login_state, sign.then_some(&key.key))
        .map_err(|e| unavailable(provider, "AuthnRequest", &e))?;
    let mut resp = Redirect::to(&url).into_response();
    let ttl = state.settings.session.login_ttl_secs;
    resp.headers_mut()
        .append(header::SET_COOKIE, cookies::set_cross_site(cookies::SAML, &login_state, ttl, state.secure_cookies()));
    Ok(resp)
}

/// 429 with `Retry-After`: this provider's signed AuthnRequests are used up for now.
fn too_many_requests(provider: &Provider, retry_after_secs: u64) -> Response {
    tracing::warn!(provider = %provider.id, "signed AuthnRequest budget used up; refusing new SAML sign-ins for now");
    let mut resp = crate::web::html::error_page(
        StatusCode::TOO_MANY_REQUESTS,
        "Too many sign-ins right now",
        &format!(
            "Too many sign-ins with {} were started in a short time, so braid did not start yours. Nothing was changed. Try again in a few seconds.",
            provider.display_name
        ),
    );
    resp.headers_mut().insert(header::RETRY_AFTER, HeaderValue::from(retry_after_secs));
    resp
}

/// `POST /saml/{provider}/acs`
pub async fn acs_post(
    State(state): State<AppState>,
    Path(id): Path<String>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    form: Result<Form<HashMap<String, String>>, FormRejection>,
) -> Result<Response, AppError> {
    crate::limits::check(&state, crate::limits::Kind::Callback, crate::limits::address(&ip), true).await?;
    let (provider, client) = saml_provider(&state, &id)?;
    let form = match form {
        Ok(Form(form)) => form,
        Err(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            return Err(AppError::page_status(
                StatusCode::PAYLOAD_TOO_LARGE,
                "Answer too large",
                "The sign-in provider's answer is larger than braid accepts, so it was not read. Nothing was changed.",
            ));
        }
        Err(_) => {
            return Err(AppError::page(
                "Not a SAML answer",
                "This address takes the SAML answer of a sign-in provider.",
            ));
        }
    };
    if needs_same_site_bounce(&state, &headers, &form) {
        return Ok(bounce(&provider.id, &form));
    }
    let encoded = form.get("SAMLResponse").filter(|v| !v.is_empty()).ok_or_else(|| {
        AppError::page("Not a SAML answer", "The answer holds no SAMLResponse. Start again from the application.")
    })?;
    // Size limits before anything is decoded; never inflated (the POST binding is not deflated).
    let xml = gate::decode_post(encoded, Limits::default()).map_err(|e| refused(&provider, e.kind(), &e))?;
    let s = &client.settings;

    // The attempt this browser started, taken once before anything else; else unsolicited.
    let relay = form.get("RelayState").map(String::as_str).filter(|r| !r.is_empty());
    let bound = cookies::get(&headers, cookies::SAML, state.secure_cookies());
    let attempt = match relay {
        Some(r) if bound.as_deref() == Some(r) => {
            Some(crate::signin::take_attempt_bound_by(&state, &headers, cookies::SAML, r, &provider.id).await?)
        }
        _ if s.allow_idp_initiated => None,
        Some(_) => {
            return Err(AppError::page(
                "Sign-in not started in this browser",
                "This sign-in was started in another browser or its cookie is missing, so braid will not finish it. Start again from the application.",
            ));
        }
        None => {
            return Err(refused(
                &provider,
                "unsolicited",
                &"an unsolicited response, and this provider does not allow IdP-initiated sign-in",
            ));
        }
    };
    if attempt.as_ref().is_some_and(|a| a.saml_request_id.is_none()) {
        return Err(refused(&provider, "no_request", &"the attempt has no SAML request"));
    }
    let now = state.clock.now_ms();
    let meta = client.metadata(&state.http, now).await.map_err(|e| unavailable(&provider, "IdP metadata", &e))?;
    let key = sp_key(&state, &provider).await?;

    let asserted = {
        let (client, provider_id, issuer) = (client.clone(), provider.id.clone(), state.issuer.clone());
        let (request_id, authn_after) = match &attempt {
            Some(a) => (a.saml_request_id.clone(), a.force_login.then_some(a.started_at)),
            None => (None, None),
        };
        let key = key.clone();
        let meta = meta.clone();
        tokio::task::spawn_blocking(move || -> Result<Asserted, Reject> {
            let s = &client.settings;
            let entity = sp::entity_id(&issuer, &provider_id, s);
            let acs = sp::acs_url(&issuer, &provider_id);
            let input = VerifyInput {
                certs: &meta.certs,
                want_assertions_signed: s.want_assertions_signed,
                sp_key: Some(&key.key),
                allow_cbc: s.allow_cbc_encryption,
                legacy_sha1: s.legacy_sha1,
                expect: Expect {
                    idp_entity_id: &meta.entity_id,
                    sp_entity_id: &entity,
                    acs_url: &acs,
                    request_id: request_id.as_deref(),
                    now_ms: now,
                    skew_ms: s.clock_skew_secs.saturating_mul(1000),
                    authn_after_ms: authn_after,
                    subject_attribute: s.subject_attribute.as_deref(),
                    email_attribute: s.email_attribute.as_deref(),
                    name_attribute: s.name_attribute.as_deref(),
                },
            };
            verify_response(&xml, &input)
        })
        .await
        .map_err(|e| refused(&provider, "internal", &format!("verification task: {e}")))?
        .map_err(|e| match e {
            Reject::IdpStatus(status) => {
                tracing::info!(provider = %provider.id, %status, "the IdP did not sign the person in");
                crate::metrics::saml_refusal(&provider.id, "idp_status");
                crate::metrics::sign_in(&provider.id, crate::metrics::outcome::REFUSED_UPSTREAM);
                AppError::page(
                    format!("{} did not sign you in", provider.display_name),
                    format!("The provider answered `{status}`. Nothing was changed. Start again, or choose another way to sign in."),
                )
            }
            other => refused(&provider, other.kind(), &other),
        })?
    };

    // Each assertion is used once (SECURITY-CASES 51), remembered until it could no longer pass.
    let ttl_ms = (asserted.replay_until_ms - now).max(1000);
    let fresh = state
        .records
        .store()
        .put_new(
            &key::saml_assertion(&meta.entity_id, &asserted.assertion_id),
            b"1",
            Duration::from_millis(ttl_ms.unsigned_abs()),
        )
        .await?;
    if !fresh {
        return Err(refused(&provider, "replayed", &"assertion replayed"));
    }

    let identity = identity(&meta.entity_id, s, &asserted);
    let attempt = attempt.unwrap_or_else(|| LoginAttempt {
        provider_id: provider.id.clone(),
        tx: None,
        upstream: None,
        link: None,
        // Unsolicited: no browser asked for it, so it never completes (or starts) a link.
        proof: None,
        force_login: false,
        started_at: now,
        saml_request_id: None,
        unsolicited: true,
        upstream_acr: None,
    });
    tracing::info!(provider = %provider.id, subject = %identity.subject, solicited = attempt.saml_request_id.is_some(), "SAML response accepted");
    let mut resp = crate::signin::finish(
        &state,
        &headers,
        ip,
        &provider,
        attempt,
        identity,
        "fed",
        Some(asserted.authn_instant_ms / 1000),
    )
    .await?;
    resp.headers_mut().append(header::SET_COOKIE, cookies::clear(cookies::SAML, state.secure_cookies()));
    Ok(resp)
}

/// On https, the IdP's answer is a cross-site POST: the browser leaves out braid's SameSite=Lax
/// cookies (the session a link needs, the link-by-email proof, the session a sign-in replaces).
/// Such a request is answered with a page that posts the same form again from braid's own
/// origin, once; the second POST carries every cookie. Nothing is read or taken before that.
fn needs_same_site_bounce(state: &AppState, headers: &HeaderMap, form: &HashMap<String, String>) -> bool {
    if !state.secure_cookies() || form.contains_key("braid_bounced") {
        return false;
    }
    let header = |name: &str| headers.get(name).and_then(|v| v.to_str().ok());
    match header("sec-fetch-site") {
        Some(site) => site == "cross-site",
        // Browsers without Fetch Metadata: judge by the Origin.
        None => header("origin").is_some_and(|o| o.trim_end_matches('/') != origin_of(&state.issuer)),
    }
}

fn origin_of(url: &str) -> String {
    url::Url::parse(url).map(|u| u.origin().ascii_serialization()).unwrap_or_default()
}

fn bounce(provider_id: &str, form: &HashMap<String, String>) -> Response {
    use crate::web::html::{self, esc};
    let field = |name: &str| {
        form.get(name)
            .map(|v| format!("<input type=\"hidden\" name=\"{name}\" value=\"{}\">", esc(v)))
            .unwrap_or_default()
    };
    let body = format!(
        "<h1>Signing you in…</h1><form method=\"post\" action=\"/saml/{}/acs\">{}{}<input type=\"hidden\" name=\"braid_bounced\" value=\"1\"><noscript><button type=\"submit\">Continue</button></noscript></form><script src=\"{RESUBMIT_JS}\"></script>",
        esc(provider_id),
        field("SAMLResponse"),
        field("RelayState"),
    );
    html::respond(StatusCode::OK, html::page("Signing in", &body))
}

/// The script that sends the bounce page's form (a file, so the page's CSP stays `'self'`).
pub const RESUBMIT_JS: &str = "/saml/resubmit.js";

/// `GET /saml/resubmit.js`
pub async fn resubmit_js() -> Response {
    let mut resp = "document.forms[0].submit();\n".into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    resp
}

/// The identity an assertion makes: the IdP's entity ID and the subject; the email is verified
/// only when the provider is trusted for email.
fn identity(issuer: &str, s: &super::SamlSettings, a: &Asserted) -> ExternalIdentity {
    let mut claims = serde_json::Map::new();
    for name in &s.keep {
        if let Some((_, values)) = a.attributes.iter().find(|(n, _)| n == name) {
            let v = match values.as_slice() {
                [one] => serde_json::Value::String(one.clone()),
                many => serde_json::Value::from(many.to_vec()),
            };
            claims.insert(name.clone(), v);
        }
    }
    if let Some(f) = &a.name_id_format {
        claims.insert("saml_name_id_format".into(), f.clone().into());
    }
    if let Some(c) = &a.authn_context {
        claims.insert("authn_context".into(), c.clone().into());
    }
    ExternalIdentity {
        issuer: issuer.to_owned(),
        subject: a.subject.clone(),
        email_verified: a.email.is_some(),
        email: a.email.clone(),
        name: a.name.clone(),
        claims,
    }
}
