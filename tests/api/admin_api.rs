//! The admin API over HTTP: off without tokens, 401 for a missing, wrong or removed token,
//! RFC 9457 problems with JSON pointers for bad input (never a 500), ETag and `If-Match`,
//! account search and the audit log paged on SQLite and PostgreSQL, an account's sessions and
//! refresh tokens seen and ended, and the OpenAPI document checked by `openapi-spec-validator`
//! and exercised by `schemathesis` against the live API.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::admin_ops::{TOKEN, admin_toml};
use crate::helpers::*;

async fn app_on(accounts: &str, extra: &str) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    let accounts = if accounts == "sqlite" { crate::support::sqlite_url(&dir) } else { accounts.to_owned() };
    let extra = extra.to_owned();
    spawn_in(dir, move |d| settings(d, &accounts, "memory", &extra)).await
}

async fn admin_app() -> TestApp {
    app_on("sqlite", &admin_toml()).await
}

async fn call(req: reqwest::RequestBuilder) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let r = req.send().await.unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    let text = r.text().await.unwrap();
    (status, headers, serde_json::from_str(&text).unwrap_or(Value::String(text)))
}

fn is_problem(h: &reqwest::header::HeaderMap, v: &Value, status: StatusCode, kind: &str) {
    assert_eq!(h["content-type"], "application/problem+json", "{v}");
    assert_eq!(v["status"], status.as_u16(), "{v}");
    assert_eq!(v["type"], kind, "{v}");
    assert!(v["title"].is_string(), "{v}");
}

/// Sign in at `app` through the dev provider as `user`; the browser and the account id.
async fn signed_in(app: &TestApp, user: &str) -> (reqwest::Client, String) {
    let b = browser();
    let page = b.get(app.url("/login/dev")).send().await.unwrap().text().await.unwrap();
    let state = form_state(&page);
    let email = format!("{user}@example.com");
    let r = b
        .post(app.url("/login/dev"))
        .form(&[("state", state.as_str()), ("username", user), ("email", email.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let id = app.state.accounts.find_identity("urn:braid:dev:dev", user).await.unwrap().unwrap();
    (b, id.account_id.0)
}

#[tokio::test]
async fn the_api_is_off_without_a_token_and_refuses_missing_wrong_and_removed_tokens() {
    let off = app_on("sqlite", "").await;
    for path in ["/admin/v1/accounts", "/admin/v1/openapi.json", "/admin/v1/nothing"] {
        let (s, h, v) = call(reqwest::Client::new().get(off.url(path)).bearer_auth(TOKEN)).await;
        assert_eq!(s, StatusCode::NOT_FOUND, "{path}");
        is_problem(&h, &v, s, "urn:braid:problem:api-off");
    }

    let app = admin_app().await;
    let h = reqwest::Client::new();
    let url = app.url("/admin/v1/accounts");
    for req in [
        h.get(&url),
        h.get(&url).bearer_auth("braid_admin_wrong"),
        h.get(&url).bearer_auth(braid::admin::settings::digest_hex(TOKEN)),
        h.get(&url).basic_auth("ops", Some(TOKEN)),
        h.get(&url)
            .header("authorization", format!("Bearer {TOKEN}"))
            .header("authorization", format!("Bearer {TOKEN}")),
    ] {
        let (s, hd, v) = call(req).await;
        assert_eq!(s, StatusCode::UNAUTHORIZED, "{v}");
        assert_eq!(hd["www-authenticate"], "Bearer realm=\"braid admin\"");
        is_problem(&hd, &v, s, "urn:braid:problem:unauthorized");
    }
    let (s, _, v) = call(h.get(&url).bearer_auth(TOKEN)).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // The token removed from braid.toml (another one configured instead), braid restarted.
    let other = format!(
        "\n[admin]\n[[admin.tokens]]\nname = \"next\"\nsha256 = \"{}\"\n",
        braid::admin::settings::digest_hex("braid_admin_the-next-one")
    );
    let restarted = app_on("sqlite", &other).await;
    let (s, _, _) = call(h.get(restarted.url("/admin/v1/accounts")).bearer_auth(TOKEN)).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = call(h.get(restarted.url("/admin/v1/accounts")).bearer_auth("braid_admin_the-next-one")).await;
    assert_eq!(s, StatusCode::OK);
}

#[tokio::test]
async fn bad_input_gets_a_problem_naming_the_field_never_a_500() {
    let app = admin_app().await;
    let (_, alice) = signed_in(&app, "alice").await;
    let id = app.state.accounts.find_identity("urn:braid:dev:dev", "alice").await.unwrap().unwrap().id;
    let h = reqwest::Client::new();
    let v1 = |p: &str| app.url(&format!("/admin/v1{p}"));
    let validation = "urn:braid:problem:validation";
    let cases: Vec<(reqwest::RequestBuilder, StatusCode, &str, Option<&str>)> = vec![
        (
            h.patch(v1(&format!("/identities/{id}"))).json(&json!({"can_sign_in": "yes"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            validation,
            Some("/can_sign_in"),
        ),
        (
            h.patch(v1(&format!("/identities/{id}"))).json(&json!({"colour": "red"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            validation,
            Some("/colour"),
        ),
        (
            h.patch(v1(&format!("/identities/{id}"))).json(&json!({"primary": false})),
            StatusCode::UNPROCESSABLE_ENTITY,
            validation,
            Some("/primary"),
        ),
        (
            h.patch(v1(&format!("/identities/{id}"))).json(&json!([1, 2])),
            StatusCode::UNPROCESSABLE_ENTITY,
            validation,
            Some(""),
        ),
        (
            h.patch(v1("/identities/not-a-number")).json(&json!({})),
            StatusCode::UNPROCESSABLE_ENTITY,
            validation,
            Some("#/id"),
        ),
        (
            h.post(v1(&format!("/accounts/{alice}/identities"))).json(&json!({"issuer": "", "subject": "x"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            validation,
            Some("/issuer"),
        ),
        (
            h.post(v1(&format!("/accounts/{alice}/identities"))).json(&json!({"issuer": "https://x"})),
            StatusCode::UNPROCESSABLE_ENTITY,
            validation,
            Some(""),
        ),
        (
            h.post(v1(&format!("/accounts/{alice}/merge"))).json(&json!({"into": 7})),
            StatusCode::UNPROCESSABLE_ENTITY,
            validation,
            Some("/into"),
        ),
        (
            h.post(v1(&format!("/accounts/{alice}/merge")))
                .body("into=x")
                .header("content-type", "application/x-www-form-urlencoded"),
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            "urn:braid:problem:unsupported-media-type",
            None,
        ),
        (
            h.post(v1(&format!("/accounts/{alice}/merge")))
                .body("{not json")
                .header("content-type", "application/json"),
            StatusCode::UNPROCESSABLE_ENTITY,
            validation,
            Some(""),
        ),
        (
            h.get(v1("/accounts")).query(&[("limit", "0")]),
            StatusCode::UNPROCESSABLE_ENTITY,
            validation,
            Some("#/limit"),
        ),
        (
            h.get(v1("/accounts")).query(&[("sort", "name")]),
            StatusCode::UNPROCESSABLE_ENTITY,
            validation,
            Some("#/sort"),
        ),
        (
            h.get(v1("/audit")).query(&[("cursor", "abc")]),
            StatusCode::UNPROCESSABLE_ENTITY,
            validation,
            Some("#/cursor"),
        ),
        (h.get(v1("/sessions")), StatusCode::UNPROCESSABLE_ENTITY, validation, None),
        (
            h.post(v1(&format!("/accounts/{alice}/merge"))).json(&json!({"into": alice})),
            StatusCode::CONFLICT,
            "urn:braid:problem:conflict",
            None,
        ),
        (h.post(v1("/accounts/nobody/disable")), StatusCode::NOT_FOUND, "urn:braid:problem:not-found", None),
        (h.delete(v1(&format!("/identities/{id}"))), StatusCode::CONFLICT, "urn:braid:problem:primary-identity", None),
    ];
    for (req, status, kind, pointer) in cases {
        let (s, hd, v) = call(req.bearer_auth(TOKEN)).await;
        assert_eq!(s, status, "{v}");
        is_problem(&hd, &v, s, kind);
        if let Some(p) = pointer {
            assert_eq!(v["errors"][0]["pointer"], p, "{v}");
        }
    }
    // Nothing changed.
    let account = app.state.accounts.account(&braid::accounts::AccountId(alice.clone())).await.unwrap().unwrap();
    assert_eq!(account.status, braid::accounts::AccountStatus::Active);
    assert_eq!(app.state.accounts.identities(&account.id).await.unwrap().len(), 1);
}

#[tokio::test]
async fn a_stale_if_match_gets_412_and_the_current_etag_passes() {
    let app = admin_app().await;
    let (_, alice) = signed_in(&app, "alice").await;
    let h = reqwest::Client::new();
    let url = app.url(&format!("/admin/v1/accounts/{alice}"));
    let (s, hd, _) = call(h.get(&url).bearer_auth(TOKEN)).await;
    assert_eq!(s, StatusCode::OK);
    let first = hd["etag"].to_str().unwrap().to_owned();
    // Another admin links an identity: the account's representation changes.
    let (s, _, v) = call(
        h.post(app.url(&format!("/admin/v1/accounts/{alice}/identities")))
            .bearer_auth(TOKEN)
            .header("if-match", &first)
            .json(&json!({"issuer": "urn:braid:dev:dev", "subject": "alice-2", "provider": "dev"})),
    )
    .await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let second_id = v["id"].as_i64().unwrap();
    let (s, hd, v) = call(h.delete(&url).bearer_auth(TOKEN).header("if-match", &first)).await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED, "{v}");
    is_problem(&hd, &v, s, "urn:braid:problem:precondition-failed");
    assert!(app.state.accounts.account(&braid::accounts::AccountId(alice.clone())).await.unwrap().is_some());
    // Identities too: PATCH with the identity's own ETag.
    let ident = app.url(&format!("/admin/v1/identities/{second_id}"));
    let (s, _, v) =
        call(h.patch(&ident).bearer_auth(TOKEN).header("if-match", "\"stale\"").json(&json!({"can_sign_in": false})))
            .await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED, "{v}");
    let (s, hd, v) = call(h.patch(&ident).bearer_auth(TOKEN).json(&json!({"can_sign_in": false}))).await;
    assert_eq!((s, v["can_sign_in"].as_bool()), (StatusCode::OK, Some(false)), "{v}");
    let tag = hd["etag"].to_str().unwrap().to_owned();
    let (s, _, v) =
        call(h.patch(&ident).bearer_auth(TOKEN).header("if-match", &tag).json(&json!({"primary": true}))).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    // The current ETag of the account passes.
    let (_, hd, _) = call(h.get(&url).bearer_auth(TOKEN)).await;
    let current = hd["etag"].to_str().unwrap().to_owned();
    assert_ne!(current, first);
    let (s, _, v) = call(h.delete(&url).bearer_auth(TOKEN).header("if-match", &current)).await;
    assert_eq!(s, StatusCode::NO_CONTENT, "{v}");
    let (s, _, _) = call(h.get(&url).bearer_auth(TOKEN)).await;
    assert_eq!(s, StatusCode::NOT_FOUND);
}

/// Every call with a token is in the audit log under the token's name: a change by its own
/// event, a read as `admin.read`, a refused call as `admin.refused` with its status; the account
/// a call concerns is named, so an account's audit log says who looked at it.
#[tokio::test]
async fn every_call_is_audited_with_the_token_name() {
    let app = admin_app().await;
    let (_, alice) = signed_in(&app, "alice").await;
    let h = reqwest::Client::new();
    let id = braid::accounts::AccountId(alice.clone());
    let (s, _, _) = call(h.get(app.url(&format!("/admin/v1/accounts/{alice}"))).bearer_auth(TOKEN)).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) =
        call(h.get(app.url("/admin/v1/sessions")).query(&[("account", alice.as_str())]).bearer_auth(TOKEN)).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = call(
        h.post(app.url(&format!("/admin/v1/accounts/{alice}/merge")))
            .bearer_auth(TOKEN)
            .json(&json!({"into": "nobody"})),
    )
    .await;
    assert_eq!(s, StatusCode::NOT_FOUND);
    let (s, _, _) = call(h.post(app.url(&format!("/admin/v1/accounts/{alice}/disable"))).bearer_auth(TOKEN)).await;
    assert_eq!(s, StatusCode::OK);
    let (s, _, _) = call(h.get(app.url(&format!("/admin/v1/accounts/{alice}"))).bearer_auth("wrong")).await;
    assert_eq!(s, StatusCode::UNAUTHORIZED);
    let (s, _, _) = call(h.get(app.url("/admin/v1/providers")).bearer_auth(TOKEN)).await;
    assert_eq!(s, StatusCode::OK);

    let events = app.state.accounts.audit(&id).await.unwrap();
    let by_admin: Vec<(String, String, Option<String>)> =
        events.into_iter().filter(|e| e.actor.starts_with("admin:")).map(|e| (e.actor, e.action, e.target)).collect();
    let ops = || "admin:ops".to_owned();
    assert_eq!(
        by_admin,
        [
            (ops(), "admin.read".into(), Some(format!("GET /admin/v1/accounts/{alice}"))),
            (ops(), "admin.read".into(), Some(format!("GET /admin/v1/sessions?account={alice}"))),
            (ops(), "admin.refused".into(), Some(format!("POST /admin/v1/accounts/{alice}/merge (404)"))),
            (ops(), "account.disabled".into(), None),
        ],
        "a read, a read, a refused change, a change (audited once, by its own event); the call without a valid \
         token is not (it is logged and budgeted)"
    );
    let q = braid::accounts::AuditQuery { account: None, action: Some("admin.read".into()) };
    let reads = app.state.accounts.audit_page(&q, None, 10).await.unwrap();
    assert_eq!(reads[0].target.as_deref(), Some("GET /admin/v1/providers"), "reads of no account too");
    assert_eq!(reads[0].account_id, "");
}

/// Eight admins hold one ETag of an account and each links a different identity at once: the
/// version is compared under the account's lock, so exactly one succeeds and the others get
/// 412 with nothing linked. Then a change made between an admin's read and its write (a sign-in
/// switch through the store) makes that write 412 as well.
async fn one_etag_allows_one_change(accounts: &str) {
    let app = app_on(accounts, &admin_toml()).await;
    let (_, alice) = signed_in(&app, "alice").await;
    let h = reqwest::Client::new();
    let url = app.url(&format!("/admin/v1/accounts/{alice}"));
    let (_, hd, _) = call(h.get(&url).bearer_auth(TOKEN)).await;
    let tag = hd["etag"].to_str().unwrap().to_owned();
    let links = (0..8).map(|n| {
        let (h, tag) = (h.clone(), tag.clone());
        let url = app.url(&format!("/admin/v1/accounts/{alice}/identities"));
        async move {
            call(
                h.post(url)
                    .bearer_auth(TOKEN)
                    .header("if-match", tag)
                    .json(&json!({"issuer": "urn:braid:dev:dev", "subject": format!("alice-{n}"), "provider": "dev"})),
            )
            .await
        }
    });
    let answers = futures_util::future::join_all(links).await;
    let statuses: Vec<StatusCode> = answers.iter().map(|(s, _, _)| *s).collect();
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::CREATED).count(), 1, "{statuses:?}");
    assert_eq!(statuses.iter().filter(|s| **s == StatusCode::PRECONDITION_FAILED).count(), 7, "{statuses:?}");
    let (_, _, v) = call(h.get(&url).bearer_auth(TOKEN)).await;
    assert_eq!(v["identities"].as_array().unwrap().len(), 2, "{v}");
    let linked: Vec<_> = app.state.accounts.audit(&braid::accounts::AccountId(alice.clone())).await.unwrap();
    assert_eq!(linked.iter().filter(|e| e.action == "identity.linked").count(), 1, "{linked:?}");
}

#[tokio::test]
async fn one_etag_allows_one_change_on_sqlite() {
    one_etag_allows_one_change("sqlite").await;
}

#[tokio::test]
async fn one_etag_allows_one_change_on_postgres() {
    one_etag_allows_one_change(&crate::support::fresh_pg_url().await).await;
}

async fn search_and_audit_are_paged(accounts: &str) {
    let app = app_on(accounts, &admin_toml()).await;
    let h = reqwest::Client::new();
    let mut ids = Vec::new();
    for u in ["ann", "ben", "cat", "dan", "eve"] {
        ids.push(signed_in(&app, u).await.1);
    }
    ids.sort();
    // Every account, two by two.
    let (mut seen, mut cursor) = (Vec::new(), None::<String>);
    loop {
        let mut q = vec![("limit", "2".to_owned())];
        if let Some(c) = &cursor {
            q.push(("cursor", c.clone()));
        }
        let (s, _, v) = call(h.get(app.url("/admin/v1/accounts")).query(&q).bearer_auth(TOKEN)).await;
        assert_eq!(s, StatusCode::OK, "{v}");
        seen.extend(v["items"].as_array().unwrap().iter().map(|a| a["account"]["id"].as_str().unwrap().to_owned()));
        match v["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_owned()),
            None => break,
        }
    }
    assert_eq!(seen, ids);
    // By email (any case), by issuer and subject.
    let (_, _, v) =
        call(h.get(app.url("/admin/v1/accounts")).query(&[("email", "CAT@example.com")]).bearer_auth(TOKEN)).await;
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    assert_eq!(v["items"][0]["identities"][0]["subject"], "cat");
    let (_, _, v) = call(
        h.get(app.url("/admin/v1/accounts"))
            .query(&[("issuer", "urn:braid:dev:dev"), ("subject", "dan")])
            .bearer_auth(TOKEN),
    )
    .await;
    assert_eq!(v["items"][0]["identities"][0]["subject"], "dan");
    let (_, _, v) =
        call(h.get(app.url("/admin/v1/accounts")).query(&[("email", "nobody@example.com")]).bearer_auth(TOKEN)).await;
    assert_eq!(v["items"], json!([]));

    // Changes through the API are audited with the token's name, newest first, filtered by type.
    for id in &ids[..3] {
        let (s, _, _) = call(h.post(app.url(&format!("/admin/v1/accounts/{id}/disable"))).bearer_auth(TOKEN)).await;
        assert_eq!(s, StatusCode::OK);
    }
    let (_, _, v) = call(
        h.get(app.url("/admin/v1/audit")).query(&[("type", "account.disabled"), ("limit", "2")]).bearer_auth(TOKEN),
    )
    .await;
    let page: Vec<&Value> = v["items"].as_array().unwrap().iter().collect();
    assert_eq!(page.len(), 2);
    assert!(page.iter().all(|e| e["type"] == "account.disabled" && e["actor"] == "admin:ops"), "{v}");
    assert_eq!(page[0]["account_id"], ids[2].as_str(), "newest first");
    let next = v["next_cursor"].as_str().unwrap().to_owned();
    let (_, _, v) = call(
        h.get(app.url("/admin/v1/audit"))
            .query(&[("type", "account.disabled"), ("limit", "2"), ("cursor", &next)])
            .bearer_auth(TOKEN),
    )
    .await;
    assert_eq!(v["items"].as_array().unwrap().len(), 1);
    assert_eq!(v["items"][0]["account_id"], ids[0].as_str());
    let (_, _, v) =
        call(h.get(app.url("/admin/v1/audit")).query(&[("account", ids[1].as_str())]).bearer_auth(TOKEN)).await;
    assert!(v["items"].as_array().unwrap().iter().all(|e| e["account_id"] == ids[1].as_str()), "{v}");
}

#[tokio::test]
async fn search_and_audit_are_paged_on_sqlite() {
    search_and_audit_are_paged("sqlite").await;
}

#[tokio::test]
async fn search_and_audit_are_paged_on_postgres() {
    search_and_audit_are_paged(&crate::support::fresh_pg_url().await).await;
}

#[tokio::test]
async fn an_accounts_sessions_and_refresh_tokens_are_listed_and_ended() {
    let app = admin_app().await;
    let b = browser();
    let code = code_for(&app, &b, "sam", "n-1").await;
    let tokens: Value = redeem(&app, &code).await.json().await.unwrap();
    let sam = app.state.accounts.find_identity("urn:braid:dev:dev", "sam").await.unwrap().unwrap().account_id.0;
    let h = reqwest::Client::new();
    let (s, _, v) =
        call(h.get(app.url("/admin/v1/sessions")).query(&[("account", sam.as_str())]).bearer_auth(TOKEN)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["sessions"].as_array().unwrap().len(), 1, "{v}");
    assert_eq!(v["sessions"][0]["provider_id"], "dev");
    let grants = v["grants"].as_array().unwrap().len();
    assert_eq!(grants, usize::from(tokens["refresh_token"].is_string()), "{v}");
    let (s, _, v) = call(h.delete(app.url(&format!("/admin/v1/accounts/{sam}/sessions"))).bearer_auth(TOKEN)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!((v["sessions"].as_u64(), v["grants"].as_u64()), (Some(1), Some(grants as u64)));
    assert_eq!(b.get(app.url("/account")).send().await.unwrap().status(), StatusCode::SEE_OTHER, "signed out");
    if let Some(rt) = tokens["refresh_token"].as_str() {
        let (s, v) =
            token_request(&app, (APP_ID, Some(APP_SECRET)), &[("grant_type", "refresh_token"), ("refresh_token", rt)])
                .await;
        assert_eq!((s, v["error"].as_str()), (StatusCode::BAD_REQUEST, Some("invalid_grant")));
    }
    let (_, _, v) =
        call(h.get(app.url("/admin/v1/sessions")).query(&[("account", sam.as_str())]).bearer_auth(TOKEN)).await;
    assert_eq!((v["sessions"].as_array().unwrap().len(), v["grants"].as_array().unwrap().len()), (0, 0));
}

/// The Python tools' venv (`scripts/test` makes it).
fn venv_bin(tool: &str) -> std::path::PathBuf {
    let bin = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/interop/openapi/.venv/bin").join(tool);
    assert!(bin.exists(), "{} is missing: scripts/test installs it (scripts/lib.sh ensure_venv)", bin.display());
    bin
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_openapi_document_passes_a_validator_and_schemathesis_finds_no_5xx() {
    let app = admin_app().await;
    signed_in(&app, "olga").await;
    let (s, _, doc) = call(reqwest::Client::new().get(app.url("/admin/v1/openapi.json")).bearer_auth(TOKEN)).await;
    assert_eq!(s, StatusCode::OK);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"), "{}", doc["openapi"]);
    // Every path and method of the contract.
    for (path, methods) in [
        ("/admin/v1/openapi.json", &["get"][..]),
        ("/admin/v1/providers", &["get", "post"]),
        ("/admin/v1/providers/{id}", &["get", "put", "delete"]),
        ("/admin/v1/providers/{id}/check", &["post"]),
        ("/admin/v1/clients", &["get", "post"]),
        ("/admin/v1/clients/{id}", &["get", "put", "delete"]),
        ("/admin/v1/clients/{id}/secret", &["post"]),
        ("/admin/v1/accounts", &["get"]),
        ("/admin/v1/accounts/{id}", &["get", "delete"]),
        ("/admin/v1/accounts/{id}/identities", &["post"]),
        ("/admin/v1/identities/{id}", &["delete", "patch"]),
        ("/admin/v1/identities/{id}/move", &["post"]),
        ("/admin/v1/accounts/{id}/merge", &["post"]),
        ("/admin/v1/accounts/{id}/disable", &["post"]),
        ("/admin/v1/accounts/{id}/enable", &["post"]),
        ("/admin/v1/audit", &["get"]),
        ("/admin/v1/sessions", &["get"]),
        ("/admin/v1/accounts/{id}/sessions", &["delete"]),
    ] {
        for m in methods {
            assert!(doc["paths"][path][m].is_object(), "{m} {path} documented");
        }
    }
    // Bodies are described key by key: a provider definition has every key the API takes (as it
    // lists them when refusing an unknown one), and nothing else; so has a client definition.
    let schemas = &doc["components"]["schemas"];
    let provider = &schemas["ProviderDefinition"];
    assert_eq!(provider["additionalProperties"], false, "{provider}");
    let probe = json!({"id": "probe", "kind": "oidc", "no_such_key": 1});
    let (_, _, refused) =
        call(reqwest::Client::new().post(app.url("/admin/v1/providers")).bearer_auth(TOKEN).json(&probe)).await;
    let listed = refused["detail"].as_str().unwrap().split("expected one of").nth(1).unwrap().to_owned();
    for key in listed.split('`').skip(1).step_by(2).filter(|k| *k != "clock_skew") {
        assert!(provider["properties"][key].is_object(), "`{key}` is not in the provider schema");
    }
    assert_eq!(schemas["ClientDefinition"]["additionalProperties"], false);
    assert!(schemas["ClientDefinition"]["properties"]["redirect_uris"].is_object());
    let body_of = |path: &str, m: &str| {
        doc["paths"][path][m]["requestBody"]["content"]["application/json"]["schema"]["$ref"].clone()
    };
    assert_eq!(body_of("/admin/v1/providers", "post"), "#/components/schemas/ProviderDefinition");
    assert_eq!(body_of("/admin/v1/providers/{id}", "put"), "#/components/schemas/ProviderDefinition");
    assert_eq!(body_of("/admin/v1/clients", "post"), "#/components/schemas/ClientDefinition");
    assert_eq!(body_of("/admin/v1/clients/{id}", "put"), "#/components/schemas/ClientDefinition");
    // Every operation that can answer 412 documents the If-Match header it honours.
    let mut conditional = 0;
    for (path, item) in doc["paths"].as_object().unwrap() {
        for (m, op) in item.as_object().unwrap() {
            if op["responses"]["412"].is_object() {
                conditional += 1;
                let params = op["parameters"].as_array().cloned().unwrap_or_default();
                assert!(
                    params.iter().any(|p| p["name"] == "If-Match" && p["in"] == "header"),
                    "{m} {path} documents If-Match"
                );
            }
        }
    }
    assert!(conditional >= 12, "{conditional} operations answer 412");
    let file = app.dir().join("openapi.json");
    std::fs::write(&file, serde_json::to_vec(&doc).unwrap()).unwrap();
    let validator = venv_bin("openapi-spec-validator");
    let o = tokio::task::spawn_blocking(move || std::process::Command::new(validator).arg(&file).output().unwrap())
        .await
        .unwrap();
    assert!(o.status.success(), "{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));

    let schemathesis = venv_bin("schemathesis");
    let (schema, base) = (app.url("/admin/v1/openapi.json"), app.base.clone());
    let o = tokio::task::spawn_blocking(move || {
        std::process::Command::new(schemathesis)
            .args(["run", &schema, "--url", &base, "-H", &format!("Authorization: Bearer {TOKEN}")])
            .args(["--checks", "not_a_server_error,status_code_conformance,response_headers_conformance,response_schema_conformance,content_type_conformance"])
            .args(["--max-examples", "25", "--phases", "examples,fuzzing", "--seed", "7", "--no-color"])
            .env("SCHEMATHESIS_HOOKS", "")
            .output()
            .unwrap()
    })
    .await
    .unwrap();
    let text = format!("{}{}", String::from_utf8_lossy(&o.stdout), String::from_utf8_lossy(&o.stderr));
    assert!(o.status.success(), "schemathesis found problems:\n{text}");
}
