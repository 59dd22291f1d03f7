//! Providers and clients through the admin API over HTTP, on SQLite and a real PostgreSQL: an
//! OIDC provider registered for the real `oidc-provider` upstream signs people in without a
//! restart, then is changed (stale `If-Match` refused), disabled and deleted (sign-in through it
//! refused); a discovery document that names another issuer is refused; file-defined entries are
//! read-only (409); a client made through the API runs a code flow, its rotated secret and its
//! deletion cut it off.

use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::admin_ops::{TOKEN, admin_toml};
use crate::helpers::*;
use crate::interop_oidc::{start_op, through_op};

async fn app_on(accounts: &str) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    let accounts = if accounts == "sqlite" { crate::support::sqlite_url(&dir) } else { accounts.to_owned() };
    spawn_in(dir, move |d| settings(d, &accounts, "memory", &admin_toml())).await
}

async fn call(req: reqwest::RequestBuilder) -> (StatusCode, reqwest::header::HeaderMap, Value) {
    let r = req.bearer_auth(TOKEN).send().await.unwrap();
    let (status, headers) = (r.status(), r.headers().clone());
    (status, headers, r.json().await.unwrap_or(Value::Null))
}

/// One sign-in through provider `op` at oidc-provider as `person`: braid's answer at its callback.
async fn sign_in_through_op(app: &TestApp, person: &str) -> reqwest::Response {
    let b = browser();
    let (_, challenge) = pkce();
    let mut q = authorize_query(SPA_ID, SPA_CB, Some(&challenge), "n-api");
    q.push(("idp_hint".into(), "op".into()));
    let r = b.get(app.url("/authorize")).query(&q).send().await.unwrap();
    through_op(app, &b, &location(&r), person).await
}

async fn providers_through_the_api(accounts: &str) {
    let app = app_on(accounts).await;
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let _op = start_op(port, &app.url("/callback/op")).await;
    let h = reqwest::Client::new();
    let v1 = |p: &str| app.url(&format!("/admin/v1{p}"));
    let issuer = format!("http://127.0.0.1:{port}");
    let definition = json!({
        "id": "op", "kind": "oidc", "display_name": "oidc-provider", "issuer": issuer,
        "client_id": "braid", "client_secret": "braid-interop-secret",
        "scopes": ["openid", "email", "profile"], "userinfo": true, "trust_email": true,
    });

    // Refused: a wrong type, an unknown key, a discovery document naming another issuer.
    let mut bad = definition.clone();
    bad["userinfo"] = json!("yes");
    let (s, _, v) = call(h.post(v1("/providers")).json(&bad)).await;
    assert_eq!((s, v["errors"][0]["pointer"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("/userinfo")), "{v}");
    let mut bad = definition.clone();
    bad["colour"] = json!("red");
    let (s, _, v) = call(h.post(v1("/providers")).json(&bad)).await;
    assert_eq!((s, v["errors"][0]["pointer"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("/colour")), "{v}");
    let mut other = definition.clone();
    other["issuer"] = json!(format!("http://localhost:{port}"));
    let (s, _, v) = call(h.post(v1("/providers")).json(&other)).await;
    assert_eq!(
        (s, v["type"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("urn:braid:problem:upstream-unreachable")),
        "{v}"
    );
    // The document was fetched and named the other issuer (not a connection that failed).
    let detail = v["detail"].as_str().unwrap_or_default();
    assert!(detail.contains("the provider says its issuer is") && detail.contains("127.0.0.1"), "{v}");

    // Registered: listed beside the file provider, never with its secret; people sign in at once.
    let (s, hd, v) = call(h.post(v1("/providers")).json(&definition)).await;
    assert_eq!(s, StatusCode::CREATED, "{v}");
    let first_tag = hd["etag"].to_str().unwrap().to_owned();
    assert_eq!((v["source"].as_str(), v["has_client_secret"].as_bool()), (Some("api"), Some(true)));
    let (_, _, list) = call(h.get(v1("/providers"))).await;
    let sources: Vec<(&str, &str)> =
        list.as_array().unwrap().iter().map(|p| (p["id"].as_str().unwrap(), p["source"].as_str().unwrap())).collect();
    assert_eq!(sources, [("dev", "file"), ("op", "api")]);
    assert!(!list.to_string().contains("braid-interop-secret"), "the secret is never returned");
    let (s, _, _) = call(h.post(v1("/providers")).json(&definition)).await;
    assert_eq!(s, StatusCode::CONFLICT, "the id is taken");
    let r = sign_in_through_op(&app, "alice").await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "signed in through a provider added at run time");
    assert!(app.state.accounts.find_identity(&issuer, "alice").await.unwrap().is_some());
    let (s, _, v) = call(h.post(v1("/providers/op/check"))).await;
    assert_eq!(s, StatusCode::OK, "{v}");

    // Changed: a stale If-Match is refused, the current one passes; the secret is kept.
    let mut changed = definition.clone();
    changed.as_object_mut().unwrap().remove("client_secret");
    changed["display_name"] = json!("Our OP");
    let (s, _, v) = call(h.put(v1("/providers/op")).header("if-match", &first_tag).json(&changed)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    assert_eq!(v["display_name"], "Our OP");
    let (s, _, v) = call(h.put(v1("/providers/op")).header("if-match", &first_tag).json(&changed)).await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED, "{v}");
    assert!(sign_in_through_op(&app, "alice").await.status() == StatusCode::SEE_OTHER, "the kept secret still works");

    // Disabled, then deleted: sign-in through it is refused.
    changed["enabled"] = json!(false);
    let (s, hd, v) = call(h.put(v1("/providers/op")).json(&changed)).await;
    assert_eq!(s, StatusCode::OK, "{v}");
    let r = h.get(app.url("/login/op")).send().await.unwrap();
    assert!(r.status().is_client_error(), "a disabled provider: {}", r.status());
    let tag = hd["etag"].to_str().unwrap().to_owned();
    let (s, _, _) = call(h.delete(v1("/providers/op")).header("if-match", &tag)).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let r = h.get(app.url("/login/op")).send().await.unwrap();
    assert!(r.status().is_client_error(), "a deleted provider: {}", r.status());
    let (s, _, _) = call(h.get(v1("/providers/op"))).await;
    assert_eq!(s, StatusCode::NOT_FOUND);

    // Every change is in the audit log with the token's name.
    let (_, _, audit) = call(h.get(v1("/audit")).query(&[("type", "provider.created")])).await;
    assert_eq!(audit["items"][0]["target"], "op", "{audit}");
    assert_eq!(audit["items"][0]["actor"], "admin:ops");
    let (_, _, audit) = call(h.get(v1("/audit"))).await;
    let kinds: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .filter(|k| k.starts_with("provider."))
        .collect();
    assert_eq!(kinds, ["provider.deleted", "provider.replaced", "provider.replaced", "provider.created"], "{audit}");

    // The file provider is read-only here.
    let (s, _, v) = call(h.put(v1("/providers/dev")).json(&json!({"kind": "dev"}))).await;
    assert_eq!((s, v["type"].as_str()), (StatusCode::CONFLICT, Some("urn:braid:problem:defined-in-file")), "{v}");
    let (s, _, _) = call(h.delete(v1("/providers/dev"))).await;
    assert_eq!(s, StatusCode::CONFLICT);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_through_the_api_on_sqlite() {
    providers_through_the_api("sqlite").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_through_the_api_on_postgres() {
    providers_through_the_api(&crate::support::fresh_pg_url().await).await;
}

#[tokio::test]
async fn a_client_made_through_the_api_signs_in_until_rotated_and_deleted() {
    let app = app_on("sqlite").await;
    let h = reqwest::Client::new();
    let v1 = |p: &str| app.url(&format!("/admin/v1{p}"));
    let cb = "http://127.0.0.1:9/api-client";
    let (s, _, v) = call(h.post(v1("/clients")).json(&json!({"id": "Bad Id", "redirect_uris": [cb]}))).await;
    assert_eq!((s, v["errors"][0]["pointer"].as_str()), (StatusCode::UNPROCESSABLE_ENTITY, Some("/id")), "{v}");
    let (s, _, v) = call(h.post(v1("/clients")).json(&json!({"id": "api-app", "redirect_uris": "not a list"}))).await;
    assert_eq!(
        (s, v["errors"][0]["pointer"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("/redirect_uris")),
        "{v}"
    );
    let (s, _, made) = call(h.post(v1("/clients")).json(&json!({"id": "api-app", "redirect_uris": [cb]}))).await;
    assert_eq!(s, StatusCode::CREATED, "{made}");
    let secret = made["secret"].as_str().unwrap().to_owned();
    let (_, _, shown) = call(h.get(v1("/clients/api-app"))).await;
    assert!(!shown.to_string().contains(&secret), "the secret is shown once");
    let (_, _, list) = call(h.get(v1("/clients"))).await;
    assert!(list.as_array().unwrap().iter().any(|c| c["id"] == "app" && c["source"] == "file"));

    let b = browser();
    let back =
        walk_sign_in(&b, &[&app.base], &authorize_query("api-app", cb, None, "n"), "cleo", "cleo@example.com").await;
    let code = query_param(&back, "code").unwrap();
    let (s, t) = token_request(
        &app,
        ("api-app", Some(&secret)),
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", cb)],
    )
    .await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let refresh = t["refresh_token"].as_str().unwrap().to_owned();

    let (s, _, rotated) = call(h.post(v1("/clients/api-app/secret"))).await;
    assert_eq!(s, StatusCode::OK, "{rotated}");
    let new_secret = rotated["secret"].as_str().unwrap().to_owned();
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
    let (s, t) = token_request(&app, ("api-app", Some(&secret)), &form).await;
    assert_eq!((s, t["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")), "the old secret");
    let (s, t) = token_request(&app, ("api-app", Some(&new_secret)), &form).await;
    assert_eq!(s, StatusCode::OK, "{t}");
    let refresh = t["refresh_token"].as_str().unwrap().to_owned();

    let (s, _, _) = call(h.delete(v1("/clients/api-app")).header("if-match", "\"v1\"")).await;
    assert_eq!(s, StatusCode::PRECONDITION_FAILED, "the rotation made a new version");
    let (s, _, _) = call(h.delete(v1("/clients/api-app"))).await;
    assert_eq!(s, StatusCode::NO_CONTENT);
    let form = [("grant_type", "refresh_token"), ("refresh_token", refresh.as_str())];
    let (s, t) = token_request(&app, ("api-app", Some(&new_secret)), &form).await;
    assert!(s.is_client_error() && t["error"].is_string(), "{t}");
    let (_, _, audit) = call(h.get(v1("/audit"))).await;
    let kinds: Vec<&str> = audit["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["type"].as_str().unwrap())
        .filter(|k| k.starts_with("client."))
        .collect();
    assert_eq!(kinds, ["client.deleted", "client.secret_rotated", "client.created"], "{audit}");
    let (s, _, v) = call(h.delete(v1("/clients/app"))).await;
    assert_eq!((s, v["type"].as_str()), (StatusCode::CONFLICT, Some("urn:braid:problem:defined-in-file")));
}

/// The keys a provider definition takes, as the API itself lists them when it refuses an unknown one.
async fn provider_keys(app: &TestApp) -> Vec<String> {
    let probe = json!({"id": "probe", "kind": "oidc", "no_such_key": 1});
    let (s, _, v) = call(reqwest::Client::new().post(app.url("/admin/v1/providers")).json(&probe)).await;
    assert_eq!(
        (s, v["errors"][0]["pointer"].as_str()),
        (StatusCode::UNPROCESSABLE_ENTITY, Some("/no_such_key")),
        "{v}"
    );
    let detail = v["detail"].as_str().unwrap();
    let listed = detail.split("expected one of").nth(1).unwrap_or_else(|| panic!("the keys are listed: {detail}"));
    listed.split('`').skip(1).step_by(2).map(str::to_owned).collect()
}

#[tokio::test]
async fn every_field_of_a_provider_with_a_wrong_type_or_value_is_named_by_its_pointer() {
    let app = app_on("sqlite").await;
    let h = reqwest::Client::new();
    let oidc = json!({
        "id": "corp", "kind": "oidc", "display_name": "Corp", "issuer": "http://127.0.0.1:9",
        "client_id": "braid", "client_secret": "s", "scopes": ["openid"],
    });
    let saml = json!({
        "id": "corp", "kind": "saml", "issuer": "https://idp.corp.example",
        "idp_metadata_url": "http://127.0.0.1:9/metadata",
    });
    let github =
        json!({"id": "corp", "kind": "oauth2", "preset": "github", "client_id": "braid", "client_secret": "s"});
    let oauth2 = json!({
        "id": "corp", "kind": "oauth2", "issuer": "https://git.corp.example", "client_id": "braid",
        "client_secret": "s", "authorize_url": "https://git.corp.example/authorize",
        "token_url": "https://git.corp.example/token", "userinfo_url": "https://git.corp.example/user",
        "subject_field": "id",
    });
    // Every key, each with wrong types and, where the value is checked, wrong values; on a
    // definition of a kind that takes it.
    let cases: Vec<(&str, &Value, Vec<Value>)> = vec![
        ("id", &oidc, vec![json!(7), json!("Not An Id")]),
        ("kind", &oidc, vec![json!("ldap"), json!(7)]),
        ("display_name", &oidc, vec![json!(7), json!(["Corp"])]),
        ("enabled", &oidc, vec![json!("no"), json!(0)]),
        ("on_new_identity", &oidc, vec![json!("maybe"), json!(true)]),
        ("trust_email", &oidc, vec![json!(1)]),
        ("auto_link", &oidc, vec![json!("yes")]),
        ("can_sign_in", &oidc, vec![json!(null)]),
        ("domains", &oidc, vec![json!("corp.example"), json!([1])]),
        ("issuer", &oidc, vec![json!(["x"]), json!("not a url")]),
        (
            "discovery_url",
            &oidc,
            vec![json!(7), json!("not a url"), json!("http://idp.example/.well-known/openid-configuration")],
        ),
        ("client_id", &oidc, vec![json!(false)]),
        ("client_secret", &oidc, vec![json!(3), json!({"value": "s"})]),
        ("client_secret_file", &oidc, vec![json!(3), json!("no-such-secret-file")]),
        ("token_auth", &oidc, vec![json!("private_key_jwt_maybe"), json!(1)]),
        ("scopes", &oidc, vec![json!("openid"), json!([1])]),
        ("userinfo", &oidc, vec![json!("yes")]),
        ("prompt", &oidc, vec![json!(1)]),
        ("domain_hint", &oidc, vec![json!(1)]),
        ("extra_params", &oidc, vec![json!("a=b"), json!({"a": 1})]),
        ("clock_skew", &oidc, vec![json!("5"), json!(-1)]),
        ("clock_skew_secs", &oidc, vec![json!("5"), json!(-1)]),
        ("claims", &oidc, vec![json!("sub"), json!({"subject": 3}), json!({"colour": "red"})]),
        ("idp_metadata_file", &saml, vec![json!(3)]),
        ("idp_metadata_url", &saml, vec![json!(3), json!("not a url")]),
        ("entity_id", &saml, vec![json!(3)]),
        ("subject_attribute", &saml, vec![json!(3)]),
        ("want_assertions_signed", &saml, vec![json!("yes")]),
        ("allow_idp_initiated", &saml, vec![json!("yes")]),
        ("sign_requests", &saml, vec![json!("yes")]),
        ("signed_requests_per_sec", &saml, vec![json!("5"), json!(-1)]),
        ("signed_requests_burst", &saml, vec![json!("5"), json!(-1)]),
        ("allow_cbc_encryption", &saml, vec![json!("yes")]),
        ("metadata_signing_cert", &saml, vec![json!(3)]),
        ("metadata_refresh_secs", &saml, vec![json!("x"), json!(-1)]),
        ("preset", &github, vec![json!(3), json!("no-such-preset")]),
        ("authorize_url", &oauth2, vec![json!(3), json!("not a url")]),
        ("token_url", &oauth2, vec![json!(3), json!("not a url")]),
        ("userinfo_url", &oauth2, vec![json!(3), json!("not a url")]),
        ("emails_url", &oauth2, vec![json!(3), json!("not a url")]),
        ("subject_field", &oauth2, vec![json!(3)]),
        ("email_field", &oauth2, vec![json!(3)]),
        ("email_verified_field", &oauth2, vec![json!(3)]),
        ("name_field", &oauth2, vec![json!(3)]),
        ("can_force_login", &oauth2, vec![json!("yes")]),
        // A key of another kind is refused too.
        ("token_url", &oidc, vec![json!("http://127.0.0.1:9/token")]),
        ("client_id", &saml, vec![json!("braid")]),
        ("idp_metadata_url", &github, vec![json!("http://127.0.0.1:9/metadata")]),
        ("preset", &saml, vec![json!("github")]),
    ];
    let covered: std::collections::BTreeSet<&str> = cases.iter().map(|(k, _, _)| *k).collect();
    let keys = provider_keys(&app).await;
    assert!(keys.len() >= 40, "{keys:?}");
    for key in &keys {
        assert!(covered.contains(key.as_str()), "no wrong-value case for the provider key `{key}`");
    }
    let mut failures = Vec::new();
    for (key, base, values) in cases {
        for value in values {
            let mut def = base.clone();
            def[key] = value.clone();
            let r = h.post(app.url("/admin/v1/providers")).bearer_auth(TOKEN).json(&def).send().await.unwrap();
            let status = r.status();
            let v: Value = r.json().await.unwrap();
            let named = v["errors"].as_array().into_iter().flatten().any(|e| {
                let p = e["pointer"].as_str().unwrap_or_default();
                p == format!("/{key}") || p.starts_with(&format!("/{key}/"))
            });
            if status != StatusCode::UNPROCESSABLE_ENTITY || v["type"] != "urn:braid:problem:validation" || !named {
                failures.push(format!("{} {key} = {value}: {status} {v}", base["kind"]));
            }
        }
    }
    assert!(failures.is_empty(), "not refused at their pointer:\n{}", failures.join("\n"));
    let (s, _, list) = call(h.get(app.url("/admin/v1/providers"))).await;
    assert_eq!((s, list.as_array().unwrap().len()), (StatusCode::OK, 1), "nothing was stored: {list}");
}
