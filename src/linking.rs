//! Linking identities at sign-in: completing a link started from `/account` (the person is
//! signed in to the target account), and `link_by_email` (an unknown identity whose trusted,
//! verified email matches exactly one active account joins it only after this browser proves
//! that account by signing in with one of its identities). After every change the account's
//! other browser sessions end; its refresh tokens were revoked in the same transaction.

use std::time::Duration;

use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::accounts::{AccountId, Actor, ExternalIdentity, Identity, LinkOutcome, Resolved};
use crate::error::AppError;
use crate::issuer::authorize::with_params;
use crate::records::{LinkProof, LoginAttempt, key};
use crate::state::AppState;
use crate::upstream::Provider;
use crate::web::{cookies, html};

/// Check that the session store answers before a change whose follow-up (ending sessions) needs
/// it: if it does not, nothing is changed (503) rather than leaving old sessions alive.
pub async fn before_change(state: &AppState) -> Result<(), AppError> {
    Ok(state.records.store().ping().await?)
}

/// End every browser session of `account` except `keep` (a session id). The change made at
/// `changed_at` marked every session made until then over (`sessions_valid_after`): the kept
/// session is stamped as made just after it, and its lifetime starts again.
pub async fn after_change(
    state: &AppState,
    account: &AccountId,
    keep: Option<&str>,
    changed_at: crate::clock::UnixMillis,
) -> Result<usize, AppError> {
    if let Some(sid) = keep {
        let k = key::session(sid);
        if let Some(mut s) = state.records.get::<crate::records::BrowserSession>(&k).await? {
            s.created_at = s.created_at.max(changed_at.saturating_add(1));
            let ttl = Duration::from_secs(state.settings.session.ttl_secs);
            state.records.put(&k, &s, ttl).await?;
        }
    }
    let keep = keep.map(key::session);
    Ok(state.records.store().end_all(account.as_str(), keep.as_deref()).await?)
}

fn elsewhere() -> AppError {
    AppError::page_status(
        StatusCode::CONFLICT,
        "This identity is already linked to another account",
        "Nothing was changed. An identity belongs to one account only; if it should move to this one, sign in with it, unlink it there, and link it here, or ask the administrator.",
    )
}

/// Finish `POST /account/link/{provider}`: link `ext` to `target` if this browser is still
/// signed in to it.
pub async fn complete_link(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<String>,
    provider: &Provider,
    target: &AccountId,
    ext: &ExternalIdentity,
) -> Result<Response, AppError> {
    let session = match state.current_session(headers).await? {
        Some((sid, s)) if s.account_id == *target && !crate::trust::session_ended(state, &s).await? => Some(sid),
        _ => None,
    };
    let Some(sid) = session else {
        return Err(AppError::page_status(
            StatusCode::FORBIDDEN,
            "Your session changed",
            "You are no longer signed in to the account you were linking to, so nothing was linked. Sign in and start again.",
        ));
    };
    before_change(state).await?;
    let now = state.clock.now_ms();
    let outcome = state.accounts.link(target, &provider.id, ext, &Actor::person(target, ip), now).await?;
    let done = match outcome {
        LinkOutcome::Linked(i) => {
            tracing::info!(account = %target, issuer = %i.issuer, subject = %i.subject, provider = %provider.id, "identity linked");
            after_change(state, target, Some(&sid), now).await?;
            "linked"
        }
        LinkOutcome::AlreadyOnThisAccount(_) => "already",
        LinkOutcome::OnAnotherAccount => {
            tracing::info!(account = %target, issuer = %ext.issuer, subject = %ext.subject, "link refused: identity on another account");
            return Err(elsewhere());
        }
        LinkOutcome::Changed => return Err(changed_meanwhile()),
        LinkOutcome::AccountNotActive => {
            return Err(AppError::page_status(
                StatusCode::FORBIDDEN,
                "Account not active",
                "This account is disabled or merged.",
            ));
        }
    };
    let mut resp = Redirect::to(&format!("{}?done={done}", crate::routes::ACCOUNT)).into_response();
    resp.headers_mut().append(header::SET_COOKIE, cookies::clear(cookies::LOGIN, state.secure_cookies()));
    Ok(resp)
}

/// What `link_by_email` decided for an unknown identity.
pub enum ByEmail {
    /// Sign in with this (a new account).
    Proceed(Resolved),
    /// Sign in with this: the identity was just linked to the account with its address
    /// (`auto_link`).
    AutoLinked(Resolved),
    /// Show this page: prove the matching account first.
    AskForProof(Response),
}

/// The `link_by_email` policy for an identity braid has never seen.
pub async fn by_email(
    state: &AppState,
    ip: Option<String>,
    provider: &Provider,
    attempt: &LoginAttempt,
    ext: &ExternalIdentity,
) -> Result<ByEmail, AppError> {
    let now = state.clock.now_ms();
    if attempt.unsolicited {
        // An unsolicited answer could have been pushed into this browser by anyone: it never
        // asks this browser to prove (and so link to) an account.
        tracing::warn!(provider = %provider.id, issuer = %ext.issuer, subject = %ext.subject, "link by email refused for an unsolicited response");
        return Err(AppError::page_status(
            StatusCode::FORBIDDEN,
            "Start the sign-in at braid",
            "This identity may belong to an existing account, which can only be linked from a sign-in started at braid. Nothing was changed. Start again from braid's sign-in page.",
        ));
    }
    let candidates = match (&ext.email, ext.email_verified) {
        (Some(email), true) => state.accounts.accounts_with_verified_email(email).await?,
        _ => Vec::new(),
    };
    // No match, or several (braid never picks one): a new account.
    let [target] = candidates.as_slice() else {
        return Ok(ByEmail::Proceed(state.accounts.resolve_or_create(&provider.id, ext, now).await?));
    };
    if provider.auto_link {
        before_change(state).await?;
        let actor = Actor { who: "system:auto_link".into(), ip, expect: None };
        match state.accounts.link(target, &provider.id, ext, &actor, now).await? {
            LinkOutcome::Linked(_) | LinkOutcome::AlreadyOnThisAccount(_) => {
                tracing::warn!(account = %target, issuer = %ext.issuer, subject = %ext.subject, "identity linked by email without proof (auto_link)");
                after_change(state, target, None, now).await?;
            }
            LinkOutcome::OnAnotherAccount | LinkOutcome::AccountNotActive | LinkOutcome::Changed => {}
        }
        return Ok(ByEmail::AutoLinked(state.accounts.resolve_or_create(&provider.id, ext, now).await?));
    }
    let token = crate::ids::random_token(32);
    let ttl = state.settings.account.link_proof_ttl_secs;
    let csrf = crate::ids::random_token(24);
    let proof = LinkProof {
        account: target.clone(),
        provider_id: provider.id.clone(),
        identity: ext.clone(),
        csrf: csrf.clone(),
        confirmed: false,
        expires_at: now.saturating_add(i64::try_from(ttl.saturating_mul(1000)).unwrap_or(i64::MAX / 2)),
    };
    let proof_key = key::proof(&crate::ids::sha256_b64(token.as_bytes()));
    state.records.put(&proof_key, &proof, Duration::from_secs(ttl)).await?;
    // Indexed with the account's sessions: any change to the account (an unlink, a merge, …)
    // revokes pending proofs with them.
    state.records.store().index_add(target.as_str(), &proof_key, Duration::from_secs(ttl)).await?;
    tracing::info!(account = %target, issuer = %ext.issuer, subject = %ext.subject, "link by email: proof of the account requested");
    // First an explicit confirmation naming the new identity (a form with a CSRF token); only
    // then the sign-ins that prove the account.
    let body = format!(
        "<h1>Link this identity to an existing account?</h1><p>You signed in with <b>{provider}</b> as</p>\
<p>issuer <code id=\"proof-issuer\">{issuer}</code><br>subject <code id=\"proof-subject\">{subject}</code><br>email <b>{email}</b></p>\
<p>An account already uses this verified email. If that account is yours, braid can link this identity to it: \
you will prove the account by signing in with one of its identities.</p>\
<form method=\"post\" action=\"{action}\"><input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">{tx}\
<button type=\"submit\" id=\"confirm-link\">Yes, link it to my account</button></form>\
<p class=\"muted\">If you did not start this, close this page: nothing is linked unless you confirm and then prove the \
account. This request expires in {minutes} minutes.</p>",
        provider = html::esc(&provider.display_name),
        issuer = html::esc(&ext.issuer),
        subject = html::esc(&ext.subject),
        email = html::esc(ext.email.as_deref().unwrap_or_default()),
        action = crate::routes::LINK_PROOF,
        csrf = html::esc(&csrf),
        tx = attempt
            .tx
            .as_deref()
            .map(|t| format!("<input type=\"hidden\" name=\"tx\" value=\"{}\">", html::esc(t)))
            .unwrap_or_default(),
        minutes = ttl.div_ceil(60),
    );
    let mut resp = html::respond(StatusCode::OK, html::page("Link this identity?", &body));
    let secure = state.secure_cookies();
    resp.headers_mut().append(header::SET_COOKIE, cookies::set(cookies::PROOF, &token, ttl, secure));
    resp.headers_mut().append(header::SET_COOKIE, cookies::clear(cookies::LOGIN, secure));
    Ok(ByEmail::AskForProof(resp))
}

/// The confirmation form of a link-by-email proof.
#[derive(Debug, serde::Deserialize)]
pub struct ProofConfirmation {
    csrf: String,
    #[serde(default)]
    tx: Option<String>,
}

/// `POST /login/link-proof`: the person confirmed, on the page naming the new identity, that it
/// should be linked; the proof (bound to this browser by its cookie) may now be completed by a
/// sign-in to the account, and the page offers those sign-ins.
pub async fn link_proof_post(
    axum::extract::State(state): axum::extract::State<AppState>,
    headers: HeaderMap,
    form: Result<axum::Form<ProofConfirmation>, axum::extract::rejection::FormRejection>,
) -> Result<Response, AppError> {
    let expired = || {
        AppError::page_status(
            StatusCode::FORBIDDEN,
            "This link request has expired",
            "braid could not confirm this request came from its own page in this browser, or it expired. Nothing was linked. Start again.",
        )
    };
    let axum::Form(form) = form.map_err(|_| expired())?;
    let token = cookies::get(&headers, cookies::PROOF, state.secure_cookies()).ok_or_else(expired)?;
    let proof_key = key::proof(&crate::ids::sha256_b64(token.as_bytes()));
    let mut proof: LinkProof = state.records.get(&proof_key).await?.ok_or_else(expired)?;
    let origin_ok = headers
        .get(header::ORIGIN)
        .and_then(|o| o.to_str().ok())
        .is_none_or(|o| o == crate::web::account::origin_of(&state.issuer));
    let csrf_ok = !proof.csrf.is_empty()
        && bool::from(subtle::ConstantTimeEq::ct_eq(proof.csrf.as_bytes(), form.csrf.as_bytes()));
    if !origin_ok || !csrf_ok {
        tracing::warn!(account = %proof.account, origin_ok, csrf_ok, "link proof confirmation refused");
        return Err(expired());
    }
    let left_ms = proof.expires_at - state.clock.now_ms();
    if left_ms <= 0 {
        return Err(expired());
    }
    proof.confirmed = true;
    // Only over the proof still stored: one revoked meanwhile (a change to the account ends its
    // proofs) stays revoked.
    if !state.records.replace(&proof_key, &proof, Duration::from_millis(left_ms.unsigned_abs())).await? {
        return Err(expired());
    }
    let providers = state.providers.snapshot();
    let mut ids: Vec<String> = state
        .accounts
        .identities(&proof.account)
        .await?
        .into_iter()
        .filter(|i| i.can_sign_in)
        .map(|i| i.provider_id)
        .collect();
    ids.sort();
    ids.dedup();
    let tx = form.tx.filter(|t| t.len() <= crate::issuer::authorize::MAX_PARAM);
    let mut buttons = String::new();
    for p in ids.iter().filter_map(|id| providers.enabled(id)).filter(|p| p.usable()) {
        let href = match &tx {
            Some(tx) => with_params(&format!("/login/{}", p.id), &[("tx", tx)]),
            None => format!("/login/{}", p.id),
        };
        buttons.push_str(&format!(
            "<li><a class=\"button\" href=\"{}\">{}</a></li>",
            html::esc(&href),
            html::esc(&p.display_name)
        ));
    }
    let body = format!(
        "<h1>Is this your account?</h1><p>To link <code>{}</code> / <code>{}</code> to it, prove the account is yours: \
sign in with one of its identities.</p><ul style=\"list-style:none;padding:0\">{buttons}</ul>\
<p class=\"muted\">Nothing is linked until you do.</p>",
        html::esc(&proof.identity.issuer),
        html::esc(&proof.identity.subject),
    );
    Ok(html::respond(StatusCode::OK, html::page("Is this your account?", &body)))
}

/// Complete a pending proof: this browser just signed in to `account` with `identity`. The proof
/// is taken once; it links only the identity it names, and only to the account it names.
pub async fn complete_proof(
    state: &AppState,
    ip: Option<String>,
    account: &AccountId,
    identity: &Identity,
    token: &str,
) -> Result<(), AppError> {
    let proof: Option<LinkProof> = state.records.take(&key::proof(&crate::ids::sha256_b64(token.as_bytes()))).await?;
    // Expired, used, revoked by a change to the account, or never confirmed on braid's page: a
    // plain sign-in, nothing linked.
    let Some(proof) = proof.filter(|p| p.confirmed) else {
        return Ok(());
    };
    if proof.account != *account
        || (proof.identity.issuer == identity.issuer && proof.identity.subject == identity.subject)
    {
        tracing::warn!(account = %account, expected = %proof.account, "link by email: proof completed with another account; refused");
        return Err(AppError::page_status(
            StatusCode::FORBIDDEN,
            "That is a different account",
            "You signed in to an account other than the one with the matching email, so nothing was linked and you were not signed in.",
        ));
    }
    before_change(state).await?;
    let now = state.clock.now_ms();
    match state.accounts.link(account, &proof.provider_id, &proof.identity, &Actor::person(account, ip), now).await? {
        LinkOutcome::Linked(i) => {
            tracing::info!(account = %account, issuer = %i.issuer, subject = %i.subject, "identity linked by email after proof");
            after_change(state, account, None, now).await?;
            Ok(())
        }
        LinkOutcome::AlreadyOnThisAccount(_) => Ok(()),
        LinkOutcome::OnAnotherAccount => Err(elsewhere()),
        LinkOutcome::Changed => Err(changed_meanwhile()),
        LinkOutcome::AccountNotActive => Err(AppError::page_status(
            StatusCode::FORBIDDEN,
            "Account not active",
            "This account is disabled or merged.",
        )),
    }
}

/// The account changed while the link was made (only an actor that named a version sees it).
fn changed_meanwhile() -> AppError {
    AppError::page_status(
        StatusCode::CONFLICT,
        "Account changed",
        "The account changed meanwhile; nothing was linked. Try again.",
    )
}
