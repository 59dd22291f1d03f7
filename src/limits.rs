//! Rate limits on the unauthenticated, costly paths (`[limits]`): starting upstream sign-ins per
//! client address and per provider, callbacks and SAML posts per client address, `/token`
//! failures per client, `/account` changes per account, admin API failures per client address,
//! and the sign-ins a browser may have under way at once. Budgets are GCRA buckets kept in the
//! session store (`SessionStore::throttle`), so with Redis every replica spends from one budget.
//! Over a limit: 429 with `Retry-After`, a page for people and JSON for clients.

use serde::Deserialize;

use crate::error::AppError;
use crate::state::AppState;

/// `[limits]`: events per minute, each a bucket that holds as many as it refills in a minute.
/// 0 turns a limit off. The defaults are far above what a person does.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct LimitSettings {
    /// Upstream sign-ins started (`/authorize`, `/login/{provider}`, `/auth/start`) per client address.
    pub sign_in_starts_per_minute: u32,
    /// Upstream sign-ins started per provider (all clients together).
    pub provider_starts_per_minute: u32,
    /// Upstream callbacks and SAML ACS posts per client address.
    pub callbacks_per_minute: u32,
    /// Failed `/token` requests per client id.
    pub token_failures_per_minute: u32,
    /// `/account` changes per account.
    pub account_changes_per_minute: u32,
    /// Refused admin API calls (no valid token) per client address.
    pub admin_failures_per_minute: u32,
    /// Sign-ins one browser may have under way at once (older ones are dropped).
    pub pending_sign_ins_per_browser: u32,
}

impl Default for LimitSettings {
    fn default() -> Self {
        Self {
            sign_in_starts_per_minute: 300,
            provider_starts_per_minute: 3000,
            callbacks_per_minute: 300,
            token_failures_per_minute: 30,
            account_changes_per_minute: 30,
            admin_failures_per_minute: 20,
            pending_sign_ins_per_browser: 5,
        }
    }
}

impl LimitSettings {
    /// Problems with the values: (key, reason).
    pub fn check(&self) -> Vec<(String, String)> {
        let mut bad = Vec::new();
        if self.pending_sign_ins_per_browser == 0 || self.pending_sign_ins_per_browser > 20 {
            bad.push((
                "limits.pending_sign_ins_per_browser".into(),
                "must be between 1 and 20 (each one is carried in the browser's login cookie)".into(),
            ));
        }
        bad
    }
}

/// What a budget is kept for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    /// Upstream sign-ins started, per client address.
    SignInStart,
    /// Upstream sign-ins started, per provider.
    ProviderStart,
    /// Callbacks and SAML posts, per client address.
    Callback,
    /// Failed `/token` requests, per client id.
    TokenFailure,
    /// `/account` changes, per account.
    AccountChange,
    /// Refused admin API calls, per client address.
    AdminFailure,
}

impl Kind {
    fn name(self) -> &'static str {
        match self {
            Self::SignInStart => "start",
            Self::ProviderStart => "provider",
            Self::Callback => "callback",
            Self::TokenFailure => "token",
            Self::AccountChange => "account",
            Self::AdminFailure => "admin",
        }
    }

    fn per_minute(self, s: &LimitSettings) -> u32 {
        match self {
            Self::SignInStart => s.sign_in_starts_per_minute,
            Self::ProviderStart => s.provider_starts_per_minute,
            Self::Callback => s.callbacks_per_minute,
            Self::TokenFailure => s.token_failures_per_minute,
            Self::AccountChange => s.account_changes_per_minute,
            Self::AdminFailure => s.admin_failures_per_minute,
        }
    }

    /// Whether over-limit answers are JSON (clients) rather than pages (people).
    fn json(self) -> bool {
        matches!(self, Self::TokenFailure)
    }
}

/// Spend one unit of `kind`'s budget for `who` (`spend`), or only look whether one is left.
/// Over the limit: `AppError::Limited`. A store that cannot answer fails closed (503).
pub async fn check(state: &AppState, kind: Kind, who: &str, spend: bool) -> Result<(), AppError> {
    let per_minute = kind.per_minute(&state.settings.limits);
    if per_minute == 0 {
        return Ok(());
    }
    // The budget's key names no address or id in the store.
    let key = format!("rl:{}:{}", kind.name(), &crate::ids::sha256_b64(who.as_bytes())[..22]);
    let interval_ms = (60_000 / i64::from(per_minute)).max(1);
    let wait = state.records.store().throttle(&key, state.clock.now_ms(), interval_ms, per_minute, spend).await?;
    if wait == 0 {
        return Ok(());
    }
    let retry_after_secs = u64::try_from((wait + 999) / 1000).unwrap_or(1).max(1);
    tracing::warn!(limit = kind.name(), retry_after_secs, "rate limit reached; refused");
    Err(AppError::Limited { retry_after_secs, json: kind.json() })
}

/// The client address used as a budget key (`unknown` when the peer is not known).
pub fn address(ip: &Option<String>) -> &str {
    ip.as_deref().unwrap_or("unknown")
}
