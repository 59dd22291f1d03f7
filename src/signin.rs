//! Finishing a sign-in, whatever the protocol: the login attempt bound to this browser is taken
//! once, the upstream identity is resolved to an account under the provider's policy, a fresh
//! browser session is made (the old one ended), and the client's request gets its code.

use std::time::Duration;

use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};

use crate::accounts::{AccountId, AccountStatus, ExternalIdentity};
use crate::error::AppError;
use crate::metrics::{outcome, sign_in as count};
use crate::records::{BrowserSession, LoginAttempt, LoginTx, UpstreamAttempt, key};
use crate::state::AppState;
use crate::upstream::{NewIdentityPolicy, Provider};
use crate::web::{cookies, html};

/// The client's transaction `tx` a sign-in start continues: `None` without one, the page for
/// an expired sign-in when it is gone. Read once per start: the protocols read what the client
/// asked of the sign-in from it, and [`begin`] relies on it having been checked.
pub async fn live_tx(state: &AppState, tx: Option<&str>) -> Result<Option<LoginTx>, AppError> {
    match tx {
        None => Ok(None),
        Some(t) => state.records.get::<LoginTx>(&key::tx(t)).await?.map(Some).ok_or_else(expired),
    }
}

/// Record a new login attempt for `provider`; returns its state and the cookie binding it to
/// this browser. A client's transaction `tx` must have been found live ([`live_tx`]).
#[allow(clippy::too_many_arguments)] // what each protocol must remember about the attempt
pub async fn begin(
    state: &AppState,
    headers: &HeaderMap,
    provider: &Provider,
    tx: Option<String>,
    upstream: Option<UpstreamAttempt>,
    link: Option<AccountId>,
    force_login: bool,
    saml_request_id: Option<String>,
) -> Result<(String, HeaderValue), AppError> {
    let login_state = crate::ids::random_token(32);
    let ttl = state.settings.session.login_ttl_secs;
    let proof = cookies::get(headers, cookies::PROOF, state.secure_cookies());
    let attempt = LoginAttempt {
        provider_id: provider.id.clone(),
        tx,
        upstream,
        link,
        proof,
        force_login,
        started_at: state.clock.now_ms(),
        saml_request_id,
        unsolicited: false,
        upstream_acr: None,
    };
    state.records.put(&key::login(&login_state), &attempt, Duration::from_secs(ttl)).await?;
    // This browser's sign-ins under way, newest first, at most `[limits] pending_sign_ins_per_browser`:
    // the oldest past the cap is dropped and its record deleted.
    let cap = state.settings.limits.pending_sign_ins_per_browser.max(1) as usize;
    let mut pending = vec![login_state.clone()];
    pending.extend(
        cookies::get_list(headers, cookies::LOGIN, state.secure_cookies()).into_iter().filter(|s| *s != login_state),
    );
    for dropped in pending.split_off(cap.min(pending.len())) {
        state.records.store().delete(&key::login(&dropped)).await?;
    }
    Ok((login_state, cookies::set(cookies::LOGIN, &pending.join("."), ttl, state.secure_cookies())))
}

fn expired() -> AppError {
    AppError::page(
        "This sign-in has expired",
        "The sign-in took too long or was already finished. Go back to the application and start again.",
    )
}

/// Take the login attempt named by `presented` once, if this browser holds its cookie.
pub async fn take_attempt(
    state: &AppState,
    headers: &HeaderMap,
    presented: &str,
    provider_id: &str,
) -> Result<LoginAttempt, AppError> {
    take_attempt_bound_by(state, headers, cookies::LOGIN, presented, provider_id).await
}

/// As `take_attempt`, with the attempt bound by cookie `cookie` (SAML's cross-site POST).
pub async fn take_attempt_bound_by(
    state: &AppState,
    headers: &HeaderMap,
    cookie: &str,
    presented: &str,
    provider_id: &str,
) -> Result<LoginAttempt, AppError> {
    let bound = cookies::get_list(headers, cookie, state.secure_cookies());
    if !bound.iter().any(|b| b == presented) {
        return Err(AppError::page(
            "Sign-in not started in this browser",
            "This sign-in was started in another browser or its cookie is missing, so braid will not finish it. Start again from the application.",
        ));
    }
    let attempt: LoginAttempt = state.records.take(&key::login(presented)).await?.ok_or_else(expired)?;
    if attempt.provider_id != provider_id {
        return Err(AppError::page("Wrong provider", "This sign-in was started with another provider. Start again."));
    }
    Ok(attempt)
}

fn refusal(title: &str, detail: &str) -> AppError {
    AppError::page_status(StatusCode::FORBIDDEN, title, detail)
}

/// Resolve `ext` from `provider`, sign the browser in, and continue where the attempt began. A
/// link attempt links instead; a link-by-email match asks for proof first.
#[allow(clippy::too_many_arguments)] // the request's parts and the upstream's answer, each needed
pub async fn finish(
    state: &AppState,
    headers: &HeaderMap,
    ip: Option<String>,
    provider: &Provider,
    attempt: LoginAttempt,
    mut ext: ExternalIdentity,
    amr: &str,
    upstream_auth_time: Option<i64>,
) -> Result<Response, AppError> {
    let now = state.clock.now_ms();
    let mut attempt = attempt;
    if attempt.unsolicited {
        // An answer no request of braid's asked for is bound to no browser: it never links.
        attempt.link = None;
        attempt.proof = None;
    }
    // A provider not trusted for email never makes an email verified (SECURITY-CASES 62, 65).
    ext.email_verified = ext.email_verified && provider.trust_email;
    if let Some(target) = attempt.link.clone() {
        let linked = crate::linking::complete_link(state, headers, ip, provider, &target, &ext).await;
        count(&provider.id, if linked.is_ok() { outcome::LINKED } else { outcome::REFUSED_LINK });
        return linked;
    }
    if !provider.can_sign_in {
        count(&provider.id, outcome::REFUSED_PROVIDER);
        return Err(refusal(
            "Sign-in not allowed",
            "This provider can be linked to an account but not used to sign in.",
        ));
    }
    let mut linked_now = false;
    // One SQL write for the whole sign-in: the last-login update and, when the sign-in is
    // allowed, its audit row commit together. A proof to complete links first, so its sign-in
    // is audited after the link, as its own write.
    let audit_now = attempt.proof.is_none();
    let create = provider.on_new_identity == NewIdentityPolicy::Create;
    let known = state.accounts.sign_in(&provider.id, &ext, create, audit_now, ip.as_deref(), now).await?;
    let resolved = match (provider.on_new_identity, known) {
        (_, Some(r)) => r,
        (NewIdentityPolicy::Create, None) => {
            return Err(crate::accounts::AccountError::Unavailable("the sign-in could not be recorded".into()).into());
        }
        // Known identities sign in; an unknown one is never created by these policies (one
        // conditional UPDATE decides, not a read followed by a write).
        (NewIdentityPolicy::Reject, None) => {
            tracing::info!(provider = %provider.id, issuer = %ext.issuer, subject = %ext.subject, "unknown identity refused by link-only provider");
            count(&provider.id, outcome::REFUSED_UNKNOWN_IDENTITY);
            return Err(refusal(
                "No account for this identity",
                "This provider only signs in identities already linked to a braid account. Sign in another way and link it from your account page.",
            ));
        }
        (_, None) => match crate::linking::by_email(state, ip.clone(), provider, &attempt, &ext).await? {
            crate::linking::ByEmail::Proceed(r) => r,
            crate::linking::ByEmail::AutoLinked(r) => {
                linked_now = true;
                r
            }
            crate::linking::ByEmail::AskForProof(page) => return Ok(page),
        },
    };
    let (account, identity) = (resolved.account, resolved.identity);
    if !identity.can_sign_in {
        count(&provider.id, outcome::REFUSED_IDENTITY_DISABLED);
        return Err(refusal(
            "Sign-in with this identity is turned off",
            "This identity is linked to an account but may not be used to sign in. Use another linked identity.",
        ));
    }
    if account.status != AccountStatus::Active {
        count(&provider.id, outcome::REFUSED_ACCOUNT_INACTIVE);
    }
    match &account.status {
        AccountStatus::Active => {}
        AccountStatus::Disabled => {
            return Err(refusal("Account disabled", "This account is disabled. Contact the administrator."));
        }
        AccountStatus::MergedInto(_) => {
            return Err(refusal(
                "Account merged",
                "This account was merged into another one. Contact the administrator.",
            ));
        }
    }
    let proof_present = attempt.proof.is_some();
    // The session must come after every change that ended the account's sessions so far.
    let mut valid_after = account.sessions_valid_after;
    if let Some(token) = &attempt.proof {
        if let Err(refused) = crate::linking::complete_proof(state, ip.clone(), &account.id, &identity, token).await {
            // The proof is used up either way: its cookie goes, so the next sign-in is plain.
            count(&provider.id, outcome::REFUSED_LINK);
            let mut resp = refused.into_response();
            resp.headers_mut().append(header::SET_COOKIE, cookies::clear(cookies::PROOF, state.secure_cookies()));
            return Ok(resp);
        }
        // The link just made marked the account's sessions over, at most now.
        valid_after = valid_after.max(state.clock.now_ms());
        linked_now = true;
    }
    if !resolved.audited {
        state.accounts.audit_sign_in(&identity, ip.as_deref(), now).await?;
    }
    count(
        &provider.id,
        if linked_now {
            outcome::LINKED
        } else if resolved.created {
            outcome::CREATED
        } else {
            outcome::EXISTING
        },
    );
    tracing::info!(account = %account.id, issuer = %identity.issuer, subject = %identity.subject, provider = %provider.id, created = resolved.created, "signed in");

    // A fresh session id at every sign-in; the one this browser had ends.
    let store = state.records.store();
    if let Some((old_sid, old)) = state.current_session(headers).await? {
        store.delete(&key::session(&old_sid)).await?;
        store.index_remove(old.account_id.as_str(), &key::session(&old_sid)).await?;
    }
    let sid = crate::ids::random_token(32);
    let session = BrowserSession {
        account_id: account.id.clone(),
        identity_id: identity.id,
        idp: identity.issuer.clone(),
        subject: identity.subject.clone(),
        provider_id: provider.id.clone(),
        // When the person really authenticated: the upstream's word, never invented. Without
        // it the time is unknown, which satisfies no freshness check.
        auth_time: upstream_auth_time.filter(|t| *t <= state.clock.now_secs()),
        amr: vec![amr.to_owned()],
        csrf: crate::ids::random_token(24),
        created_at: now.max(valid_after.saturating_add(1)),
        acr: attempt.upstream_acr.clone(),
    };
    let ttl = state.settings.session.ttl_secs;
    // The session, its index entry and the application's transaction are three independent
    // store calls: sent together (one round trip on a Redis connection). The browser gets the
    // session only when all three answered; a failure ends this sign-in either way (its attempt
    // is already taken), so taking the transaction alongside loses nothing.
    let session_key = key::session(&sid);
    let take_tx = async {
        match &attempt.tx {
            Some(tx) => state.records.take::<LoginTx>(&key::tx(tx)).await.map(Some),
            None => Ok(None),
        }
    };
    let (_, _, taken) = tokio::try_join!(
        state.records.put(&session_key, &session, Duration::from_secs(ttl)),
        store.index_add(account.id.as_str(), &session_key, Duration::from_secs(ttl)),
        take_tx,
    )?;

    let secure = state.secure_cookies();
    let mut resp = match taken {
        None => Redirect::to(crate::routes::ACCOUNT).into_response(),
        Some(taken) => match taken {
            Some(LoginTx::Proxy(ret)) => crate::proxy::start::return_after_sign_in(state, &ret),
            Some(LoginTx::Client(req)) => {
                crate::issuer::authorize::issue_code_to_fresh_sign_in(state, req, &sid, session).await?
            }
            None => html::error_page(
                StatusCode::BAD_REQUEST,
                "The application's request has expired",
                "You are signed in to braid, but the application's sign-in request timed out or was already used. Go back to the application and sign in again.",
            ),
        },
    };
    let h = resp.headers_mut();
    state.session_cookie().set(h, &sid, ttl);
    // The login cookie stays: other sign-ins of this browser (other tabs) may still be under way;
    // the finished one's record is gone, so its id in the cookie is inert.
    if proof_present {
        h.append(header::SET_COOKIE, cookies::clear(cookies::PROOF, secure));
    }
    Ok(resp)
}
