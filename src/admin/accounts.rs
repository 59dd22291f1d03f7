//! Admin operations on accounts, shared by the `braid accounts …` commands and the admin API:
//! find, search and show, link, unlink, move, switch sign-in or primary, merge, disable, enable,
//! delete, and an account's sessions. Each change is one store transaction (with its audit
//! event, webhook outbox entry and grant revocation); afterwards the account's browser sessions
//! end.

use std::sync::Arc;

use serde::Serialize;
use serde_json::{Value, json};

use crate::accounts::{
    Account, AccountError, AccountId, AccountQuery, AccountStore, Actor, AuditEvent, AuditQuery, ExternalIdentity,
    Identity, LinkOutcome, Refusal, SignInProviders,
};
use crate::clock::SharedClock;
use crate::issuer::grants::GrantStore;
use crate::sessions::SessionStore;

/// What an admin command needs.
pub struct Admin {
    /// The account store.
    pub accounts: Arc<dyn AccountStore>,
    /// Refresh-token grants (listed and ended with an account's sessions).
    pub grants: Arc<dyn GrantStore>,
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
    /// The request itself is refused (a missing confirmation, a bad argument); nothing was written.
    #[error("refused: {0}")]
    Refused(String),
    /// A rule of the account model refused the change; nothing was written.
    #[error("refused: {0}")]
    Rule(Refusal),
    /// The identity is linked to another account.
    #[error("refused: the identity is linked to another account; move it instead")]
    AlreadyLinked,
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
        other => AdminError::Rule(other),
    }
}

/// An account with its identities.
#[derive(Debug, Clone, Serialize)]
pub struct AccountView {
    /// The account.
    pub account: Account,
    /// Its identities, oldest link first.
    pub identities: Vec<Identity>,
}

/// A live browser session of an account, as an admin sees it (never its id, which is a
/// credential: the hash it is stored under).
#[derive(Debug, Clone, Serialize)]
pub struct SessionView {
    /// The hash the session is stored under.
    pub id: String,
    /// The provider it signed in through.
    pub provider_id: String,
    /// The issuer of the identity used.
    pub idp: String,
    /// The identity used (store id).
    pub identity_id: i64,
    /// When the person authenticated (seconds), when known.
    pub auth_time: Option<i64>,
}

/// A live refresh-token grant of an account.
#[derive(Debug, Clone, Serialize)]
pub struct GrantView {
    /// Grant id.
    pub id: String,
    /// The client.
    pub client_id: String,
    /// Granted scope.
    pub scope: String,
    /// The session it came from (`sid`).
    pub sid: String,
    /// Created (ms).
    pub created_at: i64,
    /// Ends (ms).
    pub expires_at: i64,
}

/// What ending an account's sessions ended.
#[derive(Debug, Clone, Copy, Serialize)]
pub struct Ended {
    /// Browser sessions ended.
    pub sessions: usize,
    /// Refresh-token grants revoked.
    pub grants: u64,
}

impl Admin {
    /// This service, making its changes only while `account` is still at `version` (what an
    /// `If-Match` matched): a change made meanwhile makes them fail with [`Refusal::Changed`].
    pub fn expecting(mut self, account: &AccountId, version: i64) -> Self {
        self.actor.expect = Some((account.clone(), version));
        self
    }

    /// The version of account `id` (raised by every change of it or its links).
    pub async fn version(&self, id: &AccountId) -> Result<i64, AdminError> {
        self.accounts.account_version(id).await?.ok_or_else(|| AdminError::NotFound(format!("account {id}")))
    }

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
            _ => Err(AdminError::Refused("give an account id, an email, or an issuer and a subject".into())),
        }
    }

    /// Up to `limit` accounts matching `q` after account id `after`, each with its identities.
    pub async fn search(
        &self,
        q: &AccountQuery,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<AccountView>, AdminError> {
        let mut out = Vec::new();
        for account in self.accounts.search(q, after, limit).await? {
            let identities = self.accounts.identities(&account.id).await?;
            out.push(AccountView { account, identities });
        }
        Ok(out)
    }

    /// The account `id` with its identities.
    pub async fn view(&self, id: &AccountId) -> Result<AccountView, AdminError> {
        let account = self.accounts.account(id).await?.ok_or_else(|| AdminError::NotFound(format!("account {id}")))?;
        let identities = self.accounts.identities(id).await?;
        Ok(AccountView { account, identities })
    }

    /// The account, its identities and its audit log, as JSON.
    pub async fn show(&self, id: &AccountId) -> Result<Value, AdminError> {
        let view = self.view(id).await?;
        let audit = self.accounts.audit(id).await?;
        Ok(json!({ "account": view.account, "identities": view.identities, "audit": audit }))
    }

    /// Audit events matching `q` below event id `before`, newest first.
    pub async fn audit(&self, q: &AuditQuery, before: Option<i64>, limit: u32) -> Result<Vec<AuditEvent>, AdminError> {
        Ok(self.accounts.audit_page(q, before, limit).await?)
    }

    /// The identity with store id `id`.
    pub async fn identity(&self, id: i64) -> Result<Identity, AdminError> {
        self.accounts.identity(id).await?.ok_or_else(|| AdminError::NotFound(format!("identity {id}")))
    }

    /// The identity `issuer subject`.
    pub async fn identity_by_key(&self, issuer: &str, subject: &str) -> Result<Identity, AdminError> {
        self.accounts
            .find_identity(issuer, subject)
            .await?
            .ok_or_else(|| AdminError::NotFound(format!("identity ({issuer}, {subject})")))
    }

    /// Link `ext` (through provider `provider`) to `account`: the identity, and whether it was
    /// linked now (`false`: it already was, on this account).
    pub async fn link(
        &self,
        account: &AccountId,
        provider: &str,
        ext: &ExternalIdentity,
    ) -> Result<(Identity, bool), AdminError> {
        self.ready().await?;
        self.view(account).await?;
        match self.accounts.link(account, provider, ext, &self.actor, self.clock.now_ms()).await? {
            LinkOutcome::Linked(i) => {
                self.end_sessions(account).await?;
                Ok((i, true))
            }
            LinkOutcome::AlreadyOnThisAccount(i) => Ok((i, false)),
            LinkOutcome::OnAnotherAccount => Err(AdminError::AlreadyLinked),
            LinkOutcome::AccountNotActive => Err(AdminError::Rule(Refusal::NotActive)),
            LinkOutcome::Changed => Err(AdminError::Rule(Refusal::Changed)),
        }
    }

    /// Unlink identity `id` from its account; returns it.
    pub async fn unlink(&self, id: i64) -> Result<Identity, AdminError> {
        self.ready().await?;
        let i = self.identity(id).await?;
        let gone = self
            .accounts
            .unlink(&i.account_id, i.id, &self.sign_in_providers, &self.actor, self.clock.now_ms())
            .await?
            .map_err(refused)?;
        self.end_sessions(&i.account_id).await?;
        Ok(gone)
    }

    /// Move identity `id` to account `to`; returns the account it came from.
    pub async fn move_identity(&self, id: i64, to: &AccountId) -> Result<AccountId, AdminError> {
        self.ready().await?;
        let from = self
            .accounts
            .move_identity(id, to, &self.sign_in_providers, &self.actor, self.clock.now_ms())
            .await?
            .map_err(refused)?;
        self.end_sessions(&from).await?;
        self.end_sessions(to).await?;
        Ok(from)
    }

    /// Allow or forbid sign-in with identity `id`, and/or make it its account's primary.
    pub async fn update_identity(
        &self,
        id: i64,
        can_sign_in: Option<bool>,
        primary: bool,
    ) -> Result<Identity, AdminError> {
        self.ready().await?;
        let i = self.identity(id).await?;
        self.accounts
            .update_identity(
                &i.account_id,
                i.id,
                can_sign_in,
                primary,
                &self.sign_in_providers,
                &self.actor,
                self.clock.now_ms(),
            )
            .await?
            .map_err(refused)?;
        self.end_sessions(&i.account_id).await?;
        self.identity(id).await
    }

    /// Merge account `from` into `into`; returns how many identities moved.
    pub async fn merge(&self, from: &AccountId, into: &AccountId) -> Result<usize, AdminError> {
        self.ready().await?;
        let n = self.accounts.merge(from, into, &self.actor, self.clock.now_ms()).await?.map_err(refused)?;
        self.end_sessions(from).await?;
        self.end_sessions(into).await?;
        Ok(n)
    }

    /// Disable or enable an account.
    pub async fn set_disabled(&self, id: &AccountId, disabled: bool) -> Result<(), AdminError> {
        self.ready().await?;
        self.accounts.set_disabled(id, disabled, &self.actor, self.clock.now_ms()).await?.map_err(refused)?;
        self.end_sessions(id).await?;
        Ok(())
    }

    /// Delete an account and its identities.
    pub async fn delete(&self, id: &AccountId) -> Result<(), AdminError> {
        self.ready().await?;
        self.accounts.delete(id, &self.actor, self.clock.now_ms()).await?.map_err(refused)?;
        self.end_sessions(id).await?;
        Ok(())
    }

    /// The live browser sessions and refresh-token grants of account `id`.
    pub async fn sessions(&self, id: &AccountId) -> Result<(Vec<SessionView>, Vec<GrantView>), AdminError> {
        self.view(id).await?;
        let store = |e: crate::sessions::StoreError| AdminError::Store(e.to_string());
        let mut sessions = Vec::new();
        for key in self.sessions.index_members(id.as_str()).await.map_err(store)? {
            let Some(bytes) = self.sessions.get(&key).await.map_err(store)? else { continue };
            let Ok(s) = serde_json::from_slice::<crate::records::BrowserSession>(&bytes) else { continue };
            let Some(hash) = key.strip_prefix("sess:") else { continue };
            sessions.push(SessionView {
                id: hash.to_owned(),
                provider_id: s.provider_id,
                idp: s.idp,
                identity_id: s.identity_id,
                auth_time: s.auth_time,
            });
        }
        let grants = self
            .grants
            .live_for_account(id, self.clock.now_ms())
            .await?
            .into_iter()
            .map(|g| GrantView {
                id: g.id,
                client_id: g.client_id,
                scope: g.scope,
                sid: g.sid,
                created_at: g.created_at,
                expires_at: g.expires_at,
            })
            .collect();
        Ok((sessions, grants))
    }

    /// End every browser session and revoke every refresh-token grant of account `id`.
    pub async fn end_all(&self, id: &AccountId) -> Result<Ended, AdminError> {
        self.ready().await?;
        self.view(id).await?;
        let sessions = self.end_sessions(id).await?;
        let grants = self.grants.revoke_account(id, self.clock.now_ms()).await?;
        Ok(Ended { sessions, grants })
    }
}
