//! `braid accounts …`: the command-line face of the admin account operations
//! (`admin::accounts`), against the stores a running braid uses.

use std::process::ExitCode;
use std::sync::Arc;

use clap::Subcommand;

use super::accounts::{Admin, AdminError};
use crate::accounts::{AccountId, ExternalIdentity};
use crate::config::Settings;

/// The `accounts` subcommands.
#[derive(Debug, Subcommand)]
pub enum AccountsCommand {
    /// Show accounts by account id, by email, or by issuer and subject.
    Show {
        /// `<account>`, `<email>` or `<issuer> <subject>`.
        #[arg(required = true, num_args = 1..=2)]
        query: Vec<String>,
    },
    /// Link an identity to an account.
    Link {
        /// The account.
        account: String,
        /// The identity's issuer.
        issuer: String,
        /// The identity's subject.
        subject: String,
        /// The provider id recorded on the identity.
        #[arg(long, default_value = "admin")]
        provider: String,
        /// The identity's email (recorded unverified).
        #[arg(long)]
        email: Option<String>,
    },
    /// Unlink an identity from its account.
    Unlink {
        /// The identity's issuer.
        issuer: String,
        /// The identity's subject.
        subject: String,
    },
    /// Move an identity put on the wrong account to another one.
    Move {
        /// The identity's issuer.
        issuer: String,
        /// The identity's subject.
        subject: String,
        /// The account it moves to.
        to: String,
    },
    /// Move every identity of <from> to <into>; <from> is marked merged and its sub refused.
    Merge {
        /// The account that ends.
        from: String,
        /// The account that stays.
        into: String,
    },
    /// Disable an account: it cannot sign in, its sessions and refresh tokens end.
    Disable {
        /// The account.
        account: String,
    },
    /// Enable a disabled account again.
    Enable {
        /// The account.
        account: String,
    },
    /// Delete an account and its identities.
    Delete {
        /// The account.
        account: String,
        /// Confirm the deletion.
        #[arg(long)]
        yes: bool,
    },
}

/// The exit code for an admin error: 3 not found, 4 store, 1 refused.
pub fn exit_code(e: &AdminError) -> ExitCode {
    match e {
        AdminError::NotFound(_) => ExitCode::from(3),
        AdminError::Store(_) => ExitCode::from(4),
        AdminError::Refused(_) | AdminError::Rule(_) | AdminError::AlreadyLinked => ExitCode::from(1),
    }
}

fn report(result: Result<String, AdminError>) -> ExitCode {
    match result {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("braid: {e}");
            exit_code(&e)
        }
    }
}

/// Run one `accounts` command with `settings`' stores.
pub fn run(settings: &Settings, command: AccountsCommand) -> ExitCode {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        eprintln!("braid: cannot start the runtime");
        return ExitCode::FAILURE;
    };
    runtime.block_on(async move {
        let admin = match open(settings, matches!(command, AccountsCommand::Show { .. })).await {
            Ok(a) => a,
            Err(code) => return code,
        };
        report(execute(&admin, command).await)
    })
}

/// The admin service over `settings`' stores. A change needs sessions in Redis (they are ended
/// there); with in-memory sessions only reading (`read_only`) is allowed.
async fn open(settings: &Settings, read_only: bool) -> Result<Admin, ExitCode> {
    let db = crate::db::Db::connect(&settings.store.accounts).await.map_err(|e| {
        eprintln!("braid: account store {}: {e}", crate::startup::redact(&settings.store.accounts));
        ExitCode::FAILURE
    })?;
    let clock: crate::clock::SharedClock = Arc::new(crate::clock::SystemClock);
    let sessions: Arc<dyn crate::sessions::SessionStore> = if settings.store.sessions == "memory" {
        // A change must end the account's sessions, and these live in the running braid's
        // memory, out of this command's reach: refused rather than leave them signed in.
        if !read_only {
            eprintln!(
                "braid: refused: sessions are kept in the memory of the running braid (`[store] sessions = \"memory\"`), \
                 where this command cannot end them; keep sessions in Redis to manage accounts from the command line, \
                 or use the admin API of the running braid"
            );
            return Err(ExitCode::from(1));
        }
        Arc::new(crate::sessions::MemorySessionStore::new(clock.clone()))
    } else {
        let s = crate::sessions::RedisSessionStore::connect(
            &settings.store.sessions,
            &settings.store.redis_key_prefix,
            std::time::Duration::from_millis(settings.store.redis_timeout_ms),
        )
        .await
        .map_err(|e| {
            eprintln!("braid: session store {}: {e}", crate::startup::redact(&settings.store.sessions));
            ExitCode::FAILURE
        })?;
        Arc::new(s)
    };
    let (registry, _) = crate::upstream::ProviderRegistry::load(
        &settings.providers.dir,
        crate::upstream::RegistryPolicy::from_settings(settings),
    );
    let who = std::env::var("USER").unwrap_or_else(|_| "cli".into());
    Ok(Admin {
        accounts: Arc::new(crate::accounts::SqlAccountStore::new(db.clone())),
        grants: Arc::new(crate::issuer::grants::SqlGrantStore::new(db)),
        sessions,
        clock,
        actor: crate::accounts::Actor::admin(&who),
        sign_in_providers: registry.snapshot().sign_in_providers(),
    })
}

async fn execute(admin: &Admin, command: AccountsCommand) -> Result<String, AdminError> {
    match command {
        AccountsCommand::Show { query } => {
            let ids = admin.find(&query).await?;
            if ids.is_empty() {
                return Err(AdminError::NotFound(query.join(" ")));
            }
            let mut out = Vec::new();
            for id in ids {
                out.push(admin.show(&id).await?);
            }
            serde_json::to_string_pretty(&out).map_err(|e| AdminError::Store(e.to_string()))
        }
        AccountsCommand::Link { account, issuer, subject, provider, email } => {
            let account = AccountId(account);
            let ext = ExternalIdentity {
                issuer,
                subject,
                email,
                email_verified: false,
                name: None,
                claims: Default::default(),
            };
            match admin.link(&account, &provider, &ext).await? {
                (i, true) => Ok(format!("linked ({}, {}) to {account} as identity {}", i.issuer, i.subject, i.id)),
                (_, false) => Ok(format!("already linked to {account}; nothing changed")),
            }
        }
        AccountsCommand::Unlink { issuer, subject } => {
            let i = admin.identity_by_key(&issuer, &subject).await?;
            admin.unlink(i.id).await?;
            Ok(format!("unlinked ({issuer}, {subject}) from {}", i.account_id))
        }
        AccountsCommand::Move { issuer, subject, to } => {
            let i = admin.identity_by_key(&issuer, &subject).await?;
            let to = AccountId(to);
            let from = admin.move_identity(i.id, &to).await?;
            Ok(format!("moved ({issuer}, {subject}) from {from} to {to}"))
        }
        AccountsCommand::Merge { from, into } => {
            let (from, into) = (AccountId(from), AccountId(into));
            let n = admin.merge(&from, &into).await?;
            Ok(format!("merged {from} into {into}: {n} identities moved; {from} is refused from now on"))
        }
        AccountsCommand::Disable { account } => {
            let id = AccountId(account);
            admin.set_disabled(&id, true).await?;
            Ok(format!("disabled {id}"))
        }
        AccountsCommand::Enable { account } => {
            let id = AccountId(account);
            admin.set_disabled(&id, false).await?;
            Ok(format!("enabled {id}"))
        }
        AccountsCommand::Delete { account, yes } => {
            if !yes {
                return Err(AdminError::Refused("add --yes to delete the account and its identities".into()));
            }
            let id = AccountId(account);
            admin.delete(&id).await?;
            Ok(format!("deleted {id} and its identities"))
        }
    }
}
