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

/// What a check that passed read: the account (active), its identities (oldest link first) and
/// which of them the session or grant signed in with.
#[derive(Debug)]
pub struct Checked {
    /// The account.
    pub account: Account,
    /// The account's identities, oldest link first.
    pub identities: Vec<Identity>,
    used: usize,
}

impl Checked {
    /// The identity the session or grant signed in with.
    pub fn used(&self) -> &Identity {
        &self.identities[self.used]
    }

    /// The account's primary identity (the first linked when none is marked).
    pub fn primary(&self) -> Option<&Identity> {
        primary_of(&self.account, &self.identities)
    }
}

/// `account`'s primary identity among `identities` (the first linked when none is marked).
pub fn primary_of<'i>(account: &Account, identities: &'i [Identity]) -> Option<&'i Identity> {
    identities.iter().find(|i| Some(i.id) == account.primary_identity).or_else(|| identities.first())
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
    Ok(check_all(state, account, identity, provider, session_made).await?.map(|c| c.account))
}

/// The account behind `grant` when its identity may still sign in through its provider and the
/// account is active (the refresh rule), for the answers that rest on a grant without renewing
/// it: `/userinfo` and `/introspect`. `None` when it may not; store failures are errors.
pub async fn grant_stands(state: &AppState, grant: &crate::issuer::grants::Grant) -> Result<Option<Checked>, AppError> {
    if grant.revoked_at.is_some() {
        return Ok(None);
    }
    let checked = check_all(state, &grant.account_id, grant.identity_id, grant.provider_id.as_deref(), None).await?;
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
    Ok(check_all(state, account, identity, provider, session_made).await?.map(|mut c| {
        let used = c.identities.swap_remove(c.used);
        (c.account, used)
    }))
}

/// As [`check`], with everything the check read ([`Checked`]): the account and all its
/// identities come from one store read, so the token endpoint signs its claims without reading
/// again.
pub async fn check_all(
    state: &AppState,
    account: &AccountId,
    identity: Option<i64>,
    provider: Option<&str>,
    session_made: Option<i64>,
) -> Result<Result<Checked, Lost>, AppError> {
    let (Some(identity), Some(provider)) = (identity, provider) else {
        return Ok(Err(Lost::Unrecorded));
    };
    if !state.providers.snapshot().enabled(provider).is_some_and(|p| p.usable()) {
        return Ok(Err(Lost::ProviderOff));
    }
    let read = state.accounts.account_with_identities(account).await?;
    let Some((a, identities)) = read else {
        // No such account: say why the identity no longer leads to it.
        return Ok(Err(match state.accounts.identity(identity).await? {
            Some(found) if found.account_id != *account => Lost::IdentityMoved,
            Some(_) => Lost::AccountNotActive,
            None => Lost::IdentityGone,
        }));
    };
    let Some(used) = identities.iter().position(|i| i.id == identity) else {
        return Ok(Err(match state.accounts.identity(identity).await? {
            Some(_) => Lost::IdentityMoved,
            None => Lost::IdentityGone,
        }));
    };
    if !identities[used].can_sign_in {
        return Ok(Err(Lost::IdentityMayNotSignIn));
    }
    match a.status {
        AccountStatus::Active if ended(&a, session_made) => Ok(Err(Lost::SessionsEnded)),
        AccountStatus::Active => Ok(Ok(Checked { account: a, identities, used })),
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
    inner: std::sync::Mutex<crate::FastMap<i64, Kept>>,
}

#[derive(Debug)]
struct Kept {
    standing: std::sync::Arc<Standing>,
    provider: String,
    checked_ms: i64,
    changes: u64,
}

impl StandingCache {
    fn lock(&self) -> std::sync::MutexGuard<'_, crate::FastMap<i64, Kept>> {
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
/// `now_ms` is the caller's reading of braid's clock (one per request).
pub async fn standing_reused(
    state: &AppState,
    account: &AccountId,
    identity: Option<i64>,
    provider: Option<&str>,
    session_made: Option<i64>,
    now_ms: i64,
) -> Result<Result<std::sync::Arc<Standing>, Lost>, AppError> {
    let (Some(id), Some(p)) = (identity, provider) else {
        return Ok(Err(Lost::Unrecorded));
    };
    if !state.providers.snapshot().enabled(p).is_some_and(|p| p.usable()) {
        return Ok(Err(Lost::ProviderOff));
    }
    // Read before the check: a change committed during it makes the entry stale at once.
    let changes = state.accounts.changes();
    if let Some(s) = state.standing.get(id, account, p, now_ms, changes) {
        if ended(&s.account, session_made) {
            return Ok(Err(Lost::SessionsEnded));
        }
        return Ok(Ok(s));
    }
    // Boxed: the SQL check is the rare path (once a second per identity at most), and inline its
    // future would enlarge every proxied request's.
    let checked = match Box::pin(check_all(state, account, identity, provider, session_made)).await? {
        Ok(found) => found,
        Err(lost) => return Ok(Err(lost)),
    };
    let (primary, used) = (checked.primary().cloned(), checked.used().clone());
    let s = std::sync::Arc::new(Standing { account: checked.account, used, primary });
    state.standing.put(id, p, s.clone(), now_ms, changes);
    Ok(Ok(s))
}
