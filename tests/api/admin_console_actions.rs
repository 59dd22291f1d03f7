//! Every change the admin console offers, over HTTP: each is first shown on a confirmation page
//! that names it (nothing changed yet), then done, and audited as `admin:console:<account>`.
//! Accounts: primary, sign-in switch, move, end sessions, disable, enable, merge, delete; a
//! change made by someone else after the confirmation refuses the confirmed one. Providers: add
//! (checked online; OIDC and SAML, one whose metadata does not answer not saved), disable,
//! enable, edit (a stale version refused), delete. Clients: add
//! (secret shown once), rotate the secret, delete.

use braid::accounts::{AccountId, AccountStatus, Actor};
use reqwest::StatusCode;

use crate::admin_console::{Console, console, csrf_of, dev_sign_in};
use crate::helpers::*;
use crate::mock_idp::{CLIENT_ID, CLIENT_SECRET, MockIdp};

const DEV: &str = "urn:braid:dev:dev";

fn unescape(s: &str) -> String {
    s.replace("&quot;", "\"").replace("&#39;", "'").replace("&lt;", "<").replace("&gt;", ">").replace("&amp;", "&")
}

/// The hidden fields of the first form in `html` after `marker`.
fn hidden_fields(html: &str, marker: &str) -> Vec<(String, String)> {
    let from = html.find(marker).unwrap_or_else(|| panic!("no {marker} in {html}"));
    let form = &html[from..];
    let form = &form[..form.find("</form>").unwrap_or(form.len())];
    form.split("<input type=\"hidden\" name=\"")
        .skip(1)
        .map(|rest| {
            let name = rest.split('"').next().unwrap();
            let value = rest.split("value=\"").nth(1).and_then(|v| v.split('"').next()).unwrap();
            (unescape(name), unescape(value))
        })
        .collect()
}

/// What the confirmation page says will happen.
fn what(html: &str) -> String {
    let p = html.split("<p id=\"what\">").nth(1).unwrap_or_else(|| panic!("a confirmation page: {html}"));
    unescape(p.split("</p>").next().unwrap())
}

/// Post `form` to `path`: it must answer the confirmation page; returns what it names and the
/// confirmed form it holds (to post back).
async fn ask<F: serde::Serialize + std::fmt::Debug + ?Sized>(
    c: &Console,
    b: &reqwest::Client,
    path: &str,
    form: &F,
) -> (String, Vec<(String, String)>) {
    let r = b.post(c.app.url(path)).form(form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "{path} {form:?}");
    let html = r.text().await.unwrap();
    let confirmed = hidden_fields(&html, "<p id=\"what\">");
    assert!(confirmed.iter().any(|(k, v)| k == "confirm" && v == "yes"), "{html}");
    (what(&html), confirmed)
}

async fn confirm(c: &Console, b: &reqwest::Client, path: &str, form: &[(String, String)]) -> reqwest::Response {
    b.post(c.app.url(path)).form(form).send().await.unwrap()
}

/// The actions of the audit events of `account` made by the console admin `root`.
async fn by_console(c: &Console, account: &AccountId) -> Vec<String> {
    let actor = format!("admin:console:{}", c.root);
    let events = c.app.state.accounts.audit(account).await.unwrap();
    events.into_iter().filter(|e| e.actor == actor).map(|e| e.action).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_account_change_is_confirmed_then_done_and_audited() {
    let c = console().await;
    let (app, bob) = (&c.app, c.bob.clone());
    let accounts = &app.state.accounts;
    let root = dev_sign_in(app, "root").await;
    let carol_browser = dev_sign_in(app, "carol").await;
    let carol = accounts.find_identity(DEV, "carol").await.unwrap().unwrap().account_id;
    let primary = accounts.find_identity(DEV, "bob").await.unwrap().unwrap().id.to_string();
    let alt = accounts.find_identity(DEV, "bob-alt").await.unwrap().unwrap().id.to_string();
    let csrf = csrf_of(app, &root, &format!("/admin/accounts/{bob}")).await;
    let on = |a: &AccountId| format!("/admin/accounts/{a}/change");
    let form = |fields: &[(&'static str, &str)]| {
        let mut f = vec![("csrf", csrf.clone())];
        f.extend(fields.iter().map(|(k, v)| (*k, (*v).to_owned())));
        f
    };

    // Primary.
    let f = form(&[("action", "primary"), ("identity", &alt)]);
    let (said, yes) = ask(&c, &root, &on(&bob), &f).await;
    assert!(said.contains(&format!("Make ({DEV}, bob-alt) the primary identity of account {bob}")), "{said}");
    assert_ne!(
        accounts.account(&bob).await.unwrap().unwrap().primary_identity.map(|i| i.to_string()),
        Some(alt.clone())
    );
    assert_eq!(confirm(&c, &root, &on(&bob), &yes).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        accounts.account(&bob).await.unwrap().unwrap().primary_identity.map(|i| i.to_string()),
        Some(alt.clone())
    );

    // Sign-in switched off for the other identity.
    let f = form(&[("action", "sign_in"), ("identity", &primary), ("allowed", "false")]);
    let (said, yes) = ask(&c, &root, &on(&bob), &f).await;
    assert!(said.contains(&format!("Forbid sign-in with ({DEV}, bob) to account {bob}")), "{said}");
    assert_eq!(confirm(&c, &root, &on(&bob), &yes).await.status(), StatusCode::SEE_OTHER);
    assert!(!accounts.find_identity(DEV, "bob").await.unwrap().unwrap().can_sign_in);

    // Move that identity to carol.
    let f = form(&[("action", "move"), ("identity", &primary), ("to", carol.as_str())]);
    let (said, yes) = ask(&c, &root, &on(&bob), &f).await;
    assert!(said.contains(&format!("Move ({DEV}, bob) from account {bob} to account {carol}")), "{said}");
    assert_eq!(
        accounts.find_identity(DEV, "bob").await.unwrap().unwrap().account_id,
        bob,
        "not before the confirmation"
    );
    assert_eq!(confirm(&c, &root, &on(&bob), &yes).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(accounts.find_identity(DEV, "bob").await.unwrap().unwrap().account_id, carol);

    // End carol's sessions.
    let carol_browser = {
        // The move ended carol's session; sign in again to have one to end.
        assert_ne!(carol_browser.get(app.url("/account")).send().await.unwrap().status(), StatusCode::OK);
        dev_sign_in(app, "carol").await
    };
    assert_eq!(carol_browser.get(app.url("/account")).send().await.unwrap().status(), StatusCode::OK);
    let f = form(&[("action", "end_sessions")]);
    let (said, yes) = ask(&c, &root, &on(&carol), &f).await;
    assert!(said.contains(&format!("End every browser session and refresh token of account {carol}")), "{said}");
    assert_eq!(carol_browser.get(app.url("/account")).send().await.unwrap().status(), StatusCode::OK, "not yet");
    assert_eq!(confirm(&c, &root, &on(&carol), &yes).await.status(), StatusCode::SEE_OTHER);
    assert_ne!(carol_browser.get(app.url("/account")).send().await.unwrap().status(), StatusCode::OK);

    // Disable, then enable.
    for (action, status) in [("disable", AccountStatus::Disabled), ("enable", AccountStatus::Active)] {
        let f = form(&[("action", action)]);
        let (said, yes) = ask(&c, &root, &on(&carol), &f).await;
        assert!(said.to_lowercase().starts_with(&format!("{action} account {carol}")), "{said}");
        assert_eq!(confirm(&c, &root, &on(&carol), &yes).await.status(), StatusCode::SEE_OTHER);
        assert_eq!(accounts.account(&carol).await.unwrap().unwrap().status, status);
    }

    // A change made by someone else after the confirmation was shown refuses the confirmed one.
    let f = form(&[("action", "disable")]);
    let (_, yes) = ask(&c, &root, &on(&bob), &f).await;
    let other = braid::accounts::ExternalIdentity {
        issuer: "https://idp.example".into(),
        subject: "bob-77".into(),
        email: None,
        email_verified: false,
        name: None,
        claims: Default::default(),
    };
    accounts.link(&bob, "dev", &other, &Actor::admin("other"), 0).await.unwrap();
    let r = confirm(&c, &root, &on(&bob), &yes).await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("changed"), "the page says why");
    assert_eq!(accounts.account(&bob).await.unwrap().unwrap().status, AccountStatus::Active, "nothing unseen happened");

    // Merge carol into bob: the confirmation counts what moves.
    let f = form(&[("action", "merge"), ("to", bob.as_str())]);
    let (said, yes) = ask(&c, &root, &on(&carol), &f).await;
    assert!(said.contains(&format!("Merge account {carol} into account {bob}: its 2 identities move there")), "{said}");
    assert_eq!(confirm(&c, &root, &on(&carol), &yes).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(accounts.account(&carol).await.unwrap().unwrap().status, AccountStatus::MergedInto(bob.clone()));

    // Delete bob, with the identities the merge brought.
    let f = form(&[("action", "delete")]);
    let (said, yes) = ask(&c, &root, &on(&bob), &f).await;
    assert!(said.contains(&format!("Delete account {bob} and its 4 identities")), "{said}");
    let r = confirm(&c, &root, &on(&bob), &yes).await;
    assert_eq!((r.status(), location(&r).as_str()), (StatusCode::SEE_OTHER, "/admin/accounts"));
    assert!(accounts.account(&bob).await.unwrap().is_none());

    // Every change is in the audit log as the console admin's.
    assert_eq!(
        by_console(&c, &bob).await,
        [
            "account.primary_changed",
            "identity.sign_in_forbidden",
            "identity.moved",
            "account.merged",
            "account.deleted"
        ]
    );
    assert_eq!(
        by_console(&c, &carol).await,
        ["identity.moved", "account.disabled", "account.enabled", "account.merged"]
    );
}

/// A token request as client `id` with `secret` and a code that is not one: `invalid_grant` when
/// the client authenticated, `invalid_client` when not.
async fn client_answer(c: &Console, id: &str, secret: &str) -> Option<String> {
    let form = [("grant_type", "authorization_code"), ("code", "not-a-code"), ("redirect_uri", "http://127.0.0.1:9/c")];
    let (_, v) = token_request(&c.app, (id, Some(secret)), &form).await;
    v["error"].as_str().map(str::to_owned)
}

fn secret_on(html: &str) -> String {
    html.split("<pre id=\"secret\">")
        .nth(1)
        .and_then(|s| s.split("</pre>").next())
        .expect("the secret, shown once")
        .to_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn providers_and_clients_are_added_changed_and_deleted_from_the_console() {
    let c = console().await;
    let app = &c.app;
    let mock = MockIdp::start(c.clock.clone()).await;
    let root = dev_sign_in(app, "root").await;
    let catalog = &app.state.catalog;

    // Add a provider: checked online, in force at once.
    let csrf = csrf_of(app, &root, "/admin/providers").await;
    let add = [
        ("csrf", csrf.as_str()),
        ("id", "corp"),
        ("kind", "oidc"),
        ("display_name", "Corp"),
        ("issuer", mock.base.as_str()),
        ("client_id", CLIENT_ID),
        ("client_secret", CLIENT_SECRET),
    ];
    let r = root.post(app.url("/admin/providers/add")).form(&add).send().await.unwrap();
    assert_eq!((r.status(), location(&r).as_str()), (StatusCode::SEE_OTHER, "/admin/providers?done=added"));
    assert!(app.state.providers.snapshot().enabled("corp").is_some());
    let version = |p: &braid::admin::catalog::ProviderView| p.version.unwrap().to_string();

    // Disable (confirmed first), then enable (no confirmation needed).
    let v = version(&catalog.get_provider("corp").await.unwrap());
    let f = [("csrf", csrf.as_str()), ("id", "corp"), ("action", "enabled"), ("enabled", "false"), ("version", &v)];
    let (said, yes) = ask(&c, &root, "/admin/providers/change", &f).await;
    assert!(said.starts_with("Disable provider corp."), "{said}");
    assert!(app.state.providers.snapshot().enabled("corp").is_some(), "not before the confirmation");
    assert_eq!(confirm(&c, &root, "/admin/providers/change", &yes).await.status(), StatusCode::SEE_OTHER);
    assert!(app.state.providers.snapshot().enabled("corp").is_none(), "disabled");
    let v = version(&catalog.get_provider("corp").await.unwrap());
    let f = [("csrf", csrf.as_str()), ("id", "corp"), ("action", "enabled"), ("enabled", "true"), ("version", &v)];
    let r = root.post(app.url("/admin/providers/change")).form(&f).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    assert!(app.state.providers.snapshot().enabled("corp").is_some(), "enabled again");

    // Edit: the stored definition without its secret; saved with the version it was read at.
    let html = root.get(app.url("/admin/providers/edit?id=corp")).send().await.unwrap().text().await.unwrap();
    assert!(!html.contains(CLIENT_SECRET), "the secret is never shown");
    let fields = hidden_fields(&html, "action=\"/admin/providers/change\"");
    let text = unescape(
        html.split("name=\"definition\"")
            .nth(1)
            .unwrap()
            .split('>')
            .skip(1)
            .collect::<Vec<_>>()
            .join(">")
            .split("</textarea")
            .next()
            .unwrap(),
    );
    let mut def: serde_json::Value = serde_json::from_str(&text).unwrap();
    def["display_name"] = "Corp SSO".into();
    let mut edit = fields.clone();
    edit.push(("definition".into(), def.to_string()));
    assert_eq!(confirm(&c, &root, "/admin/providers/change", &edit).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(catalog.get_provider("corp").await.unwrap().display_name, "Corp SSO");
    def["display_name"] = "Corp Stale".into();
    let mut stale = fields;
    stale.push(("definition".into(), def.to_string()));
    let r = confirm(&c, &root, "/admin/providers/change", &stale).await;
    assert_eq!(r.status(), StatusCode::CONFLICT, "the version it was read at is gone");
    assert_eq!(catalog.get_provider("corp").await.unwrap().display_name, "Corp SSO");
    let login = browser().get(app.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(login.contains("Corp SSO"), "the secret was kept: the provider still signs in");

    // Delete (confirmed first).
    let v = version(&catalog.get_provider("corp").await.unwrap());
    let f = [("csrf", csrf.as_str()), ("id", "corp"), ("action", "delete"), ("version", &v)];
    let (said, yes) = ask(&c, &root, "/admin/providers/change", &f).await;
    assert!(said.starts_with("Delete provider corp."), "{said}");
    assert!(catalog.get_provider("corp").await.is_ok(), "not before the confirmation");
    assert_eq!(confirm(&c, &root, "/admin/providers/change", &yes).await.status(), StatusCode::SEE_OTHER);
    assert!(catalog.get_provider("corp").await.is_err());
    assert!(app.state.providers.snapshot().enabled("corp").is_none());

    // A SAML provider from its form: its metadata is fetched before saving; one whose metadata
    // does not answer is not saved.
    let keys = crate::saml_support::IdpKeys::generate("idp.corp.example");
    let metadata = crate::saml_support::idp_metadata("https://idp.corp.example", "https://idp.corp.example/sso", &keys);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let md_url = format!("http://{}/metadata", listener.local_addr().unwrap());
    let served = axum::Router::new().route("/metadata", axum::routing::get(move || async move { metadata }));
    tokio::spawn(async move { axum::serve(listener, served).await });
    let saml = |id: &'static str, url: String| {
        vec![
            ("csrf", csrf.clone()),
            ("kind", "saml".into()),
            ("id", id.into()),
            ("display_name", "Corp SAML".into()),
            ("issuer", "https://idp.corp.example".into()),
            ("idp_metadata_url", url),
        ]
    };
    let r = root.post(app.url("/admin/providers/add")).form(&saml("corp-saml", md_url.clone())).send().await.unwrap();
    assert_eq!((r.status(), location(&r).as_str()), (StatusCode::SEE_OTHER, "/admin/providers?done=added"));
    assert!(app.state.providers.snapshot().enabled("corp-saml").is_some());
    let silent = format!("http://127.0.0.1:{}/metadata", crate::replicas::free_port());
    let r = root.post(app.url("/admin/providers/add")).form(&saml("corp-saml-2", silent)).send().await.unwrap();
    assert!(r.status().is_client_error(), "{}", r.status());
    assert!(r.text().await.unwrap().contains("Nothing was saved"), "the page says so");
    assert!(catalog.get_provider("corp-saml-2").await.is_err());

    // A client: added (its secret shown once), its secret rotated, deleted.
    let csrf = csrf_of(app, &root, "/admin/clients").await;
    let add = [
        ("csrf", csrf.as_str()),
        ("action", "add"),
        ("id", "console-app"),
        ("name", "Console app"),
        ("redirect_uris", "http://127.0.0.1:9/c\n"),
    ];
    let r = root.post(app.url("/admin/clients/change")).form(&add).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK);
    let first = secret_on(&r.text().await.unwrap());
    assert_eq!(client_answer(&c, "console-app", &first).await.as_deref(), Some("invalid_grant"), "it authenticates");
    let clients = root.get(app.url("/admin/clients")).send().await.unwrap().text().await.unwrap();
    assert!(clients.contains("console-app") && !clients.contains(&first), "listed, the secret not shown again");
    let f = [("csrf", csrf.as_str()), ("id", "console-app"), ("action", "rotate")];
    let (said, yes) = ask(&c, &root, "/admin/clients/change", &f).await;
    assert!(said.starts_with("Make a new secret for client console-app."), "{said}");
    assert_eq!(client_answer(&c, "console-app", &first).await.as_deref(), Some("invalid_grant"), "not yet rotated");
    let r = confirm(&c, &root, "/admin/clients/change", &yes).await;
    let second = secret_on(&r.text().await.unwrap());
    assert_ne!(first, second);
    assert_eq!(client_answer(&c, "console-app", &first).await.as_deref(), Some("invalid_client"), "the old secret");
    assert_eq!(client_answer(&c, "console-app", &second).await.as_deref(), Some("invalid_grant"), "the new one");
    let f = [("csrf", csrf.as_str()), ("id", "console-app"), ("action", "delete")];
    let (said, yes) = ask(&c, &root, "/admin/clients/change", &f).await;
    assert!(said.starts_with("Delete client console-app."), "{said}");
    assert_eq!(confirm(&c, &root, "/admin/clients/change", &yes).await.status(), StatusCode::SEE_OTHER);
    assert_eq!(client_answer(&c, "console-app", &second).await.as_deref(), Some("invalid_client"), "deleted");

    // All of it audited as the console admin's.
    let q = braid::accounts::AuditQuery { account: None, action: None };
    let events = app.state.accounts.audit_page(&q, None, 100).await.unwrap();
    let actor = format!("admin:console:{}", c.root);
    let mut done: Vec<String> = events.into_iter().filter(|e| e.actor == actor).map(|e| e.action).collect();
    done.reverse();
    assert_eq!(
        done,
        [
            "provider.created",
            "provider.replaced",
            "provider.replaced",
            "provider.replaced",
            "provider.deleted",
            "provider.created",
            "client.created",
            "client.secret_rotated",
            "client.deleted"
        ]
    );
}
