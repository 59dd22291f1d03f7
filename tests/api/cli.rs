//! The `braid` command: `check` names file, key and reason for every problem; `serve` refuses to
//! start on an unreachable store and exits cleanly on SIGTERM.

use std::process::{Command, Output};
use std::time::Duration;

use crate::replicas::start_braid;

fn braid(dir: &std::path::Path, args: &[&str], env: &[(&str, &str)]) -> Output {
    let mut c = Command::new(env!("CARGO_BIN_EXE_braid"));
    c.current_dir(dir).args(args);
    for (k, v) in env {
        c.env(k, v);
    }
    c.output().expect("braid runs")
}

fn stderr(o: &Output) -> String {
    String::from_utf8_lossy(&o.stderr).into_owned()
}

#[test]
fn check_accepts_the_defaults_and_the_dev_provider() {
    let dir = tempfile::tempdir().unwrap();
    crate::helpers::write_dev_provider(dir.path());
    let o = braid(dir.path(), &["check"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("dev"));
}

#[test]
fn check_names_the_file_and_key_of_an_unknown_key() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("braid.toml"), "[server]\nlisen = \"127.0.0.1:1\"\n").unwrap();
    let o = braid(dir.path(), &["check"], &[]);
    assert_eq!(o.status.code(), Some(2));
    let e = stderr(&o);
    assert!(e.contains("braid.toml") && e.contains("server.lisen") && e.contains("unknown field"), "{e}");
}

#[test]
fn check_names_the_key_of_a_bad_value_from_file_or_environment() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("braid.toml"), "[keys]\nalgorithm = \"HS256\"\n").unwrap();
    let o = braid(dir.path(), &["check"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("keys.algorithm"), "{}", stderr(&o));
    std::fs::remove_file(dir.path().join("braid.toml")).unwrap();
    let o = braid(dir.path(), &["check"], &[("BRAID__SERVER__LISTEN", "not-an-address")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("server.listen"), "{}", stderr(&o));
    let o = braid(dir.path(), &["check"], &[("BRAID__SERVER__PUBLIC_URL", "http://braid.example")]);
    assert_eq!(o.status.code(), Some(2), "http only on loopback");
    assert!(stderr(&o).contains("server.public_url"), "{}", stderr(&o));
    let o = braid(dir.path(), &["check"], &[("BRAID__STORE__SESSIONS", "memcached://x")]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("store.sessions"), "{}", stderr(&o));
}

#[test]
fn check_refuses_a_clock_skew_or_metadata_interval_out_of_bounds() {
    let dir = tempfile::tempdir().unwrap();
    let providers = dir.path().join("providers");
    std::fs::create_dir_all(&providers).unwrap();
    let saml = "kind = \"saml\"\nissuer = \"https://idp.example\"\nidp_metadata_url = \"https://idp.example/md\"\n";
    let oidc = "kind = \"oidc\"\nissuer = \"https://op.example\"\nclient_id = \"c\"\nclient_secret = \"s\"\n";
    for (body, key) in [
        (format!("{saml}clock_skew = 86400\n"), "clock_skew_secs"),
        (format!("{saml}metadata_refresh_secs = 5\n"), "metadata_refresh_secs"),
        (format!("{saml}metadata_refresh_secs = 31536000\n"), "metadata_refresh_secs"),
        (format!("{oidc}clock_skew_secs = 7200\n"), "clock_skew_secs"),
    ] {
        std::fs::write(providers.join("corp.toml"), &body).unwrap();
        let o = braid(dir.path(), &["check"], &[]);
        assert_eq!(o.status.code(), Some(1), "{body}");
        let e = stderr(&o);
        assert!(e.contains("corp.toml") && e.contains(key), "{body}: {e}");
    }
    std::fs::write(providers.join("corp.toml"), format!("{saml}clock_skew = 300\nmetadata_refresh_secs = 3600\n"))
        .unwrap();
    let o = braid(dir.path(), &["check"], &[]);
    assert!(o.status.success(), "{}", stderr(&o));
}

#[test]
fn check_reports_a_broken_provider_file_and_an_unregistrable_client() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("providers")).unwrap();
    std::fs::write(dir.path().join("providers/corp.toml"), "kind = \"dev\"\nenabeld = false\n").unwrap();
    std::fs::write(
        dir.path().join("braid.toml"),
        "[[clients]]\nid = \"x\"\nredirect_uris = [\"http://app.example/cb\"]\n",
    )
    .unwrap();
    let o = braid(dir.path(), &["check"], &[]);
    assert_eq!(o.status.code(), Some(2), "client problems are configuration errors");
    assert!(stderr(&o).contains("clients[0].redirect_uris[0]"), "{}", stderr(&o));
    std::fs::remove_file(dir.path().join("braid.toml")).unwrap();
    let o = braid(dir.path(), &["check"], &[]);
    assert_eq!(o.status.code(), Some(1));
    let e = stderr(&o);
    assert!(e.contains("corp.toml") && e.contains("enabeld"), "{e}");
}

#[test]
fn an_explicit_config_file_that_does_not_exist_is_an_error() {
    let dir = tempfile::tempdir().unwrap();
    let o = braid(dir.path(), &["--config", "missing.toml", "check"], &[]);
    assert_eq!(o.status.code(), Some(2));
    assert!(stderr(&o).contains("missing.toml"));
}

#[test]
fn serve_refuses_to_start_when_redis_is_unreachable() {
    let dir = tempfile::tempdir().unwrap();
    let o = braid(
        dir.path(),
        &["serve"],
        &[
            ("BRAID__SERVER__LISTEN", "127.0.0.1:0"),
            ("BRAID__STORE__SESSIONS", "redis://127.0.0.1:1/0"),
            ("BRAID__STORE__REDIS_TIMEOUT_MS", "500"),
        ],
    );
    assert!(!o.status.success());
    assert!(stderr(&o).contains("session store"), "{}", stderr(&o));
}

#[tokio::test]
async fn sigterm_stops_serving_and_exits_cleanly() {
    let dir = tempfile::tempdir().unwrap();
    crate::helpers::write_dev_provider(dir.path());
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let cfg = dir.path().join("braid.toml");
    std::fs::write(
        &cfg,
        format!(
            "[server]\nlisten = \"127.0.0.1:{port}\"\n[store]\naccounts = \"sqlite://{}\"\n[keys]\ndir = \"{}\"\n[providers]\ndir = \"{}\"\n",
            dir.path().join("b.db").display(),
            dir.path().join("keys").display(),
            dir.path().join("providers").display()
        ),
    )
    .unwrap();
    let base = format!("http://127.0.0.1:{port}");
    let mut proc = start_braid(&cfg, &base).await;
    let pid = proc.0.id().to_string();
    assert!(Command::new("kill").args(["-TERM", &pid]).status().unwrap().success());
    let mut status = None;
    for _ in 0..100 {
        if let Some(s) = proc.0.try_wait().unwrap() {
            status = Some(s);
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let status = status.expect("braid exits after SIGTERM");
    assert!(status.success(), "exit status {status:?}");
    assert!(reqwest::get(format!("{base}/healthz")).await.is_err(), "no longer accepting");
}

#[test]
fn every_example_provider_file_is_valid() {
    let dir = tempfile::tempdir().unwrap();
    let examples = concat!(env!("CARGO_MANIFEST_DIR"), "/providers/examples");
    let secrets = ["GOOGLE", "ENTRA", "OKTA", "KEYCLOAK", "GITHUB", "GITLAB"]
        .map(|p| (format!("{p}_CLIENT_SECRET"), "x".to_owned()));
    let mut env: Vec<(&str, &str)> = secrets.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    env.push(("BRAID__PROVIDERS__DIR", examples));
    let o = braid(dir.path(), &["check"], &env);
    assert!(o.status.success(), "{}", stderr(&o));
    let out = String::from_utf8_lossy(&o.stdout);
    assert!(out.contains("10 provider(s)"), "{out}");
    // Without the secret in the environment, the file and key are named.
    env.retain(|(k, _)| *k != "GITHUB_CLIENT_SECRET");
    let o = braid(dir.path(), &["check"], &env);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("github.toml") && stderr(&o).contains("GITHUB_CLIENT_SECRET"), "{}", stderr(&o));
}

#[tokio::test]
async fn check_online_reaches_each_oidc_providers_discovery() {
    let clock = std::sync::Arc::new(braid::clock::TestClock::starting_now());
    let mock = crate::mock_idp::MockIdp::start(clock).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("providers")).unwrap();
    std::fs::write(dir.path().join("providers/mock.toml"), mock.provider_toml("")).unwrap();
    let d = dir.path().to_owned();
    let ok = tokio::task::spawn_blocking(move || braid(&d, &["check", "--online"], &[])).await.unwrap();
    assert!(ok.status.success(), "{}", stderr(&ok));
    assert!(String::from_utf8_lossy(&ok.stdout).contains("discovery ok"));
    mock.set(|b| b.discovery_issuer = Some("https://impostor.example".into()));
    let d = dir.path().to_owned();
    let bad = tokio::task::spawn_blocking(move || braid(&d, &["check", "--online"], &[])).await.unwrap();
    assert_eq!(bad.status.code(), Some(1));
    assert!(stderr(&bad).contains("mock.toml") && stderr(&bad).contains("impostor"), "{}", stderr(&bad));
    let d = dir.path().to_owned();
    let offline = tokio::task::spawn_blocking(move || braid(&d, &["check"], &[])).await.unwrap();
    assert!(offline.status.success(), "without --online nothing is fetched");
}

#[test]
fn check_refuses_empty_and_short_client_secrets() {
    let dir = tempfile::tempdir().unwrap();
    let client = |secret: &str| {
        format!("[[clients]]\nid = \"x\"\nsecret = \"{secret}\"\nredirect_uris = [\"https://app.example/cb\"]\n")
    };
    // An unset variable that expands to nothing, and a short placeholder: configuration errors.
    std::fs::write(dir.path().join("braid.toml"), client("${BRAID_TEST_EMPTY_SECRET}")).unwrap();
    let o = braid(dir.path(), &["check"], &[("BRAID_TEST_EMPTY_SECRET", "")]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("clients[0].secret") && stderr(&o).contains("at least 32 bytes"), "{}", stderr(&o));
    std::fs::write(dir.path().join("braid.toml"), client("changeme")).unwrap();
    let o = braid(dir.path(), &["check"], &[]);
    assert_eq!(o.status.code(), Some(2), "{}", stderr(&o));
    assert!(stderr(&o).contains("has 8"), "{}", stderr(&o));
    std::fs::write(dir.path().join("braid.toml"), client("0123456789abcdef0123456789abcdef")).unwrap();
    let o = braid(dir.path(), &["check"], &[]);
    assert!(o.status.success(), "32 bytes pass: {}", stderr(&o));
    // An upstream provider's secret may be short (the provider chose it), but never empty.
    std::fs::create_dir_all(dir.path().join("providers")).unwrap();
    std::fs::write(
        dir.path().join("providers/corp.toml"),
        "kind = \"oidc\"\nissuer = \"https://op.example\"\nclient_id = \"c\"\nclient_secret = \"${BRAID_TEST_EMPTY_SECRET}\"\n",
    )
    .unwrap();
    let o = braid(dir.path(), &["check"], &[("BRAID_TEST_EMPTY_SECRET", "")]);
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr(&o).contains("corp.toml: key `client_secret`: the client secret is empty"), "{}", stderr(&o));
}

#[test]
fn account_changes_are_refused_when_sessions_live_in_braids_memory() {
    let dir = tempfile::tempdir().unwrap();
    for args in [&["accounts", "unlink", "urn:braid:dev:dev", "alice"][..], &["accounts", "disable", "a123"][..]] {
        let o = braid(dir.path(), args, &[]);
        assert_eq!(o.status.code(), Some(1), "{args:?}: {}", stderr(&o));
        assert!(stderr(&o).contains("refused") && stderr(&o).contains("memory"), "{}", stderr(&o));
    }
    // Reading is fine.
    let o = braid(dir.path(), &["accounts", "show", "a123"], &[]);
    assert_eq!(o.status.code(), Some(3), "nothing matches: {}", stderr(&o));
}

#[test]
fn the_docker_compose_settings_are_valid_with_the_dev_provider() {
    // deploy/braid.toml as docker-compose.yml runs it: stores from the environment, the dev
    // provider mounted into the providers directory.
    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("providers")).unwrap();
    std::fs::copy(root.join("providers/dev.toml"), dir.path().join("providers/dev.toml")).unwrap();
    let config = root.join("deploy/braid.toml");
    let o = braid(
        dir.path(),
        &["--config", config.to_str().unwrap(), "check"],
        &[
            ("BRAID__STORE__ACCOUNTS", "postgres://braid:braid@postgres:5432/braid"),
            ("BRAID__STORE__SESSIONS", "redis://redis:6379/0"),
            ("BRAID__PROVIDERS__DIR", "providers"),
        ],
    );
    assert!(o.status.success(), "{}", stderr(&o));
    assert!(String::from_utf8_lossy(&o.stdout).contains("dev"), "the dev provider is allowed on its loopback URL");
    let compose = std::fs::read_to_string(root.join("docker-compose.yml")).unwrap();
    for file in ["./deploy/braid.toml", "./deploy/nginx-auth-request.conf", "./providers/dev.toml"] {
        assert!(compose.contains(file), "{file} mounted");
        assert!(root.join(file).exists(), "{file} exists");
    }
}
