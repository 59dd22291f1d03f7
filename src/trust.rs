//! Trust re-checked after it is granted: before single sign-on answers, before a code is issued
//! or redeemed, and at every refresh, the identity the person signed in with must still be on
//! the same account and allowed to sign in, its provider must still exist, be enabled and allow
//! sign-in, and the account must be active. A session or grant that fails any of these is over.

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
        }
    }
}

/// Check that `identity` (through `provider`) may still sign in to `account`; returns the
/// account when it may. Store failures are errors (fail closed), never a pass.
pub async fn check(
    state: &AppState,
    account: &AccountId,
    identity: Option<i64>,
    provider: Option<&str>,
) -> Result<Result<Account, Lost>, AppError> {
    Ok(standing(state, account, identity, provider).await?.map(|(a, _)| a))
}

/// As [`check`], returning the identity used as well (forward-auth reads its email).
pub async fn standing(
    state: &AppState,
    account: &AccountId,
    identity: Option<i64>,
    provider: Option<&str>,
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
        Some(a) if a.status == AccountStatus::Active => Ok(Ok((a, found))),
        _ => Ok(Err(Lost::AccountNotActive)),
    }
}
