//! The `braid providers …` and `braid clients …` commands: clap subcommands that call the
//! catalog service directly (not over HTTP). Exit codes as the accounts commands: 0 ok,
//! 1 refused, 2 bad input, 3 not found, 4 store.

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;

use clap::Subcommand;
use serde_json::Value;

use super::{Catalog, CatalogError};
use crate::config::Settings;

/// `braid providers …`
#[derive(Debug, Subcommand)]
pub enum ProvidersCommand {
    /// List every provider (files and the admin catalog) as JSON.
    List,
    /// Add a provider to the admin catalog from a TOML or JSON file with the keys of a provider
    /// file (its id: --id, else the file's `id`, else the file stem).
    Add {
        /// The definition (`.toml` or `.json`).
        file: PathBuf,
        /// The provider id.
        #[arg(long)]
        id: Option<String>,
    },
    /// Remove a provider from the admin catalog.
    Remove {
        /// The provider id.
        id: String,
        /// Only if it is still at this version.
        #[arg(long)]
        version: Option<i64>,
    },
    /// Reach a provider's discovery document or IdP metadata now.
    Check {
        /// The provider id.
        id: String,
    },
}

/// `braid clients …`
#[derive(Debug, Subcommand)]
pub enum ClientsCommand {
    /// List every client (braid.toml and the admin catalog) as JSON, without secrets.
    List,
    /// Add a client to the admin catalog from a TOML or JSON file (`redirect_uris`,
    /// `post_logout_redirect_uris`, `name`, `public`); prints its secret once.
    Add {
        /// The definition (`.toml` or `.json`).
        file: PathBuf,
        /// The client id (else the file's `id`, else the file stem).
        #[arg(long)]
        id: Option<String>,
    },
    /// Remove a client from the admin catalog and revoke its refresh tokens.
    Remove {
        /// The client id.
        id: String,
        /// Only if it is still at this version.
        #[arg(long)]
        version: Option<i64>,
    },
    /// Give a client a new secret (printed once); the old one stops working.
    RotateSecret {
        /// The client id.
        id: String,
    },
}

/// Why a command failed, with its exit code.
enum Failure {
    Input(String),
    Catalog(CatalogError),
}

impl From<CatalogError> for Failure {
    fn from(e: CatalogError) -> Self {
        Self::Catalog(e)
    }
}

fn exit(result: Result<String, Failure>) -> ExitCode {
    match result {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(Failure::Input(e)) => {
            eprintln!("braid: {e}");
            ExitCode::from(2)
        }
        Err(Failure::Catalog(e)) => {
            let code = match &e {
                CatalogError::Invalid { .. } => 2,
                CatalogError::NotFound => 3,
                CatalogError::Store(_) => 4,
                CatalogError::FromFile
                | CatalogError::Exists
                | CatalogError::VersionMismatch
                | CatalogError::Unreachable(_) => 1,
            };
            match &e {
                CatalogError::FromFile => eprintln!("braid: refused: {e}"),
                CatalogError::Exists | CatalogError::VersionMismatch | CatalogError::Unreachable(_) => {
                    eprintln!("braid: refused: {e}")
                }
                _ => eprintln!("braid: {e}"),
            }
            ExitCode::from(code)
        }
    }
}

/// Read a definition file (TOML, or JSON when it ends in `.json`); returns it and the id it names.
fn read_definition(path: &Path, id: Option<String>) -> Result<(String, Value), Failure> {
    let text =
        std::fs::read_to_string(path).map_err(|e| Failure::Input(format!("cannot read {}: {e}", path.display())))?;
    let mut def: Value = if path.extension().is_some_and(|x| x == "json") {
        serde_json::from_str(&text).map_err(|e| Failure::Input(format!("{}: {e}", path.display())))?
    } else {
        let t: toml::Value = toml::from_str(&text).map_err(|e| Failure::Input(format!("{}: {e}", path.display())))?;
        serde_json::to_value(t).map_err(|e| Failure::Input(format!("{}: {e}", path.display())))?
    };
    let named = def.get("id").and_then(Value::as_str).map(str::to_owned);
    let stem = path.file_stem().and_then(|s| s.to_str()).map(str::to_owned);
    let id = id.or(named).or(stem).ok_or_else(|| Failure::Input("give the id with --id".into()))?;
    Ok((id, def.take()))
}

/// The catalog as the running braid sees it: the same database, provider files and clients.
async fn open(settings: &Settings) -> Result<Catalog, Failure> {
    let db = crate::db::Db::connect(&settings.store.accounts).await.map_err(|e| {
        Failure::Catalog(CatalogError::Store(format!(
            "account store {}: {e}",
            crate::startup::redact(&settings.store.accounts)
        )))
    })?;
    let (registry, _) = crate::upstream::ProviderRegistry::load(
        &settings.providers.dir,
        crate::upstream::RegistryPolicy::from_settings(settings),
    );
    let clients = crate::issuer::clients::Clients::from_settings(settings)
        .map_err(|e| Failure::Input(format!("braid.toml: {e}")))?;
    let clock: crate::clock::SharedClock = Arc::new(crate::clock::SystemClock);
    let catalog = Catalog::new(
        db,
        Arc::new(registry),
        Arc::new(crate::issuer::clients::LiveClients::new(clients)),
        crate::upstream::http::client(std::time::Duration::from_secs(settings.providers.upstream_timeout_secs.max(1))),
        clock,
    );
    catalog.load().await?;
    Ok(catalog)
}

fn json(v: &impl serde::Serialize) -> Result<String, Failure> {
    serde_json::to_string_pretty(v).map_err(|e| Failure::Catalog(CatalogError::Store(e.to_string())))
}

fn block_on(f: impl std::future::Future<Output = Result<String, Failure>>) -> ExitCode {
    match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(rt) => exit(rt.block_on(f)),
        Err(e) => {
            eprintln!("braid: cannot start the runtime: {e}");
            ExitCode::from(4)
        }
    }
}

/// Run `braid providers …`.
/// Who the commands act as: `admin:$USER` in the audit log.
fn cli_actor() -> crate::accounts::Actor {
    crate::accounts::Actor::admin(&std::env::var("USER").unwrap_or_else(|_| "cli".into()))
}

pub fn providers(settings: &Settings, command: ProvidersCommand) -> ExitCode {
    block_on(async move {
        let catalog = open(settings).await?;
        match command {
            ProvidersCommand::List => json(&catalog.list_providers().await?),
            ProvidersCommand::Add { file, id } => {
                let (id, def) = read_definition(&file, id)?;
                let p = catalog.create_provider(&id, def, &cli_actor()).await?;
                Ok(format!("provider `{}` added (version {})", p.id, p.version.unwrap_or(1)))
            }
            ProvidersCommand::Remove { id, version } => {
                catalog.delete_provider(&id, version, &cli_actor()).await?;
                Ok(format!("provider `{id}` removed"))
            }
            ProvidersCommand::Check { id } => {
                let r = catalog.check_provider(&id).await?;
                Ok(format!("{}: {}", r.id, r.detail))
            }
        }
    })
}

/// Run `braid clients …`.
pub fn clients(settings: &Settings, command: ClientsCommand) -> ExitCode {
    block_on(async move {
        let catalog = open(settings).await?;
        match command {
            ClientsCommand::List => json(&catalog.list_clients().await?),
            ClientsCommand::Add { file, id } => {
                let (id, mut def) = read_definition(&file, id)?;
                // The id is the command's, not a definition member.
                if let Value::Object(m) = &mut def {
                    m.remove("id");
                }
                let made = catalog.create_client(&id, def, &cli_actor()).await?;
                Ok(match made.secret {
                    Some(s) => format!("client `{id}` added; its secret (shown only now):\n{s}"),
                    None => format!("client `{id}` added (public: PKCE required)"),
                })
            }
            ClientsCommand::Remove { id, version } => {
                catalog.delete_client(&id, version, &cli_actor()).await?;
                Ok(format!("client `{id}` removed; its refresh tokens are revoked"))
            }
            ClientsCommand::RotateSecret { id } => {
                let s = catalog.rotate_client_secret(&id, &cli_actor()).await?;
                Ok(format!("client `{id}`: new secret (shown only now; the old one no longer works):\n{s}"))
            }
        }
    })
}
