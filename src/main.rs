//! The `braid` command: `serve`, `check`, `keys rotate`.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use braid::config::{LogFormat, Settings};

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
    }
}

fn check(settings: &Settings, online: bool) -> ExitCode {
    let mut problems: Vec<String> = Vec::new();
    if let Err(e) = braid::issuer::clients::Clients::from_settings(settings) {
        problems.push(format!("braid.toml: {e}"));
    }
    let (registry, provider_problems) = braid::upstream::ProviderRegistry::load(&settings.providers.dir);
    let providers = registry.snapshot();
    problems.extend(provider_problems.iter().map(ToString::to_string));
    if settings.keys.dir.exists() {
        if let Err(e) = braid::issuer::keys::KeySet::load_existing(&settings.keys.dir, settings.keys.algorithm) {
            problems.push(e.to_string());
        }
    }
    if online {
        problems.extend(check_online(&providers));
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

/// Reach every enabled OIDC provider's discovery document; one line per problem.
fn check_online(providers: &braid::upstream::Providers) -> Vec<String> {
    let Ok(runtime) = tokio::runtime::Builder::new_current_thread().enable_all().build() else {
        return vec!["cannot start the runtime for online checks".into()];
    };
    let http = braid::upstream::http::client();
    runtime.block_on(async {
        let mut problems = Vec::new();
        for p in providers.all().filter(|p| p.enabled) {
            if let braid::upstream::Protocol::Oidc(client) = &p.protocol {
                match client.discover(&http).await {
                    Ok(m) => println!("{}: discovery ok ({})", p.source, m.issuer),
                    Err(e) => problems.push(format!("{}: key `issuer`: {e}", p.source)),
                }
            }
        }
        problems
    })
}

fn serve(settings: Settings) -> ExitCode {
    init_logging(&settings);
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

fn init_logging(settings: &Settings) {
    use tracing_subscriber::EnvFilter;
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(&settings.log.level));
    let builder = tracing_subscriber::fmt().with_env_filter(filter).with_writer(std::io::stderr);
    match settings.log.format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Text => builder.init(),
    }
}
