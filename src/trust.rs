//! Trust re-checked after it is granted: before single sign-on answers, before a code is issued
//! or redeemed, and at every refresh, the identity the person signed in with must still be on
//! the same account and allowed to sign in, its provider must still exist, be enabled and allow
//! sign-in, and the account must be active. A browser session (or a code it made) must also be
//! younger than the account's `sessions_valid_after` mark, which every account change that ends
//! sessions sets in its own SQL transaction. A session or grant that fails any of these is over.

use crate::accounts::{Account, AccountId, AccountStatus, Identity};
use crate::error::AppError;
use crate::state::AppState;

/// Why a session or grant no longer stands (logged; never shown with detail to a client).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Lost {
    /// The grant or session does not say which identity signed in (made before braid recorded it).
    Unrecorded,
    /// The provider was removed, disabled, or no longer allows sign-in.
    ProviderOff,
    /// The identity was unlinked.
    IdentityGone,
    /// The identity was moved to another account.
    IdentityMoved,
    /// Sign-in with the identity was switched off.
    IdentityMayNotSignIn,
    /// The account is disabled, merged or deleted.
    AccountNotActive,
    /// The session was made at or before an account change that ended the account's sessions.
    SessionsEnded,
}

impl Lost {
    /// A short reason for logs.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Unrecorded => "the identity used is not recorded",
            Self::ProviderOff => "the provider is disabled or removed",
            Self::IdentityGone => "the identity was unlinked",
            Self::IdentityMoved => "the identity moved to another account",
            Self::IdentityMayNotSignIn => "sign-in with the identity is switched off",
            Self::AccountNotActive => "the account is not active",
            Self::SessionsEnded => "an account change ended the sessions made before it",
        }
    }
}

/// Check that `identity` (through `provider`) may still sign in to `account`; returns the
/// account when it may. `session_made` is when the browser session behind the request was made
/// (ms; `None` for a refresh grant, which account changes revoke in SQL): a session made at or
/// before the account's `sessions_valid_after` is over. Store failures are errors (fail closed),
/// never a pass.
pub async fn check(
    state: &AppState,
    account: &AccountId,
    identity: Option<i64>,
    provider: Option<&str>,
    session_made: Option<i64>,
) -> Result<Result<Account, Lost>, AppError> {
    Ok(standing(state, account, identity, provider, session_made).await?.map(|(a, _)| a))
}

/// The account behind `grant` when its identity may still sign in through its provider and the
/// account is active (the refresh rule), for the answers that rest on a grant without renewing
/// it: `/userinfo` and `/introspect`. `None` when it may not; store failures are errors.
pub async fn grant_stands(state: &AppState, grant: &crate::issuer::grants::Grant) -> Result<Option<Account>, AppError> {
    if grant.revoked_at.is_some() {
        return Ok(None);
    }
    let checked = check(state, &grant.account_id, grant.identity_id, grant.provider_id.as_deref(), None).await?;
    Ok(checked.ok())
}

/// Whether an account change ended `session` after it was made (or its account is gone): the
/// account page and its forms ask this, as the token and proxy paths ask [`check`].
pub async fn session_ended(state: &AppState, session: &crate::records::BrowserSession) -> Result<bool, AppError> {
    Ok(match state.accounts.account(&session.account_id).await? {
        Some(a) => ended(&a, Some(session.created_at)),
        None => true,
    })
}

/// Whether a session made at `session_made` is over for `account`.
fn ended(account: &Account, session_made: Option<i64>) -> bool {
    session_made.is_some_and(|made| made <= account.sessions_valid_after)
}

/// As [`check`], returning the identity used as well (forward-auth reads its email).
pub async fn standing(
    state: &AppState,
    account: &AccountId,
    identity: Option<i64>,
    provider: Option<&str>,
    session_made: Option<i64>,
) -> Result<Result<(Account, Identity), Lost>, AppError> {
    let (Some(identity), Some(provider)) = (identity, provider) else {
        return Ok(Err(Lost::Unrecorded));
    };
    if !state.providers.snapshot().enabled(provider).is_some_and(|p| p.usable()) {
        return Ok(Err(Lost::ProviderOff));
    }
    let Some(found) = state.accounts.identity(identity).await? else {
        return Ok(Err(Lost::IdentityGone));
    };
    if found.account_id != *account {
        return Ok(Err(Lost::IdentityMoved));
    }
    if !found.can_sign_in {
        return Ok(Err(Lost::IdentityMayNotSignIn));
    }
    match state.accounts.account(account).await? {
        Some(a) if a.status == AccountStatus::Active && ended(&a, session_made) => Ok(Err(Lost::SessionsEnded)),
        Some(a) if a.status == AccountStatus::Active => Ok(Ok((a, found))),
        _ => Ok(Err(Lost::AccountNotActive)),
    }
}

/// What a check that passed found: the account, the identity used, and the account's primary
/// identity (forward-auth tells applications its email and name).
#[derive(Debug)]
pub struct Standing {
    /// The account (active).
    pub account: Account,
    /// The identity the session signed in with.
    pub used: Identity,
    /// The account's primary identity (the first linked when none is marked).
    pub primary: Option<Identity>,
}

/// How long a passed check is reused for requests of the same identity, in milliseconds, unless
/// this process commits an account change first.
pub const REUSE_MS: i64 = 1000;

/// At most this many passed checks are kept; past it the cache starts over.
const MAX_KEPT: usize = 100_000;

/// Passed checks by identity, for the proxy paths that ask on every request. An entry is used
/// only for the same account and provider, while it is younger than [`REUSE_MS`] and no account
/// change was committed by this process since it was made (`AccountStore::changes`). Changes made
/// in this process also end the account's sessions at once; the age bound covers a change this
/// process cannot see (another replica or the CLI whose session end failed or could not reach an
/// in-memory store).
#[derive(Debug, Default)]
pub struct StandingCache {
    inner: std::sync::Mutex<std::collections::HashMap<i64, Kept>>,
}

#[derive(Debug)]
struct Kept {
    standing: std::sync::Arc<Standing>,
    provider: String,
    checked_ms: i64,
    changes: u64,
}

impl StandingCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, std::collections::HashMap<i64, Kept>> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn get(
        &self,
        identity: i64,
        account: &AccountId,
        provider: &str,
        now_ms: i64,
        changes: u64,
    ) -> Option<std::sync::Arc<Standing>> {
        let inner = self.lock();
        let k = inner.get(&identity)?;
        let fresh = k.changes == changes && (0..REUSE_MS).contains(&(now_ms - k.checked_ms));
        (fresh && k.provider == provider && k.standing.account.id == *account).then(|| k.standing.clone())
    }

    fn put(&self, identity: i64, provider: &str, standing: std::sync::Arc<Standing>, now_ms: i64, changes: u64) {
        let mut inner = self.lock();
        if inner.len() >= MAX_KEPT {
            inner.clear();
        }
        inner.insert(identity, Kept { standing, provider: provider.to_owned(), checked_ms: now_ms, changes });
    }
}

/// As [`standing`], with the primary identity, reusing a check of the same identity made less
/// than [`REUSE_MS`] ago when no account change was committed here since ([`StandingCache`]).
/// The provider is checked every time, and the session's age against the account's
/// `sessions_valid_after` as read (so a mark set by another replica counts within [`REUSE_MS`]).
pub async fn standing_reused(
    state: &AppState,
    account: &AccountId,
    identity: Option<i64>,
    provider: Option<&str>,
    session_made: Option<i64>,
) -> Result<Result<std::sync::Arc<Standing>, Lost>, AppError> {
    let (Some(id), Some(p)) = (identity, provider) else {
        return Ok(Err(Lost::Unrecorded));
    };
    if !state.providers.snapshot().enabled(p).is_some_and(|p| p.usable()) {
        return Ok(Err(Lost::ProviderOff));
    }
    // Read before the check: a change committed during it makes the entry stale at once.
    let changes = state.accounts.changes();
    let now_ms = state.clock.now_ms();
    if let Some(s) = state.standing.get(id, account, p, now_ms, changes) {
        if ended(&s.account, session_made) {
            return Ok(Err(Lost::SessionsEnded));
        }
        return Ok(Ok(s));
    }
    let (account, used) = match standing(state, account, identity, provider, session_made).await? {
        Ok(found) => found,
        Err(lost) => return Ok(Err(lost)),
    };
    let primary = match account.primary_identity {
        Some(pid) if pid == used.id => Some(used.clone()),
        Some(pid) => state.accounts.identity(pid).await?.filter(|i| i.account_id == account.id),
        None => state.accounts.identities(&account.id).await?.into_iter().next(),
    };
    let s = std::sync::Arc::new(Standing { account, used, primary });
    state.standing.put(id, p, s.clone(), now_ms, changes);
    Ok(Ok(s))
}
