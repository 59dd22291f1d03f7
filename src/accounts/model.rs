//! Types of the account model (DESIGN.md §2).

use serde::{Deserialize, Serialize};
use std::fmt;

use crate::clock::UnixMillis;

/// An account id: opaque, random, never reused; the `sub` of braid's tokens.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct AccountId(pub String);

impl AccountId {
    /// A fresh random account id (128 bits, base32, lower case).
    pub fn generate() -> Self {
        Self(format!("a{}", crate::ids::random_base32(16)))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for AccountId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// Whether an account may be used.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub enum AccountStatus {
    /// Signs in normally.
    Active,
    /// Refused everywhere.
    Disabled,
    /// Merged into another account; its `sub` is refused from then on.
    MergedInto(AccountId),
}

impl AccountStatus {
    /// The text stored in the database: `active`, `disabled` or `merged_into:<id>`.
    pub fn to_db(&self) -> String {
        match self {
            Self::Active => "active".into(),
            Self::Disabled => "disabled".into(),
            Self::MergedInto(id) => format!("merged_into:{id}"),
        }
    }

    /// Parse the stored text.
    pub fn from_db(s: &str) -> Option<Self> {
        match s {
            "active" => Some(Self::Active),
            "disabled" => Some(Self::Disabled),
            _ => s
                .strip_prefix("merged_into:")
                .filter(|id| !id.is_empty())
                .map(|id| Self::MergedInto(AccountId(id.to_owned()))),
        }
    }
}

/// An account.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Account {
    /// The account id (token `sub`).
    pub id: AccountId,
    /// Active, disabled or merged.
    pub status: AccountStatus,
    /// The identity whose email and name feed the `email` and `name` claims.
    pub primary_identity: Option<i64>,
    /// When the account was made.
    pub created_at: UnixMillis,
    /// Browser sessions made at or before this instant (ms) are over: set by every change that
    /// ends the account's sessions, in the change's transaction (0: none yet). Internal: not
    /// part of the admin API's account.
    #[serde(skip)]
    pub sessions_valid_after: UnixMillis,
}

/// An upstream identity linked to an account. Its key is (issuer, subject).
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Identity {
    /// Store-assigned id of this link.
    pub id: i64,
    /// Upstream issuer.
    pub issuer: String,
    /// Upstream subject.
    pub subject: String,
    /// The provider (file id) it was last seen through.
    pub provider_id: String,
    /// The account it belongs to.
    pub account_id: AccountId,
    /// Email as the upstream gave it.
    pub email: Option<String>,
    /// Whether the upstream said that email is verified.
    pub email_verified: bool,
    /// Display name.
    pub name: Option<String>,
    /// Whether this identity may be used to sign in.
    pub can_sign_in: bool,
    /// When it was linked.
    pub linked_at: UnixMillis,
    /// Last sign-in with it.
    pub last_login_at: Option<UnixMillis>,
    /// The claims of its last sign-in.
    pub last_claims: serde_json::Value,
}

/// What an upstream protocol hands on after a successful sign-in; nothing past `upstream/`
/// knows which protocol made it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExternalIdentity {
    /// Upstream issuer.
    pub issuer: String,
    /// Upstream subject.
    pub subject: String,
    /// Email, if given.
    pub email: Option<String>,
    /// Whether the upstream asserted that `email` is verified.
    pub email_verified: bool,
    /// Display name, if given.
    pub name: Option<String>,
    /// Claims kept from the upstream.
    pub claims: serde_json::Map<String, serde_json::Value>,
}

/// The outcome of resolving an identity.
#[derive(Debug, Clone, PartialEq)]
pub struct Resolved {
    /// The account.
    pub account: Account,
    /// The identity, as stored after this sign-in.
    pub identity: Identity,
    /// Whether this call made the account.
    pub created: bool,
    /// Whether this call also wrote the sign-in's `identity.signed_in` audit row (in the same
    /// transaction as the last-login update), so the caller must not write it again.
    pub audited: bool,
}

/// Who made a change, and from where; recorded in the audit log.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Actor {
    /// `account:<id>` for a person on their own account, `admin:<name>`, or `system`.
    pub who: String,
    /// The client address, when the change came over HTTP.
    pub ip: Option<String>,
    /// What the actor saw: the change is made only while this account is still at this version
    /// (an admin's `If-Match`, checked under the account's lock); otherwise it is refused with
    /// [`Refusal::Changed`] and nothing is written.
    pub expect: Option<(AccountId, i64)>,
}

impl Actor {
    /// A person acting on their own account.
    pub fn person(account: &AccountId, ip: Option<String>) -> Self {
        Self { who: format!("account:{account}"), ip, expect: None }
    }

    /// An administrator (the CLI or the admin API).
    pub fn admin(name: &str) -> Self {
        Self { who: format!("admin:{name}"), ip: None, expect: None }
    }

    /// The version this actor expects `account` to be at, if it named one.
    pub fn expects(&self, account: &AccountId) -> Option<i64> {
        self.expect.as_ref().filter(|(a, _)| a == account).map(|(_, v)| *v)
    }
}

/// The providers whose identities can sign in now (they exist, are enabled and allow sign-in).
/// The "last identity that can sign in" guard counts only identities of these: an identity of a
/// disabled or removed provider is no way in.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SignInProviders(pub Vec<String>);

impl SignInProviders {
    /// From provider ids.
    pub fn new<I: IntoIterator<Item = S>, S: Into<String>>(ids: I) -> Self {
        Self(ids.into_iter().map(Into::into).collect())
    }
}

/// The outcome of linking an identity to an account.
#[derive(Debug, Clone, PartialEq)]
pub enum LinkOutcome {
    /// Linked now.
    Linked(Identity),
    /// Already on this account: nothing changed.
    AlreadyOnThisAccount(Identity),
    /// On another account: refused, nothing moved.
    OnAnotherAccount,
    /// The account is missing or not active.
    AccountNotActive,
    /// The account changed since the actor read it (a stale `If-Match`): nothing was linked.
    Changed,
}

/// Why a change was refused (nothing was written).
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    /// No such account or identity (or the identity is not on that account).
    #[error("no such account or identity")]
    NotFound,
    /// The account is disabled or merged.
    #[error("the account is not active")]
    NotActive,
    /// It is the last identity that can sign in.
    #[error("it is the last identity that can sign in")]
    LastSignIn,
    /// It is the primary identity: choose another primary first.
    #[error("it is the primary identity; choose another primary first")]
    Primary,
    /// Both sides are the same account.
    #[error("both sides are the same account")]
    SameAccount,
    /// The account changed since the actor read it (its `If-Match` is stale).
    #[error("the account changed since it was read")]
    Changed,
}

/// One entry of the audit log.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct AuditEvent {
    /// Sequence number.
    pub id: i64,
    /// When (ms).
    pub at: UnixMillis,
    /// Who.
    pub actor: String,
    /// From which address.
    pub ip: Option<String>,
    /// What: `identity.linked`, `identity.unlinked`, `identity.moved`, `account.merged`, …, and
    /// for the catalog `provider.created`, `client.secret_rotated`, …
    pub action: String,
    /// The account it concerns (empty for a provider or client change).
    pub account_id: String,
    /// The other account (move, merge).
    pub other_account_id: Option<String>,
    /// The identity's issuer.
    pub issuer: Option<String>,
    /// The identity's subject.
    pub subject: Option<String>,
    /// For a provider or client change: its id.
    pub target: Option<String>,
}

/// The `target` recorded in an audit event's `detail` JSON.
pub fn audit_target(detail: &str) -> Option<String> {
    serde_json::from_str::<serde_json::Value>(detail).ok()?.get("target")?.as_str().map(str::to_owned)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn status_round_trips_through_its_stored_text() {
        for s in [AccountStatus::Active, AccountStatus::Disabled, AccountStatus::MergedInto(AccountId("abc".into()))] {
            assert_eq!(AccountStatus::from_db(&s.to_db()), Some(s));
        }
        assert_eq!(AccountStatus::from_db("merged_into:"), None);
        assert_eq!(AccountStatus::from_db("bogus"), None);
    }

    #[test]
    fn generated_account_ids_are_distinct_and_opaque() {
        let a = AccountId::generate();
        let b = AccountId::generate();
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 1 + 26);
    }
}
