//! The admin catalog: providers and clients registered in SQL while braid runs, on SQLite and
//! PostgreSQL; definitions checked member by member; in force without a restart, on this braid
//! at once and on another braid on the same PostgreSQL within 5 s; secrets never shown; the
//! `braid providers` command.

use std::process::{Command, Output};
use std::sync::Arc;
use std::time::Duration;

use braid::admin::catalog::{Catalog, CatalogError};
use braid::clock::TestClock;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::mock_idp::MockIdp;
use crate::support;

fn github(secret: &str) -> Value {
    json!({"kind": "oauth2", "preset": "github", "display_name": "GitHub", "client_id": "gh-app", "client_secret": secret})
}

async fn spawn_on(backend: &str) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    let url = if backend == "postgres" { support::fresh_pg_url().await } else { support::sqlite_url(&dir) };
    spawn_in(dir, move |d| settings(d, &url, "memory", "")).await
}

fn assert_invalid(r: Result<impl std::fmt::Debug, CatalogError>, pointer: &str) {
    match r {
        Err(CatalogError::Invalid { pointer: p, detail }) => assert_eq!(p, pointer, "{detail}"),
        other => panic!("expected Invalid at {pointer}, got {other:?}"),
    }
}

async fn providers_crud(app: &TestApp) {
    let c: &Catalog = &app.state.catalog;
    let made = c
        .create_provider("gh", github("literal-upstream-secret"), &braid::accounts::Actor::admin("test"))
        .await
        .unwrap();
    assert_eq!((made.source, made.version, made.in_force), ("api", Some(1), true));
    assert!(made.has_client_secret);
    assert!(app.state.providers.snapshot().enabled("gh").is_some(), "in force at once");
    assert!(matches!(
        c.create_provider("gh", github("x"), &braid::accounts::Actor::admin("test")).await,
        Err(CatalogError::Exists)
    ));

    let list = c.list_providers().await.unwrap();
    let sources: Vec<(&str, &str)> = list.iter().map(|p| (p.id.as_str(), p.source)).collect();
    assert_eq!(sources, [("dev", "file"), ("gh", "api")]);
    let shown =
        serde_json::to_string(&list).unwrap() + &serde_json::to_string(&c.get_provider("gh").await.unwrap()).unwrap();
    assert!(!shown.contains("literal-upstream-secret") && !shown.contains("\"client_secret\""), "{shown}");

    // Replace: the right version, then a stale one. The secret, not sent back, is kept.
    let mut def = github("");
    def.as_object_mut().unwrap().remove("client_secret");
    def["display_name"] = json!("GitHub (renamed)");
    let v2 = c.replace_provider("gh", def.clone(), Some(1), &braid::accounts::Actor::admin("test")).await.unwrap();
    assert_eq!(v2.version, Some(2));
    assert!(v2.has_client_secret, "the stored secret is kept");
    assert_eq!(app.state.providers.snapshot().enabled("gh").unwrap().display_name, "GitHub (renamed)");
    match &app.state.providers.snapshot().enabled("gh").unwrap().protocol {
        braid::upstream::Protocol::OAuth2(o) => {
            let s = o.settings.client_secret.as_ref().expect("secret kept");
            assert_eq!(secrecy::ExposeSecret::expose_secret(s), "literal-upstream-secret");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        c.replace_provider("gh", def.clone(), Some(1), &braid::accounts::Actor::admin("test")).await,
        Err(CatalogError::VersionMismatch)
    ));
    assert!(matches!(
        c.delete_provider("gh", Some(1), &braid::accounts::Actor::admin("test")).await,
        Err(CatalogError::VersionMismatch)
    ));
    assert!(matches!(
        c.replace_provider("nope", def.clone(), None, &braid::accounts::Actor::admin("test")).await,
        Err(CatalogError::NotFound)
    ));

    // File-defined: read-only here.
    let dev = json!({"kind": "dev"});
    assert!(matches!(
        c.create_provider("dev", dev.clone(), &braid::accounts::Actor::admin("test")).await,
        Err(CatalogError::FromFile)
    ));
    assert!(matches!(
        c.replace_provider("dev", dev, None, &braid::accounts::Actor::admin("test")).await,
        Err(CatalogError::FromFile)
    ));
    assert!(matches!(
        c.delete_provider("dev", None, &braid::accounts::Actor::admin("test")).await,
        Err(CatalogError::FromFile)
    ));

    c.delete_provider("gh", Some(2), &braid::accounts::Actor::admin("test")).await.unwrap();
    assert!(matches!(c.get_provider("gh").await, Err(CatalogError::NotFound)));
    assert!(app.state.providers.snapshot().enabled("gh").is_none(), "out of force at once");
    assert!(matches!(
        c.delete_provider("gh", None, &braid::accounts::Actor::admin("test")).await,
        Err(CatalogError::NotFound)
    ));
}

async fn clients_crud(app: &TestApp) {
    let c: &Catalog = &app.state.catalog;
    let def = json!({"name": "Catalog app", "redirect_uris": ["http://127.0.0.1:9/cat"]});
    let made = c.create_client("cat", def.clone(), &braid::accounts::Actor::admin("test")).await.unwrap();
    let secret = made.secret.clone().expect("a confidential client gets a secret");
    assert!(secret.len() >= 43, "32 random bytes");
    assert_eq!((made.client.source, made.client.version), ("api", Some(1)));
    assert!(app.state.clients.get("cat").unwrap().secret_matches(&secret));
    assert!(matches!(
        c.create_client("cat", def.clone(), &braid::accounts::Actor::admin("test")).await,
        Err(CatalogError::Exists)
    ));
    let list = c.list_clients().await.unwrap();
    let shown =
        serde_json::to_string(&list).unwrap() + &serde_json::to_string(&c.get_client("cat").await.unwrap()).unwrap();
    assert!(!shown.contains(&secret) && !shown.contains(APP_SECRET), "{shown}");
    assert!(list.iter().any(|v| v.id == "cat" && v.source == "api"));
    assert!(list.iter().any(|v| v.id == APP_ID && v.source == "file"));

    let def2 = json!({"redirect_uris": ["http://127.0.0.1:9/cat", "http://127.0.0.1:9/cat2"]});
    let v2 = c.replace_client("cat", def2.clone(), Some(1), &braid::accounts::Actor::admin("test")).await.unwrap();
    assert_eq!(v2.client.version, Some(2));
    assert!(v2.secret.is_none(), "the secret stays");
    assert!(app.state.clients.get("cat").unwrap().has_redirect_uri("http://127.0.0.1:9/cat2"));
    assert!(app.state.clients.get("cat").unwrap().secret_matches(&secret));
    assert!(matches!(
        c.replace_client("cat", def2, Some(1), &braid::accounts::Actor::admin("test")).await,
        Err(CatalogError::VersionMismatch)
    ));
    assert!(matches!(
        c.delete_client("cat", Some(1), &braid::accounts::Actor::admin("test")).await,
        Err(CatalogError::VersionMismatch)
    ));
    assert!(matches!(
        c.create_client(APP_ID, def.clone(), &braid::accounts::Actor::admin("test")).await,
        Err(CatalogError::FromFile)
    ));
    assert!(matches!(
        c.rotate_client_secret(APP_ID, &braid::accounts::Actor::admin("test")).await,
        Err(CatalogError::FromFile)
    ));
    assert!(matches!(
        c.delete_client(APP_ID, None, &braid::accounts::Actor::admin("test")).await,
        Err(CatalogError::FromFile)
    ));
    c.delete_client("cat", Some(2), &braid::accounts::Actor::admin("test")).await.unwrap();
    assert!(app.state.clients.get("cat").is_none());
    assert!(matches!(c.get_client("cat").await, Err(CatalogError::NotFound)));
    assert!(matches!(
        c.rotate_client_secret("cat", &braid::accounts::Actor::admin("test")).await,
        Err(CatalogError::NotFound)
    ));
}

#[tokio::test]
async fn catalog_providers_and_clients_round_trip_on_sqlite() {
    let app = spawn_on("sqlite").await;
    providers_crud(&app).await;
    clients_crud(&app).await;
}

#[tokio::test]
async fn catalog_providers_and_clients_round_trip_on_postgres() {
    let app = spawn_on("postgres").await;
    providers_crud(&app).await;
    clients_crud(&app).await;
}

/// A provider's client secret given as a `${ENV}` reference or a `client_secret_file`, as in
/// provider files: in force with the secret it names, while the catalog keeps (and shows) only
/// the reference, never the secret; an unset variable is refused at its pointer.
#[tokio::test]
async fn catalog_secrets_may_be_env_or_file_references_and_only_the_reference_is_stored() {
    let app = spawn_on("sqlite").await;
    let c: &Catalog = &app.state.catalog;
    let admin = braid::accounts::Actor::admin("test");
    // SAFETY: each test runs in its own process under nextest; nothing else reads this variable.
    unsafe { std::env::set_var("BRAID_TEST_CATALOG_SECRET", "secret-from-the-environment") };
    let secret_of = |id: &str| match &app.state.providers.snapshot().enabled(id).expect("in force").protocol {
        braid::upstream::Protocol::OAuth2(o) => {
            secrecy::ExposeSecret::expose_secret(o.settings.client_secret.as_ref().expect("a secret")).trim().to_owned()
        }
        other => panic!("{other:?}"),
    };
    let db = braid::db::Db::connect(&app.state.settings.store.accounts).await.unwrap();
    let stored = || async {
        let rows: Vec<(String,)> =
            sqlx::query_as("SELECT definition FROM providers ORDER BY id").fetch_all(&db.pool).await.unwrap();
        rows.into_iter().map(|(d,)| d).collect::<Vec<_>>().join("\n")
    };
    // (Both are GitHub, one issuer: one at a time.)
    let by_env = c.create_provider("ghenv", github("${BRAID_TEST_CATALOG_SECRET}"), &admin).await.unwrap();
    assert!(by_env.has_client_secret && by_env.in_force);
    assert_eq!(secret_of("ghenv"), "secret-from-the-environment");
    let kept = stored().await;
    assert!(kept.contains("${BRAID_TEST_CATALOG_SECRET}") && !kept.contains("secret-from-the-environment"), "{kept}");
    let shown = serde_json::to_string(&c.list_providers().await.unwrap()).unwrap();
    assert!(!shown.contains("secret-from-") && !shown.contains("BRAID_TEST_CATALOG_SECRET"), "{shown}");
    c.delete_provider("ghenv", Some(1), &admin).await.unwrap();

    // A relative file is read beside the provider files.
    std::fs::write(app.dir().join("providers/ghfile.secret"), "secret-from-a-file\n").unwrap();
    let mut def = github("");
    def.as_object_mut().unwrap().remove("client_secret");
    def["client_secret_file"] = json!("ghfile.secret");
    let by_file = c.create_provider("ghfile", def, &admin).await.unwrap();
    assert!(by_file.has_client_secret && by_file.in_force);
    assert_eq!(secret_of("ghfile"), "secret-from-a-file");
    let kept = stored().await;
    assert!(kept.contains("ghfile.secret") && !kept.contains("secret-from-a-file"), "{kept}");
    c.delete_provider("ghfile", Some(1), &admin).await.unwrap();
    // An unset variable is an empty secret: refused, naming the member.
    assert_invalid(c.create_provider("ghnone", github("${BRAID_TEST_CATALOG_UNSET}"), &admin).await, "/client_secret");
}

#[tokio::test]
async fn catalog_definitions_name_the_bad_member() {
    let app = spawn_app().await;
    let c = &app.state.catalog;
    let oidc = |extra: Value| {
        let mut d = json!({"kind": "oidc", "issuer": "https://idp.example", "client_id": "c"});
        for (k, v) in extra.as_object().unwrap() {
            d[k] = v.clone();
        }
        d
    };
    // A wrong type, a bad value, unknown keys (top level and nested), a missing member.
    assert_invalid(
        c.create_provider("p", oidc(json!({"enabled": "yes"})), &braid::accounts::Actor::admin("test")).await,
        "/enabled",
    );
    assert_invalid(
        c.create_provider("p", oidc(json!({"issuer": "ftp://idp.example"})), &braid::accounts::Actor::admin("test"))
            .await,
        "/issuer",
    );
    assert_invalid(
        c.create_provider("p", oidc(json!({"isuser": "x"})), &braid::accounts::Actor::admin("test")).await,
        "/isuser",
    );
    assert_invalid(
        c.create_provider("p", oidc(json!({"claims": {"subjekt": "oid"}})), &braid::accounts::Actor::admin("test"))
            .await,
        "/claims/subjekt",
    );
    assert_invalid(
        c.create_provider("p", oidc(json!({"domains": ["ok.example", "a@b"]})), &braid::accounts::Actor::admin("test"))
            .await,
        "/domains/1",
    );
    assert_invalid(
        c.create_provider("p", oidc(json!({"scopes": ["email"]})), &braid::accounts::Actor::admin("test")).await,
        "/scopes",
    );
    assert_invalid(
        c.create_provider("p", json!({"issuer": "https://idp.example"}), &braid::accounts::Actor::admin("test")).await,
        "/kind",
    );
    assert_invalid(
        c.create_provider("p", oidc(json!({"preset": "github"})), &braid::accounts::Actor::admin("test")).await,
        "/preset",
    );
    assert_invalid(c.create_provider("Bad Id", github("s"), &braid::accounts::Actor::admin("test")).await, "/id");
    // One issuer, one provider.
    c.create_provider("gh", github("s"), &braid::accounts::Actor::admin("test")).await.unwrap();
    assert_invalid(c.create_provider("gh2", github("s"), &braid::accounts::Actor::admin("test")).await, "/issuer");
    // Clients.
    assert_invalid(
        c.create_client("x", json!({"redirect_uris": "http://127.0.0.1:9/x"}), &braid::accounts::Actor::admin("test"))
            .await,
        "/redirect_uris",
    );
    assert_invalid(
        c.create_client(
            "x",
            json!({"redirect_uris": ["http://app.example/cb"]}),
            &braid::accounts::Actor::admin("test"),
        )
        .await,
        "/redirect_uris/0",
    );
    assert_invalid(
        c.create_client("x", json!({"redirect_uris": []}), &braid::accounts::Actor::admin("test")).await,
        "/redirect_uris",
    );
    assert_invalid(
        c.create_client("x", json!({"name": "x"}), &braid::accounts::Actor::admin("test")).await,
        "/redirect_uris",
    );
    assert_invalid(
        c.create_client(
            "x",
            json!({"redirect_uris": ["http://127.0.0.1:9/x"], "secret": "mine"}),
            &braid::accounts::Actor::admin("test"),
        )
        .await,
        "/secret",
    );
    assert_invalid(
        c.create_client(
            "x",
            json!({"redirect_uris": ["http://127.0.0.1:9/x"], "public": 1}),
            &braid::accounts::Actor::admin("test"),
        )
        .await,
        "/public",
    );
    assert!(c.list_clients().await.unwrap().iter().all(|v| v.id != "x"), "nothing was stored");
}

/// braid without provider files, with `clock`, on `accounts`.
async fn bare_app(clock: Arc<TestClock>, accounts: Option<String>) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("providers")).unwrap();
    let url = accounts.unwrap_or_else(|| support::sqlite_url(&dir));
    spawn_in_with_clock(dir, clock, move |d| settings(d, &url, "memory", "")).await
}

fn mock_definition(mock: &MockIdp) -> Value {
    let t: toml::Value = toml::from_str(&mock.provider_toml("")).unwrap();
    serde_json::to_value(t).unwrap()
}

/// From `/login/mock` on `base` through the mock's authorize; returns braid's callback URL.
async fn to_callback(base: &str, mock: &MockIdp, b: &reqwest::Client) -> String {
    let r = b.get(format!("{base}/login/mock")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "start redirects upstream");
    let to_idp = location(&r);
    assert!(to_idp.starts_with(&format!("{}/authorize?", mock.base)), "{to_idp}");
    let r = b.get(&to_idp).send().await.unwrap();
    location(&r)
}

#[tokio::test]
async fn an_oidc_provider_added_through_the_catalog_signs_people_in_without_restart() {
    let clock = Arc::new(TestClock::starting_now());
    let mock = MockIdp::start(clock.clone()).await;
    let app = bare_app(clock, None).await;
    let def = mock_definition(&mock);
    // Discovery must answer with the same issuer.
    mock.inner.lock().unwrap().behaviour.discovery_issuer = Some("https://elsewhere.example".into());
    assert!(matches!(
        app.state.catalog.create_provider("mock", def.clone(), &braid::accounts::Actor::admin("test")).await,
        Err(CatalogError::Unreachable(_))
    ));
    let mut unreachable = def.clone();
    unreachable["issuer"] = json!("http://127.0.0.1:9");
    assert!(matches!(
        app.state.catalog.create_provider("mock", unreachable, &braid::accounts::Actor::admin("test")).await,
        Err(CatalogError::Unreachable(_))
    ));
    mock.inner.lock().unwrap().behaviour.discovery_issuer = None;
    app.state.catalog.create_provider("mock", def, &braid::accounts::Actor::admin("test")).await.unwrap();
    assert!(app.state.catalog.check_provider("mock").await.unwrap().detail.contains("discovery ok"));

    let b = browser();
    let callback = to_callback(&app.base, &mock, &b).await;
    let r = b.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    assert_eq!(location(&r), "/account");
    let id = app.state.accounts.find_identity(&mock.base, "user-1").await.unwrap().expect("identity");
    assert_eq!(id.provider_id, "mock");

    // A sign-in under way through a provider deleted meanwhile is refused at its callback.
    mock.inner.lock().unwrap().behaviour.subject = "user-2".into();
    let b = browser();
    let callback = to_callback(&app.base, &mock, &b).await;
    app.state.catalog.delete_provider("mock", None, &braid::accounts::Actor::admin("test")).await.unwrap();
    let r = b.get(&callback).send().await.unwrap();
    assert!(r.status().is_client_error(), "refused at the callback, got {}", r.status());
    assert!(app.state.accounts.find_identity(&mock.base, "user-2").await.unwrap().is_none());
}

#[tokio::test]
async fn a_catalog_client_signs_in_and_rotation_and_deletion_cut_it_off() {
    let app = spawn_app().await;
    let c = &app.state.catalog;
    let cb = "http://127.0.0.1:9/cat";
    let made =
        c.create_client("cat", json!({"redirect_uris": [cb]}), &braid::accounts::Actor::admin("test")).await.unwrap();
    let secret = made.secret.unwrap();
    let b = browser();
    let q = authorize_query("cat", cb, None, "n-cat");
    let back = walk_sign_in(&b, &[&app.base], &q, "carol", "carol@example.com").await;
    assert!(back.starts_with(cb), "{back}");
    let code = query_param(&back, "code").unwrap();
    let (status, body) = token_request(
        &app,
        ("cat", Some(&secret)),
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", cb)],
    )
    .await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let claims = verify_id_token(&app.base, body["id_token"].as_str().unwrap(), "cat").await;
    assert_eq!(claims["aud"], "cat");
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();

    // Rotation: the old secret is refused at once, the new one works.
    let new_secret = c.rotate_client_secret("cat", &braid::accounts::Actor::admin("test")).await.unwrap();
    assert_ne!(new_secret, secret);
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
    let (status, body) = token_request(&app, ("cat", Some(&secret)), &form).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")), "{body}");
    let (status, body) = token_request(&app, ("cat", Some(&new_secret)), &form).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    let refresh = body["refresh_token"].as_str().unwrap().to_owned();

    // Deletion: the client is gone, and its refresh tokens stay dead even if the id comes back.
    c.delete_client("cat", None, &braid::accounts::Actor::admin("test")).await.unwrap();
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
    let (status, body) = token_request(&app, ("cat", Some(&new_secret)), &form).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")), "{body}");
    let again = c
        .create_client("cat", json!({"redirect_uris": [cb]}), &braid::accounts::Actor::admin("test"))
        .await
        .unwrap()
        .secret
        .unwrap();
    let (status, body) = token_request(&app, ("cat", Some(&again)), &form).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")), "{body}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_added_on_one_braid_is_in_force_on_another_within_5s() {
    let clock = Arc::new(TestClock::starting_now());
    let mock = MockIdp::start(clock.clone()).await;
    let pg = support::fresh_pg_url().await;
    let a = bare_app(clock.clone(), Some(pg.clone())).await;
    let b = bare_app(clock, Some(pg)).await;
    a.state
        .catalog
        .create_provider("mock", mock_definition(&mock), &braid::accounts::Actor::admin("test"))
        .await
        .unwrap();
    let started = std::time::Instant::now();
    while b.state.providers.snapshot().enabled("mock").is_none() {
        assert!(started.elapsed() < Duration::from_secs(5), "not in force on the other braid within 5 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let br = browser();
    let callback = to_callback(&b.base, &mock, &br).await;
    let r = br.get(&callback).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{:?}", r.text().await);
    assert!(b.state.accounts.find_identity(&mock.base, "user-1").await.unwrap().is_some());

    // And a removal too.
    a.state.catalog.delete_provider("mock", None, &braid::accounts::Actor::admin("test")).await.unwrap();
    let started = std::time::Instant::now();
    while b.state.providers.snapshot().enabled("mock").is_some() {
        assert!(started.elapsed() < Duration::from_secs(5), "still in force on the other braid after 5 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test]
async fn a_provider_and_a_client_both_in_files_and_in_sql_stop_braid_from_starting() {
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    let url = support::sqlite_url(&dir);
    let db = braid::db::Db::connect(&url).await.unwrap();
    sqlx::query(
        "INSERT INTO providers (id, definition, version, updated_at) VALUES ('dev', '{\"kind\":\"dev\"}', 1, 0)",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let s = settings(dir.path(), &url, "memory", "");
    let e = braid::Application::build(s).await.err().expect("refused").to_string();
    assert!(e.contains("provider `dev`") && e.contains("both"), "{e}");
    sqlx::query("DELETE FROM providers").execute(&db.pool).await.unwrap();
    sqlx::query(
        "INSERT INTO clients (id, definition, secret_sha256, version, updated_at) \
         VALUES ('app', '{\"redirect_uris\":[\"http://127.0.0.1:9/x\"],\"public\":true}', NULL, 1, 0)",
    )
    .execute(&db.pool)
    .await
    .unwrap();
    let s = settings(dir.path(), &url, "memory", "");
    let e = braid::Application::build(s).await.err().expect("refused").to_string();
    assert!(e.contains("client `app`") && e.contains("both"), "{e}");
}

fn braid(dir: &std::path::Path, args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_braid")).current_dir(dir).args(args).output().expect("braid runs")
}

fn out(o: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr))
}

#[test]
fn the_providers_command_adds_lists_checks_and_removes() {
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    std::fs::write(
        dir.path().join("github.toml"),
        "kind = \"oauth2\"\npreset = \"github\"\nclient_id = \"gh\"\nclient_secret = \"cli-secret-value\"\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("bad.json"),
        r#"{"kind": "oauth2", "preset": "github", "client_id": "gh", "colour": 1}"#,
    )
    .unwrap();
    let o = braid(dir.path(), &["providers", "add", "github.toml"]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(out(&o).contains("provider `github` added"), "{}", out(&o));
    let o = braid(dir.path(), &["providers", "list"]);
    assert!(o.status.success(), "{}", out(&o));
    let list: Value = serde_json::from_slice(&o.stdout).unwrap();
    let ids: Vec<(&str, &str)> =
        list.as_array().unwrap().iter().map(|p| (p["id"].as_str().unwrap(), p["source"].as_str().unwrap())).collect();
    assert_eq!(ids, [("dev", "file"), ("github", "api")]);
    assert!(!out(&o).contains("cli-secret-value"));
    // Again: refused (exists); a bad key: bad input, naming it; a file's id: refused.
    assert_eq!(braid(dir.path(), &["providers", "add", "github.toml"]).status.code(), Some(1));
    let o = braid(dir.path(), &["providers", "add", "bad.json"]);
    assert_eq!(o.status.code(), Some(2), "{}", out(&o));
    assert!(out(&o).contains("/colour"), "{}", out(&o));
    assert_eq!(braid(dir.path(), &["providers", "add", "github.toml", "--id", "dev"]).status.code(), Some(1));
    // `check` says what `braid check --online` says of each (the API's check, by the service).
    let o = braid(dir.path(), &["providers", "check", "github"]);
    assert!(o.status.success() && out(&o).contains("github: nothing to reach before a sign-in"), "{}", out(&o));
    let o = braid(dir.path(), &["providers", "check", "dev"]);
    assert!(o.status.success() && out(&o).contains("dev: built in"), "{}", out(&o));
    assert_eq!(braid(dir.path(), &["providers", "check", "nosuch"]).status.code(), Some(3));
    let o = braid(dir.path(), &["providers", "remove", "github"]);
    assert!(o.status.success(), "{}", out(&o));
    assert_eq!(braid(dir.path(), &["providers", "remove", "github"]).status.code(), Some(3));
    let o = braid(dir.path(), &["providers", "list"]);
    assert!(!out(&o).contains("\"github\""), "{}", out(&o));
}

#[test]
fn the_clients_command_adds_rotates_and_removes() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("web.toml"), "name = \"Web\"\nredirect_uris = [\"http://127.0.0.1:9/web\"]\n")
        .unwrap();
    let o = braid(dir.path(), &["clients", "add", "web.toml"]);
    assert!(o.status.success(), "{}", out(&o));
    let secret = String::from_utf8_lossy(&o.stdout).lines().last().unwrap().trim().to_owned();
    assert!(secret.len() >= 43, "{}", out(&o));
    let o = braid(dir.path(), &["clients", "list"]);
    assert!(out(&o).contains("\"web\"") && !out(&o).contains(&secret), "{}", out(&o));
    let o = braid(dir.path(), &["clients", "rotate-secret", "web"]);
    assert!(o.status.success(), "{}", out(&o));
    assert!(!out(&o).contains(&secret));
    assert!(braid(dir.path(), &["clients", "remove", "web"]).status.success());
    assert_eq!(braid(dir.path(), &["clients", "rotate-secret", "web"]).status.code(), Some(3));
}
