//! The `braid` command: `serve`, `check`, `keys rotate`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use braid::config::Settings;

#[derive(Parser)]
#[command(name = "braid", version, about = "braid: a federation gateway that issues its own OpenID Connect tokens")]
struct Cli {
    /// The settings file (defaults apply to every missing key).
    #[arg(long, short, global = true, default_value = "braid.toml", env = "BRAID_CONFIG")]
    config: PathBuf,
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run the gateway.
    Serve,
    /// Check the settings, provider files and keys; exit non-zero on any problem.
    Check {
        /// Also reach each OpenID Connect provider's discovery document.
        #[arg(long)]
        online: bool,
    },
    /// Manage signing keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
    },
    /// Find and change accounts and their identities.
    Accounts {
        #[command(subcommand)]
        command: AccountsCommand,
    },
    /// Upstream providers registered in the admin catalog (beside the provider files).
    Providers {
        #[command(subcommand)]
        command: braid::admin::catalog::cli::ProvidersCommand,
    },
    /// OIDC clients registered in the admin catalog (beside braid.toml's).
    Clients {
        #[command(subcommand)]
        command: braid::admin::catalog::cli::ClientsCommand,
    },
}

#[derive(Subcommand)]
enum AccountsCommand {
    /// Show accounts by account id, by email, or by issuer and subject.
    Show {
        /// `<account>`, `<email>` or `<issuer> <subject>`.
        #[arg(required = true, num_args = 1..=2)]
        query: Vec<String>,
    },
    /// Link an identity to an account.
    Link {
        account: String,
        issuer: String,
        subject: String,
        /// The provider id recorded on the identity.
        #[arg(long, default_value = "admin")]
        provider: String,
        /// The identity's email (recorded unverified).
        #[arg(long)]
        email: Option<String>,
    },
    /// Unlink an identity from its account.
    Unlink { issuer: String, subject: String },
    /// Move an identity put on the wrong account to another one.
    Move { issuer: String, subject: String, to: String },
    /// Move every identity of <from> to <into>; <from> is marked merged and its sub refused.
    Merge { from: String, into: String },
    /// Disable an account: it cannot sign in, its sessions and refresh tokens end.
    Disable { account: String },
    /// Enable a disabled account again.
    Enable { account: String },
    /// Delete an account and its identities.
    Delete {
        account: String,
        /// Confirm the deletion.
        #[arg(long)]
        yes: bool,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Write a new signing key; it is published and signs from the next start on.
    Rotate,
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    let explicit = std::env::args().any(|a| a == "--config" || a == "-c" || a.starts_with("--config="))
        || std::env::var_os("BRAID_CONFIG").is_some();
    let settings = match Settings::load(&cli.config, explicit) {
        Ok(s) => s,
        Err(e) => {
            eprintln!("braid: invalid configuration\n{e}");
            return ExitCode::from(2);
        }
    };
    match cli.command {
        Command::Check { online } => check(&settings, online),
        Command::Keys { command: KeysCommand::Rotate } => {
            match braid::issuer::keys::KeySet::rotate(&settings.keys.dir, settings.keys.algorithm) {
                Ok(path) => {
                    println!("new {} signing key: {}", settings.keys.algorithm.as_str(), path.display());
                    ExitCode::SUCCESS
                }
                Err(e) => {
                    eprintln!("braid: {e}");
                    ExitCode::FAILURE
                }
            }
        }
        Command::Serve => serve(settings),
        Command::Accounts { command } => accounts(settings, command),
        Command::Providers { command } => braid::admin::catalog::cli::providers(&settings, command),
        Command::Clients { command } => braid::admin::catalog::cli::clients(&settings, command),
    }
}

fn check(settings: &Settings, online: bool) -> ExitCode {
    let mut problems: Vec<String> = Vec::new();
    if let Err(e) = braid::issuer::clients::Clients::from_settings(settings) {
        problems.push(format!("braid.toml: {e}"));
    }
    let (registry, provider_problems) = braid::upstream::ProviderRegistry::load(
        &settings.providers.dir,
        braid::upstream::RegistryPolicy::from_settings(settings),
    );
    let providers = registry.snapshot();
    problems.extend(provider_problems.iter().map(ToString::to_string));
    if settings.keys.dir.exists() {
        if let Err(e) = braid::issuer::keys::KeySet::load_existing(&settings.keys.dir, settings.keys.algorithm) {
            problems.push(e.to_string());
        }
    }
    if online {
        problems.extend(check_online(settings, &providers));
    }
    if problems.is_empty() {
        println!(
            "braid: configuration is valid ({} provider(s): {})",
            providers.all().count(),
            providers.all().map(|p| p.id.as_str()).collect::<Vec<_>>().join(", ")
        );
        ExitCode::SUCCESS
    } else {
        for p in &problems {
            eprintln!("{p}");
        }
        eprintln!("braid: {} problem(s) found", problems.len());
        ExitCode::FAILURE
    }
}

/// Reach the Redis session store (refused when it may evict keys) and every enabled OIDC
/// provider's discovery document and SAML provider's metadata; one line per problem.
fn check_online(settings: &Settings, providers: &braid::upstream::Providers) -> Vec<String> {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        return vec!["cannot start the runtime for online checks".into()];
    };
    let http = braid::upstream::http::client();
    runtime.block_on(async {
        let mut problems = Vec::new();
        if settings.store.sessions != "memory" {
            let url = braid::startup::redact(&settings.store.sessions);
            match braid::sessions::RedisSessionStore::connect(
                &settings.store.sessions,
                &settings.store.redis_key_prefix,
                std::time::Duration::from_millis(settings.store.redis_timeout_ms),
            )
            .await
            {
                Ok(_) => println!("session store {url}: ok"),
                Err(e) => problems.push(format!("braid.toml: key `store.sessions`: session store {url}: {e}")),
            }
        }
        for p in providers.all().filter(|p| p.enabled) {
            if let braid::upstream::Protocol::Oidc(client) = &p.protocol {
                match client.discover(&http).await {
                    Ok(m) => println!("{}: discovery ok ({})", p.source, m.issuer),
                    Err(e) => problems.push(format!("{}: key `issuer`: {e}", p.source)),
                }
            }
            if let braid::upstream::Protocol::Saml(client) = &p.protocol {
                match client.metadata(&http, braid::clock::Clock::now_ms(&braid::clock::SystemClock)).await {
                    Ok(m) => println!(
                        "{}: IdP metadata ok ({}, {} signing certificates)",
                        p.source,
                        m.entity_id,
                        m.certs.len()
                    ),
                    Err(e) => problems.push(format!("{}: key `idp_metadata_url`: {e}", p.source)),
                }
            }
        }
        problems
    })
}

fn serve(settings: Settings) -> ExitCode {
    braid::logging::init(&settings.log);
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("braid: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async move {
        let app = match braid::Application::build(settings).await {
            Ok(a) => a,
            Err(e) => {
                tracing::error!("cannot start: {e:#}");
                eprintln!("braid: cannot start: {e:#}");
                return ExitCode::FAILURE;
            }
        };
        let url = app.state().issuer.to_string();
        let demo = app.state().settings.demo.enabled;
        tracing::info!(addr = %app.local_addr(), issuer = %url, "braid is listening");
        if demo {
            println!("braid is running. Open {url}/demo");
        } else {
            println!("braid is running at {url}");
        }
        match app.run_until_stopped().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                tracing::error!("server error: {e:#}");
                ExitCode::FAILURE
            }
        }
    })
}

fn accounts(settings: Settings, command: AccountsCommand) -> ExitCode {
    use braid::admin::accounts::{Admin, AdminError};
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        eprintln!("braid: cannot start the runtime");
        return ExitCode::FAILURE;
    };
    runtime.block_on(async move {
        let db = match braid::db::Db::connect(&settings.store.accounts).await {
            Ok(db) => db,
            Err(e) => {
                eprintln!("braid: account store {}: {e}", braid::startup::redact(&settings.store.accounts));
                return ExitCode::FAILURE;
            }
        };
        let clock: braid::clock::SharedClock = std::sync::Arc::new(braid::clock::SystemClock);
        let sessions: std::sync::Arc<dyn braid::sessions::SessionStore> = if settings.store.sessions == "memory" {
            // A change must end the account's sessions, and these live in the running braid's
            // memory, out of this command's reach: refused rather than leave them signed in.
            if !matches!(command, AccountsCommand::Show { .. }) {
                eprintln!(
                    "braid: refused: sessions are kept in the memory of the running braid (`[store] sessions = \"memory\"`), \
                     where this command cannot end them; keep sessions in Redis to manage accounts from the command line"
                );
                return ExitCode::from(1);
            }
            std::sync::Arc::new(braid::sessions::MemorySessionStore::new(clock.clone()))
        } else {
            match braid::sessions::RedisSessionStore::connect(
                &settings.store.sessions,
                &settings.store.redis_key_prefix,
                std::time::Duration::from_millis(settings.store.redis_timeout_ms),
            )
            .await
            {
                Ok(s) => std::sync::Arc::new(s),
                Err(e) => {
                    eprintln!("braid: session store {}: {e}", braid::startup::redact(&settings.store.sessions));
                    return ExitCode::FAILURE;
                }
            }
        };
        let (registry, _) = braid::upstream::ProviderRegistry::load(
            &settings.providers.dir,
            braid::upstream::RegistryPolicy::from_settings(&settings),
        );
        let sign_in_providers = registry.snapshot().sign_in_providers();
        let who = std::env::var("USER").unwrap_or_else(|_| "cli".into());
        let admin = Admin {
            accounts: std::sync::Arc::new(braid::accounts::SqlAccountStore::new(db)),
            sessions,
            clock,
            actor: braid::accounts::Actor::admin(&who),
            sign_in_providers,
        };
        let result = match command {
            AccountsCommand::Show { query } => match admin.find(&query).await {
                Ok(ids) if ids.is_empty() => Err(AdminError::NotFound(query.join(" "))),
                Ok(ids) => {
                    let mut out = Vec::new();
                    for id in ids {
                        match admin.show(&id).await {
                            Ok(v) => out.push(v),
                            Err(e) => return report(Err(e)),
                        }
                    }
                    serde_json::to_string_pretty(&out).map_err(|e| AdminError::Store(e.to_string()))
                }
                Err(e) => Err(e),
            },
            AccountsCommand::Link { account, issuer, subject, provider, email } => {
                admin.link(&account, &issuer, &subject, &provider, email).await
            }
            AccountsCommand::Unlink { issuer, subject } => admin.unlink(&issuer, &subject).await,
            AccountsCommand::Move { issuer, subject, to } => admin.move_identity(&issuer, &subject, &to).await,
            AccountsCommand::Merge { from, into } => admin.merge(&from, &into).await,
            AccountsCommand::Disable { account } => admin.set_disabled(&account, true).await,
            AccountsCommand::Enable { account } => admin.set_disabled(&account, false).await,
            AccountsCommand::Delete { account, yes } => {
                if yes {
                    admin.delete(&account).await
                } else {
                    Err(AdminError::Refused("add --yes to delete the account and its identities".into()))
                }
            }
        };
        report(result)
    })
}

fn report(result: Result<String, braid::admin::accounts::AdminError>) -> ExitCode {
    use braid::admin::accounts::AdminError;
    match result {
        Ok(text) => {
            println!("{text}");
            ExitCode::SUCCESS
        }
        Err(e) => {
            eprintln!("braid: {e}");
            match e {
                AdminError::NotFound(_) => ExitCode::from(3),
                AdminError::Refused(_) => ExitCode::from(1),
                AdminError::Store(_) => ExitCode::from(4),
            }
        }
    }
}
