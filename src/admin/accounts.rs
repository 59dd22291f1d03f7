//! Admin operations on accounts, shared by the `braid accounts …` commands: find and show,
//! link, unlink, move, merge, disable, enable, delete. Each change is one store transaction (with
//! its audit event, webhook outbox entry and grant revocation); afterwards the account's browser
//! sessions end.

use std::sync::Arc;

use serde_json::{Value, json};

use crate::accounts::{
    Account, AccountError, AccountId, AccountStore, Actor, ExternalIdentity, Identity, LinkOutcome, Refusal,
    SignInProviders,
};
use crate::clock::SharedClock;
use crate::sessions::SessionStore;

/// What an admin command needs.
pub struct Admin {
    /// The account store.
    pub accounts: Arc<dyn AccountStore>,
    /// The session store (browser sessions are ended there).
    pub sessions: Arc<dyn SessionStore>,
    /// Time.
    pub clock: SharedClock,
    /// Who is acting (recorded in the audit log).
    pub actor: Actor,
    /// The providers whose identities can sign in now (for the last-sign-in guard).
    pub sign_in_providers: SignInProviders,
}

/// Why an admin command failed.
#[derive(Debug, thiserror::Error)]
pub enum AdminError {
    /// Nothing matched.
    #[error("not found: {0}")]
    NotFound(String),
    /// The change breaks a rule; nothing was written.
    #[error("refused: {0}")]
    Refused(String),
    /// A store failed.
    #[error("{0}")]
    Store(String),
}

impl From<AccountError> for AdminError {
    fn from(e: AccountError) -> Self {
        Self::Store(e.to_string())
    }
}

fn refused(r: Refusal) -> AdminError {
    match r {
        Refusal::NotFound => AdminError::NotFound("no such account or identity".into()),
        other => AdminError::Refused(other.to_string()),
    }
}

impl Admin {
    /// The session store must answer before a change: its sessions are ended afterwards.
    async fn ready(&self) -> Result<(), AdminError> {
        self.sessions.ping().await.map_err(|e| AdminError::Store(e.to_string()))
    }

    async fn end_sessions(&self, account: &AccountId) -> Result<usize, AdminError> {
        self.sessions.end_all(account.as_str(), None).await.map_err(|e| AdminError::Store(e.to_string()))
    }

    /// Accounts named by `query`: an account id, an email, or `issuer subject`.
    pub async fn find(&self, query: &[String]) -> Result<Vec<AccountId>, AdminError> {
        match query {
            [issuer, subject] => {
                Ok(self.accounts.find_identity(issuer, subject).await?.map(|i| vec![i.account_id]).unwrap_or_default())
            }
            [one] if one.contains('@') => Ok(self.accounts.accounts_with_email(one).await?),
            [one] => Ok(self.accounts.account(&AccountId(one.clone())).await?.map(|a| vec![a.id]).unwrap_or_default()),
            _ => Err(AdminError::NotFound("give an account id, an email, or an issuer and a subject".into())),
        }
    }

    /// The account, its identities and its audit log, as JSON.
    pub async fn show(&self, id: &AccountId) -> Result<Value, AdminError> {
        let account = self.accounts.account(id).await?.ok_or_else(|| AdminError::NotFound(id.to_string()))?;
        let identities = self.accounts.identities(id).await?;
        let audit = self.accounts.audit(id).await?;
        Ok(json!({ "account": account, "identities": identities, "audit": audit }))
    }

    /// The identity `issuer subject`.
    async fn identity(&self, issuer: &str, subject: &str) -> Result<Identity, AdminError> {
        self.accounts
            .find_identity(issuer, subject)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("identity ({issuer}, {subject})")))
    }

    async fn account(&self, id: &str) -> Result<Account, AdminError> {
        self.accounts
            .account(&AccountId(id.to_owned()))
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("account {id}")))
    }

    /// Link `issuer subject` to `account` (for example to pre-provision an identity).
    pub async fn link(
        &self,
        account: &str,
        issuer: &str,
        subject: &str,
        provider: &str,
        email: Option<String>,
    ) -> Result<String, AdminError> {
        self.ready().await?;
        let account = self.account(account).await?.id;
        let ext = ExternalIdentity {
            issuer: issuer.into(),
            subject: subject.into(),
            email,
            email_verified: false,
            name: None,
            claims: Default::default(),
        };
        match self.accounts.link(&account, provider, &ext, &self.actor, self.clock.now_ms()).await? {
            LinkOutcome::Linked(i) => {
                self.end_sessions(&account).await?;
                Ok(format!("linked ({}, {}) to {account} as identity {}", i.issuer, i.subject, i.id))
            }
            LinkOutcome::AlreadyOnThisAccount(_) => Ok(format!("already linked to {account}; nothing changed")),
            LinkOutcome::OnAnotherAccount => {
                Err(AdminError::Refused("the identity is linked to another account; use `move`".into()))
            }
            LinkOutcome::AccountNotActive => Err(AdminError::Refused("the account is not active".into())),
        }
    }

    /// Unlink `issuer subject` from its account.
    pub async fn unlink(&self, issuer: &str, subject: &str) -> Result<String, AdminError> {
        self.ready().await?;
        let i = self.identity(issuer, subject).await?;
        self.accounts
            .unlink(&i.account_id, i.id, &self.sign_in_providers, &self.actor, self.clock.now_ms())
            .await?
            .map_err(refused)?;
        self.end_sessions(&i.account_id).await?;
        Ok(format!("unlinked ({issuer}, {subject}) from {}", i.account_id))
    }

    /// Move `issuer subject` to account `to`.
    pub async fn move_identity(&self, issuer: &str, subject: &str, to: &str) -> Result<String, AdminError> {
        self.ready().await?;
        let i = self.identity(issuer, subject).await?;
        let to = AccountId(to.to_owned());
        let from = self
            .accounts
            .move_identity(i.id, &to, &self.sign_in_providers, &self.actor, self.clock.now_ms())
            .await?
            .map_err(refused)?;
        self.end_sessions(&from).await?;
        self.end_sessions(&to).await?;
        Ok(format!("moved ({issuer}, {subject}) from {from} to {to}"))
    }

    /// Merge account `from` into `into`.
    pub async fn merge(&self, from: &str, into: &str) -> Result<String, AdminError> {
        self.ready().await?;
        let (from, into) = (AccountId(from.to_owned()), AccountId(into.to_owned()));
        let n = self.accounts.merge(&from, &into, &self.actor, self.clock.now_ms()).await?.map_err(refused)?;
        self.end_sessions(&from).await?;
        self.end_sessions(&into).await?;
        Ok(format!("merged {from} into {into}: {n} identities moved; {from} is refused from now on"))
    }

    /// Disable or enable an account.
    pub async fn set_disabled(&self, account: &str, disabled: bool) -> Result<String, AdminError> {
        self.ready().await?;
        let id = AccountId(account.to_owned());
        self.accounts.set_disabled(&id, disabled, &self.actor, self.clock.now_ms()).await?.map_err(refused)?;
        self.end_sessions(&id).await?;
        Ok(format!("{} {id}", if disabled { "disabled" } else { "enabled" }))
    }

    /// Delete an account and its identities.
    pub async fn delete(&self, account: &str) -> Result<String, AdminError> {
        self.ready().await?;
        let id = AccountId(account.to_owned());
        self.accounts.delete(&id, &self.actor, self.clock.now_ms()).await?.map_err(refused)?;
        self.end_sessions(&id).await?;
        Ok(format!("deleted {id} and its identities"))
    }
}
