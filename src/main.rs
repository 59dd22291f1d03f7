//! The `braid` command: `serve`, `check`, `keys rotate`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use braid::config::{Settings, SigningAlg};

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
        command: braid::admin::accounts_cli::AccountsCommand,
    },
    /// The admin API's bearer tokens.
    Admin {
        #[command(subcommand)]
        command: AdminCommand,
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
enum AdminCommand {
    /// Admin API tokens.
    Token {
        #[command(subcommand)]
        command: TokenCommand,
    },
}

#[derive(Subcommand)]
enum TokenCommand {
    /// Make a token: print it once, and the lines that make braid accept it (only its hash).
    Create {
        /// Its name, recorded with every change made with it.
        #[arg(long)]
        name: String,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Write a new signing key of each algorithm (or of `--alg` only): it is published at once and
    /// signs once it is `[keys] activation_delay_secs` old.
    Rotate {
        /// Rotate only this algorithm's key.
        #[arg(long, value_parser = ["RS256", "ES256", "EdDSA"])]
        alg: Option<String>,
    },
}

fn main() -> ExitCode {
    let cli = Cli::parse();
    // Needs no settings: it only prints.
    if let Command::Admin { command: AdminCommand::Token { command: TokenCommand::Create { name } } } = &cli.command {
        return match braid::admin::settings::create(name) {
            Some((token, toml)) => {
                println!(
                    "admin token (shown once; keep it in a secret store):\n{token}\n\nadd to braid.toml on every replica:\n{toml}"
                );
                ExitCode::SUCCESS
            }
            None => {
                eprintln!("braid: the name must be 1 to 64 letters, digits, `-`, `_` or `.`");
                ExitCode::from(2)
            }
        };
    }
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
        Command::Keys { command: KeysCommand::Rotate { alg } } => {
            let algs: Vec<SigningAlg> = match alg.as_deref() {
                None => SigningAlg::ALL.to_vec(),
                Some(name) => SigningAlg::parse(name).into_iter().collect(),
            };
            for alg in algs {
                match braid::issuer::keys::KeySet::rotate(&settings.keys.dir, alg) {
                    Ok(path) => println!("new {} signing key: {}", alg.as_str(), path.display()),
                    Err(e) => {
                        eprintln!("braid: {e}");
                        return ExitCode::FAILURE;
                    }
                }
            }
            ExitCode::SUCCESS
        }
        Command::Serve => serve(settings),
        Command::Accounts { command } => braid::admin::accounts_cli::run(&settings, command),
        Command::Admin { .. } => ExitCode::SUCCESS,
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
    let http =
        braid::upstream::http::client(std::time::Duration::from_secs(settings.providers.upstream_timeout_secs.max(1)));
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
    let threads = match settings.server.worker_threads {
        0 => std::thread::available_parallelism().map_or(1, std::num::NonZeroUsize::get),
        n => n,
    };
    let mut builder = if threads == 1 {
        tokio::runtime::Builder::new_current_thread()
    } else {
        let mut b = tokio::runtime::Builder::new_multi_thread();
        b.worker_threads(threads);
        b
    };
    let runtime = match builder.enable_all().build() {
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
