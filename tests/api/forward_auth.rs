//! Forward-auth (`/auth/verify`, `/auth/forward`, `/auth/start`, `/auth/sign-out`) as a proxy
//! and a browser use it: routes by host and longest prefix, unknown hosts refused, public paths,
//! 401 / 302 with the original URL, identity headers and an assertion verified against
//! `/jwks.json`, each policy key allowing and refusing, trust re-checked on every request,
//! sign-out and CSRF, and the 559 open-redirect payloads of oauth2-proxy refused.

use braid::accounts::{AccountId, Actor, ExternalIdentity, SignInProviders};
use braid::clock::Clock;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

/// braid with dev providers `dev` and `dev2` (both trusted for email), the account of `alma`
/// made beforehand, and routes for `app.test` using every policy key.
pub struct Proxied {
    pub app: TestApp,
    pub alma: AccountId,
}

pub const REDIRECT_HOSTS: &str = r#"redirect_hosts = ["www.whitelisteddomain.tld", "foo.bar", "port.bar:8080"]"#;

pub fn routes_toml(alma: &str) -> String {
    format!(
        r#"
[proxy]
{REDIRECT_HOSTS}

[[routes]]
host = "app.test"
public_paths = ["/healthz", "/static/"]

[[routes]]
host = "app.test"
path_prefix = "/admin"
allow_accounts = ["{alma}"]

[[routes]]
host = "app.test"
path_prefix = "/dev2"
allow_providers = ["dev2"]

[[routes]]
host = "app.test"
path_prefix = "/corp"
allow_email_domains = ["corp.example"]
audience = "urn:corp"
"#
    )
}

pub async fn proxied() -> Proxied {
    proxied_with(routes_toml).await
}

/// As [`proxied`], with the settings `routes` makes from alma's account id.
pub async fn proxied_with(routes: impl FnOnce(&str) -> String) -> Proxied {
    proxied_tweaked(routes, |_| {}).await
}

/// [`proxied_with`], with settings changed by `tweak` after they are read.
pub async fn proxied_tweaked(
    routes: impl FnOnce(&str) -> String,
    tweak: impl FnOnce(&mut braid::config::Settings) + Send + 'static,
) -> Proxied {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("providers")).unwrap();
    for p in ["dev", "dev2"] {
        std::fs::write(dir.path().join(format!("providers/{p}.toml")), "kind = \"dev\"\ntrust_email = true\n").unwrap();
    }
    let url = crate::support::sqlite_url(&dir);
    let db = braid::db::Db::connect(&url).await.unwrap();
    let store = braid::accounts::SqlAccountStore::new(db);
    let alma = braid::accounts::AccountStore::resolve_or_create(&store, "dev", &ext("dev", "alma"), 0)
        .await
        .unwrap()
        .account
        .id;
    let extra = routes(alma.as_str());
    let app = spawn_in(dir, move |d| {
        let mut s = settings(d, &url, "memory", &extra);
        tweak(&mut s);
        s
    })
    .await;
    Proxied { app, alma }
}

pub fn ext(provider: &str, subject: &str) -> ExternalIdentity {
    ExternalIdentity {
        issuer: format!("urn:braid:dev:{provider}"),
        subject: subject.into(),
        email: None,
        email_verified: false,
        name: None,
        claims: Default::default(),
    }
}

/// Ask `/auth/{what}` about `https://app.test{uri}` with this browser's cookies.
pub async fn ask(
    app: &TestApp,
    b: &reqwest::Client,
    what: &str,
    uri: &str,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let mut r = b
        .get(app.url(&format!("/auth/{what}")))
        .header("X-Forwarded-Proto", "https")
        .header("X-Forwarded-Host", "app.test")
        .header("X-Forwarded-Uri", uri);
    for (k, v) in extra {
        r = r.header(*k, *v);
    }
    r.send().await.unwrap()
}

fn header(r: &reqwest::Response, name: &str) -> Option<String> {
    r.headers().get(name).map(|v| v.to_str().unwrap().to_owned())
}

/// Follow `/auth/start?rd=…` through provider `provider`'s form as `user`; returns where braid
/// sends the browser at the end.
pub async fn sign_in_at_start(
    app: &TestApp,
    b: &reqwest::Client,
    start: &str,
    provider: &str,
    user: &str,
    email: &str,
    verified: bool,
) -> String {
    let r = b.get(start).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER, "{start}");
    let to_login = location(&r);
    let tx = query_param(&to_login, "tx").unwrap_or_else(|| panic!("a sign-in transaction: {to_login}"));
    let r = b.get(app.url(&format!("/login/{provider}"))).query(&[("tx", tx.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let state = form_state(&r.text().await.unwrap());
    let mut form = vec![("state", state.as_str()), ("username", user), ("email", email)];
    if verified {
        form.push(("email_verified", "true"));
    }
    let r = b.post(app.url(&format!("/login/{provider}"))).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    location(&r)
}

/// A browser signed in through `provider` as `user` by way of `/auth/forward`.
pub async fn signed_in(p: &Proxied, provider: &str, user: &str, email: &str, verified: bool) -> reqwest::Client {
    let b = browser();
    let r = ask(&p.app, &b, "forward", "/docs", &[]).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    let back = sign_in_at_start(&p.app, &b, &location(&r), provider, user, email, verified).await;
    assert_eq!(back, "https://app.test/docs");
    b
}

/// Verify an assertion against `/jwks.json` for `aud`; returns its claims.
pub async fn verify_assertion(base: &str, token: &str, aud: &str) -> Value {
    let header = jsonwebtoken::decode_header(token).unwrap();
    assert_eq!(header.typ.as_deref(), Some("braid-assertion+jwt"));
    verify_id_token(base, token, aud).await
}

#[tokio::test]
async fn unknown_hosts_and_requests_without_forwarding_headers_are_refused() {
    let p = proxied().await;
    let b = signed_in(&p, "dev", "alma", "alma@example.com", true).await;
    for host in ["other.test", "app.test:8443", "app.test.evil.test"] {
        let r = b
            .get(p.app.url("/auth/verify"))
            .header("X-Forwarded-Host", host)
            .header("X-Forwarded-Uri", "/")
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{host}: never allowed by default");
        assert!(header(&r, "x-auth-request-user").is_none());
    }
    let r = b.get(p.app.url("/auth/verify")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST, "no original request");
    // Headers that contradict each other (a client adding the set its proxy does not send).
    let r = ask(&p.app, &b, "verify", "/healthz", &[("X-Original-URL", "https://app.test/admin")]).await;
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    // An encoded slash could be read otherwise by the application.
    assert_eq!(ask(&p.app, &b, "verify", "/static%2F..%2Fadmin", &[]).await.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn public_paths_pass_without_a_session_and_only_they_do() {
    let p = proxied().await;
    let b = browser();
    for uri in ["/healthz", "/healthz/deep", "/static/app.js", "/healthz?x=1"] {
        let r = ask(&p.app, &b, "verify", uri, &[]).await;
        assert_eq!(r.status(), StatusCode::OK, "{uri}");
        assert!(header(&r, "x-auth-request-user").is_none(), "{uri}: no identity");
    }
    for uri in ["/healthzx", "/static", "/healthz/../docs", "/%68ealthz/../admin", "/", "/docs"] {
        assert_eq!(ask(&p.app, &b, "verify", uri, &[]).await.status(), StatusCode::UNAUTHORIZED, "{uri}");
    }
    // The same through nginx's single header.
    let r = b
        .get(p.app.url("/auth/verify"))
        .header("X-Original-URL", "https://app.test/static/x.css")
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

#[tokio::test]
async fn without_a_session_verify_answers_401_and_forward_redirects_to_start_with_the_original_url() {
    let p = proxied().await;
    let b = browser();
    let start = format!("{}/auth/start?rd=https%3A%2F%2Fapp.test%2Fdocs%2Fa%3Fx%3D1%26y%3D2", p.app.base);
    let r = ask(&p.app, &b, "verify", "/docs/a?x=1&y=2", &[]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(header(&r, "location").as_deref(), Some(start.as_str()), "for nginx's error_page");
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let r = ask(&p.app, &b, "forward", "/docs/a?x=1&y=2", &[]).await;
    assert_eq!(r.status(), StatusCode::FOUND);
    assert_eq!(location(&r), start);
    let r = b.get(p.app.url("/auth/forward")).header("X-Original-URL", "http://app.test/docs").send().await.unwrap();
    assert_eq!(query_param(&location(&r), "rd").as_deref(), Some("http://app.test/docs"));
}

#[tokio::test]
async fn after_sign_in_verify_gives_the_identity_and_a_verifiable_assertion() {
    let p = proxied().await;
    let b = signed_in(&p, "dev", "alma", "alma@example.com", true).await;
    // A client-sent identity header changes nothing.
    let r = ask(&p.app, &b, "verify", "/docs", &[("X-Auth-Request-User", "someone-else")]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert_eq!(header(&r, "x-auth-request-user").as_deref(), Some(p.alma.as_str()));
    assert_eq!(header(&r, "x-auth-request-email").as_deref(), Some("alma@example.com"));
    assert_eq!(header(&r, "x-auth-request-preferred-username").as_deref(), Some("alma"));
    assert_eq!(header(&r, "x-auth-request-idp").as_deref(), Some("urn:braid:dev:dev"));
    assert_eq!(header(&r, "cache-control").as_deref(), Some("no-store"));
    let token = header(&r, "x-braid-assertion").expect("an assertion");
    let claims = verify_assertion(&p.app.base, &token, "https://app.test").await;
    // Signed with braid's ES256 key by default (`[proxy] assertion_algorithm`).
    assert_eq!(jsonwebtoken::decode_header(&token).unwrap().alg, jsonwebtoken::Algorithm::ES256);
    assert_eq!(claims["iss"], p.app.base.as_str());
    assert_eq!(claims["sub"], p.alma.as_str());
    assert_eq!(claims["idp"], "urn:braid:dev:dev");
    assert_eq!(claims["email"], "alma@example.com");
    let (iat, exp) = (claims["iat"].as_i64().unwrap(), claims["exp"].as_i64().unwrap());
    assert_eq!(iat, p.app.clock.now_secs());
    assert!(exp > iat && exp - iat <= 60, "exp ≤ 60 s: {iat} {exp}");
    // A client-sent header without a session is no sign-in either.
    let r = ask(&p.app, &browser(), "verify", "/docs", &[("X-Auth-Request-User", p.alma.as_str())]).await;
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    // A signed-in browser at /auth/start goes straight back.
    let r = b.get(p.app.url("/auth/start")).query(&[("rd", "https://app.test/x")]).send().await.unwrap();
    assert_eq!((r.status(), location(&r)), (StatusCode::SEE_OTHER, "https://app.test/x".to_owned()));

    // An unverified email is neither a header nor a claim.
    let b = signed_in(&p, "dev", "uli", "uli@example.com", false).await;
    let r = ask(&p.app, &b, "verify", "/docs", &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(header(&r, "x-auth-request-email").is_none());
    let claims = verify_assertion(&p.app.base, &header(&r, "x-braid-assertion").unwrap(), "https://app.test").await;
    assert!(claims.get("email").is_none());
}

#[tokio::test]
async fn the_assertion_is_signed_with_the_configured_algorithms_current_key() {
    for (name, alg) in [("RS256", jsonwebtoken::Algorithm::RS256), ("EdDSA", jsonwebtoken::Algorithm::EdDSA)] {
        let set = format!("[proxy]\nassertion_algorithm = \"{name}\"\n");
        let routes = move |alma: &str| routes_toml(alma).replacen("[proxy]\n", &set, 1);
        let p = proxied_with(routes).await;
        let b = signed_in(&p, "dev", "alma", "alma@example.com", true).await;
        let r = ask(&p.app, &b, "verify", "/docs", &[]).await;
        assert_eq!(r.status(), StatusCode::OK);
        let token = header(&r, "x-braid-assertion").unwrap();
        let head = jsonwebtoken::decode_header(&token).unwrap();
        assert_eq!(head.alg, alg, "{name}");
        // The current key of that algorithm, as published.
        let jwks: Value = reqwest::get(p.app.url("/jwks.json")).await.unwrap().json().await.unwrap();
        let published = jwks["keys"].as_array().unwrap().iter().find(|k| k["kid"] == head.kid.as_deref().unwrap());
        assert_eq!(published.unwrap()["alg"], name);
        let claims = verify_assertion(&p.app.base, &token, "https://app.test").await;
        assert_eq!(claims["sub"], p.alma.as_str());
    }
}

#[tokio::test]
async fn each_policy_key_allows_and_refuses() {
    let p = proxied().await;
    let status = |b: reqwest::Client, uri: &'static str| {
        let app = &p.app;
        async move { ask(app, &b, "verify", uri, &[]).await.status() }
    };
    // allow_accounts: alma's account only.
    let alma = signed_in(&p, "dev", "alma", "alma@example.com", true).await;
    assert_eq!(status(alma.clone(), "/admin/users").await, StatusCode::OK);
    assert_eq!(status(alma.clone(), "/dev2").await, StatusCode::FORBIDDEN, "signed in through dev");
    assert_eq!(status(alma.clone(), "/corp").await, StatusCode::FORBIDDEN, "example.com is not corp.example");
    assert_eq!(status(alma.clone(), "/administrator").await, StatusCode::OK, "the / route, not /admin");
    // allow_providers: dev2 only; allow_email_domains: a verified corp.example address.
    let bo = signed_in(&p, "dev2", "bo", "Bo@CORP.example", true).await;
    assert_eq!(status(bo.clone(), "/admin").await, StatusCode::FORBIDDEN, "not an allowed account");
    assert_eq!(status(bo.clone(), "/dev2/x").await, StatusCode::OK);
    let r = ask(&p.app, &bo, "verify", "/corp", &[]).await;
    assert_eq!(r.status(), StatusCode::OK);
    verify_assertion(&p.app.base, &header(&r, "x-braid-assertion").unwrap(), "urn:corp").await;
    let cy = signed_in(&p, "dev", "cy", "cy@corp.example", false).await;
    assert_eq!(status(cy.clone(), "/corp").await, StatusCode::FORBIDDEN, "an unverified email");
    let di = signed_in(&p, "dev", "di", "di@sub.corp.example", true).await;
    assert_eq!(status(di.clone(), "/corp").await, StatusCode::FORBIDDEN, "a subdomain is another domain");
    // The forward flavour refuses the same way (no sign-in loop for a signed-in person).
    assert_eq!(ask(&p.app, &cy, "forward", "/corp", &[]).await.status(), StatusCode::FORBIDDEN);
}

#[tokio::test]
async fn unlinking_disabling_or_merging_the_account_or_disabling_the_provider_refuses_the_next_request() {
    let p = proxied().await;
    let admin = Actor::admin("test");
    let usable = SignInProviders::new(["dev", "dev2"]);
    // alma's second identity, through dev2; this browser signs in with it.
    p.app.state.accounts.link(&p.alma, "dev2", &ext("dev2", "alma2"), &admin, 0).await.unwrap();
    let b = signed_in(&p, "dev2", "alma2", "", false).await;
    let r = ask(&p.app, &b, "verify", "/admin", &[]).await;
    assert_eq!(header(&r, "x-auth-request-user").as_deref(), Some(p.alma.as_str()));
    // Unlinked in the store (as a replica that could not end the sessions would leave it).
    let second = p.app.state.accounts.find_identity("urn:braid:dev:dev2", "alma2").await.unwrap().unwrap();
    p.app.state.accounts.unlink(&p.alma, second.id, &usable, &admin, 0).await.unwrap().unwrap();
    assert_eq!(ask(&p.app, &b, "verify", "/admin", &[]).await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(ask(&p.app, &b, "forward", "/admin", &[]).await.status(), StatusCode::FOUND);

    // A disabled account.
    let b = signed_in(&p, "dev", "dora", "dora@example.com", true).await;
    assert_eq!(ask(&p.app, &b, "verify", "/docs", &[]).await.status(), StatusCode::OK);
    let dora = p.app.state.accounts.find_identity("urn:braid:dev:dev", "dora").await.unwrap().unwrap().account_id;
    p.app.state.accounts.set_disabled(&dora, true, &admin, 0).await.unwrap().unwrap();
    assert_eq!(ask(&p.app, &b, "verify", "/docs", &[]).await.status(), StatusCode::UNAUTHORIZED);
    p.app.state.accounts.set_disabled(&dora, false, &admin, 0).await.unwrap().unwrap();
    assert_eq!(ask(&p.app, &b, "verify", "/docs", &[]).await.status(), StatusCode::UNAUTHORIZED, "the session ended");

    // A merged account: refused at once; signed in again, the merged-into account is named.
    let b = signed_in(&p, "dev", "enzo", "enzo@example.com", true).await;
    assert_eq!(ask(&p.app, &b, "verify", "/docs", &[]).await.status(), StatusCode::OK);
    let enzo = p.app.state.accounts.find_identity("urn:braid:dev:dev", "enzo").await.unwrap().unwrap().account_id;
    p.app.state.accounts.merge(&enzo, &p.alma, &admin, 0).await.unwrap().unwrap();
    assert_eq!(ask(&p.app, &b, "verify", "/docs", &[]).await.status(), StatusCode::UNAUTHORIZED);
    let b = signed_in(&p, "dev", "enzo", "", false).await;
    let r = ask(&p.app, &b, "verify", "/docs", &[]).await;
    assert_eq!(header(&r, "x-auth-request-user").as_deref(), Some(p.alma.as_str()), "never the old id");

    // Sign-in switched off for the identity used.
    let b = signed_in(&p, "dev", "sia", "", false).await;
    let sia = p.app.state.accounts.find_identity("urn:braid:dev:dev", "sia").await.unwrap().unwrap();
    p.app.state.accounts.link(&sia.account_id, "dev2", &ext("dev2", "sia2"), &admin, 0).await.unwrap();
    p.app.state.accounts.set_can_sign_in(&sia.account_id, sia.id, false, &usable, &admin, 0).await.unwrap().unwrap();
    assert_eq!(ask(&p.app, &b, "verify", "/docs", &[]).await.status(), StatusCode::UNAUTHORIZED);

    // A disabled provider.
    let b = signed_in(&p, "dev2", "pete", "", false).await;
    assert_eq!(ask(&p.app, &b, "verify", "/docs", &[]).await.status(), StatusCode::OK);
    std::fs::write(p.app.dir().join("providers/dev2.toml"), "kind = \"dev\"\nenabled = false\n").unwrap();
    p.app.state.providers.reload();
    assert_eq!(ask(&p.app, &b, "verify", "/docs", &[]).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_change_this_process_cannot_see_ends_access_within_the_reuse_bound() {
    let p = proxied().await;
    let b = signed_in(&p, "dev", "rita", "", false).await;
    assert_eq!(ask(&p.app, &b, "verify", "/docs", &[]).await.status(), StatusCode::OK);
    // Another process (a replica, the CLI with in-memory sessions) disables the account in SQL
    // through its own store; this braid's sessions are not ended.
    let db = braid::db::Db::connect(&p.app.state.settings.store.accounts).await.unwrap();
    let elsewhere = braid::accounts::SqlAccountStore::new(db);
    let rita = p.app.state.accounts.find_identity("urn:braid:dev:dev", "rita").await.unwrap().unwrap().account_id;
    braid::accounts::AccountStore::set_disabled(&elsewhere, &rita, true, &Actor::admin("elsewhere"), 0)
        .await
        .unwrap()
        .unwrap();
    p.app.clock.advance(std::time::Duration::from_millis(braid::trust::REUSE_MS.unsigned_abs()));
    assert_eq!(ask(&p.app, &b, "verify", "/docs", &[]).await.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn sign_out_ends_the_session_at_once_only_from_braids_site_or_after_confirmation() {
    let p = proxied().await;
    let rd = [("rd", "https://app.test/bye")];
    // A cross-site (or unlabelled) GET: a confirmation page; the session stands.
    let b = signed_in(&p, "dev", "olga", "", false).await;
    for site in [Some("cross-site"), None] {
        let mut req = b.get(p.app.url("/auth/sign-out")).query(&rd);
        if let Some(s) = site {
            req = req.header("Sec-Fetch-Site", s);
        }
        let r = req.send().await.unwrap();
        assert_eq!(r.status(), StatusCode::OK, "{site:?}");
        let page = r.text().await.unwrap();
        assert!(page.contains("Sign out of braid?"), "{page}");
        assert_eq!(ask(&p.app, &b, "verify", "/docs", &[]).await.status(), StatusCode::OK, "{site:?}");
    }
    // The confirmation needs the session's CSRF token.
    let r = b.post(p.app.url("/auth/sign-out")).form(&[("rd", rd[0].1), ("csrf", "forged")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert_eq!(ask(&p.app, &b, "verify", "/docs", &[]).await.status(), StatusCode::OK);
    let page = b.get(p.app.url("/auth/sign-out")).query(&rd).send().await.unwrap().text().await.unwrap();
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).unwrap() + marker.len();
    let csrf = page[start..].split('"').next().unwrap().to_owned();
    let r = b.post(p.app.url("/auth/sign-out")).form(&[("rd", rd[0].1), ("csrf", csrf.as_str())]).send().await.unwrap();
    assert_eq!((r.status(), location(&r)), (StatusCode::SEE_OTHER, "https://app.test/bye".to_owned()));
    assert_eq!(ask(&p.app, &b, "verify", "/docs", &[]).await.status(), StatusCode::UNAUTHORIZED);
    // From the protected app's own site: at once.
    let b = signed_in(&p, "dev", "olga", "", false).await;
    let r = b.get(p.app.url("/auth/sign-out")).query(&rd).header("Sec-Fetch-Site", "same-site").send().await.unwrap();
    assert_eq!((r.status(), location(&r)), (StatusCode::SEE_OTHER, "https://app.test/bye".to_owned()));
    assert_eq!(ask(&p.app, &b, "verify", "/docs", &[]).await.status(), StatusCode::UNAUTHORIZED);
}

fn open_redirects() -> Vec<String> {
    let text =
        std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/tests/fixtures/oauth2-proxy/openredirects.txt"))
            .unwrap();
    // Go's url.QueryUnescape, as upstream replays them ("+" is a space).
    text.lines()
        .map(|l| {
            url::form_urlencoded::parse(format!("v={l}").as_bytes())
                .next()
                .map_or(String::new(), |(_, v)| v.into_owned())
        })
        .collect()
}

#[tokio::test]
async fn every_open_redirect_payload_is_refused_on_start_and_sign_out() {
    let payloads = open_redirects();
    assert_eq!(payloads.len(), 559);
    let p = proxied().await;
    let b = signed_in(&p, "dev", "rae", "", false).await;
    let fresh = browser();
    for rd in &payloads {
        for (client, path, site) in
            [(&fresh, "/auth/start", None), (&b, "/auth/start", None), (&b, "/auth/sign-out", Some("same-origin"))]
        {
            let mut req = client.get(p.app.url(path)).query(&[("rd", rd.as_str())]);
            if let Some(s) = site {
                req = req.header("Sec-Fetch-Site", s);
            }
            let r = req.send().await.unwrap();
            assert_eq!(r.status(), StatusCode::BAD_REQUEST, "{path} {rd:?}");
            assert!(r.headers().get("location").is_none(), "{path} must not follow {rd:?}");
            assert!(r.text().await.unwrap().contains("Return address refused"), "{path} {rd:?}");
        }
    }
    assert_eq!(ask(&p.app, &b, "verify", "/docs", &[]).await.status(), StatusCode::OK, "nothing was changed");
    // Upstream's own controls, with braid's stricter rules: absolute http(s) only.
    for (rd, ok) in [
        ("https://www.whitelisteddomain.tld/x", true),
        ("http://foo.bar/redirect", true),
        ("http://port.bar:8080/redirect", true),
        ("https://app.test/", true),
        ("/redirect", false),
        ("//redirect", false),
        ("http://foo.bar:3838/redirect", false),
        ("foo.bar/redirect", false),
        ("http://foo.bar.evil.corp/redirect", false),
        ("http://evil.corp/redirect?rd=foo.bar", false),
    ] {
        let r = fresh.get(p.app.url("/auth/start")).query(&[("rd", rd)]).send().await.unwrap();
        assert_eq!(r.status() == StatusCode::SEE_OTHER, ok, "{rd}: {}", r.status());
    }
    // Length cap.
    let long = format!("https://app.test/{}", "a".repeat(2048));
    let r = fresh.get(p.app.url("/auth/start")).query(&[("rd", long.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::BAD_REQUEST);
    assert!(r.text().await.unwrap().contains("longer than braid accepts"));
}

#[test]
fn braid_check_names_the_key_of_a_bad_route() {
    let dir = tempfile::tempdir().unwrap();
    write_dev_provider(dir.path());
    let run = |toml: &str| {
        std::fs::write(dir.path().join("braid.toml"), toml).unwrap();
        let o = std::process::Command::new(env!("CARGO_BIN_EXE_braid"))
            .current_dir(dir.path())
            .arg("check")
            .output()
            .unwrap();
        (o.status.code(), String::from_utf8_lossy(&o.stderr).into_owned())
    };
    let (code, e) = run("[[routes]]\nhots = \"app.test\"\n");
    assert_eq!(code, Some(2));
    assert!(e.contains("braid.toml") && e.contains("hots") && e.contains("unknown field"), "{e}");
    let (code, e) = run(
        "[[routes]]\nhost = \"https://app.test\"\nupstream = \"ftp://x\"\n\n[proxy]\nredirect_hosts = [\"*.example\"]\n",
    );
    assert_eq!(code, Some(2));
    for want in [
        "braid.toml: key `routes[0].host`: `https://app.test` must be a host name",
        "braid.toml: key `routes[0].upstream`: `ftp://x` must be an http(s) URL",
        "braid.toml: key `proxy.redirect_hosts[0]`",
    ] {
        assert!(e.contains(want), "{want} in {e}");
    }
    let (code, e) = run("[[routes]]\nhost = \"app.test\"\npath_prefix = \"/app\"\npublic_paths = [\"/healthz\"]\n");
    assert_eq!(code, Some(2));
    assert!(e.contains("key `routes[0].public_paths[0]`: `/healthz` is outside"), "{e}");
    let (code, e) = run("[[routes]]\nhost = \"app.test\"\nupstream = \"http://127.0.0.1:9000\"\n");
    assert_eq!(code, Some(0), "{e}");
}
