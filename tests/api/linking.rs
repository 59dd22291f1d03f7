//! Account linking through HTTP, as a person does it (SECURITY-CASES 61-69): link while signed
//! in, refusals, CSRF and fresh sign-in, unlink and the sign-in switch, the primary identity,
//! link by email with proof, and what a change does to other sessions and refresh tokens.

use std::time::Duration;

use braid::accounts::AccountId;
use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::*;

/// braid with two dev providers: `dev` (trusted for email) and `dev2` (its file is `dev2`).
async fn two_providers(dev2: &str) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("providers")).unwrap();
    std::fs::write(
        dir.path().join("providers/dev.toml"),
        "kind = \"dev\"\ndisplay_name = \"Dev one\"\ntrust_email = true\n",
    )
    .unwrap();
    std::fs::write(
        dir.path().join("providers/dev2.toml"),
        format!("kind = \"dev\"\ndisplay_name = \"Dev two\"\n{dev2}"),
    )
    .unwrap();
    let url = crate::support::sqlite_url(&dir);
    spawn_in(dir, move |d| settings(d, &url, "memory", "")).await
}

pub(crate) const I1: &str = "urn:braid:dev:dev";
pub(crate) const I2: &str = "urn:braid:dev:dev2";

/// Sign in directly (no application) with dev provider `p`; returns braid's final response.
pub(crate) async fn dev_sign_in(
    app: &TestApp,
    b: &reqwest::Client,
    p: &str,
    user: &str,
    email: &str,
    verified: bool,
) -> reqwest::Response {
    let page = b.get(app.url(&format!("/login/{p}"))).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK, "dev form for {p}");
    post_dev_form(app, b, p, &page.text().await.unwrap(), user, email, verified).await
}

pub(crate) async fn post_dev_form(
    app: &TestApp,
    b: &reqwest::Client,
    p: &str,
    html: &str,
    user: &str,
    email: &str,
    verified: bool,
) -> reqwest::Response {
    let state = form_state(html);
    let mut form = vec![("state", state.as_str()), ("username", user), ("email", email)];
    if verified {
        form.push(("email_verified", "true"));
    }
    b.post(app.url(&format!("/login/{p}"))).form(&form).send().await.unwrap()
}

/// Sign in for the confidential client through dev provider `p`; returns the code.
async fn app_code(app: &TestApp, b: &reqwest::Client, p: &str, user: &str) -> String {
    let r = b.get(app.url("/authorize")).query(&authorize_query(APP_ID, APP_CB, None, "n")).send().await.unwrap();
    let tx = query_param(&location(&r), "tx").unwrap();
    let page = b.get(app.url(&format!("/login/{p}?tx={tx}"))).send().await.unwrap().text().await.unwrap();
    let back = location(&post_dev_form(app, b, p, &page, user, "", false).await);
    query_param(&back, "code").expect("code")
}

pub(crate) async fn csrf(app: &TestApp, b: &reqwest::Client) -> String {
    let html = b.get(app.url("/account")).send().await.unwrap().text().await.unwrap();
    let marker = "name=\"csrf\" value=\"";
    let start = html.find(marker).expect("account page has forms") + marker.len();
    html[start..].split('"').next().unwrap().to_owned()
}

/// Link `user` at dev provider `p` to the account `b` is signed in to.
pub(crate) async fn link(app: &TestApp, b: &reqwest::Client, p: &str, user: &str) -> reqwest::Response {
    let token = csrf(app, b).await;
    let r = b.post(app.url(&format!("/account/link/{p}"))).form(&[("csrf", token.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "the provider asks for a fresh sign-in");
    let html = r.text().await.unwrap();
    post_dev_form(app, b, p, &html, user, &format!("{user}@example.com"), true).await
}

pub(crate) async fn account_of(app: &TestApp, issuer: &str, subject: &str) -> Option<AccountId> {
    app.state.accounts.find_identity(issuer, subject).await.unwrap().map(|i| i.account_id)
}

/// Confirm, on the proof page `page`, that the identity it names should be linked.
async fn confirm_proof(app: &TestApp, b: &reqwest::Client, page: &str) -> reqwest::Response {
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).expect("the proof page has a confirmation form") + marker.len();
    let token = page[start..].split('"').next().unwrap().to_owned();
    b.post(app.url("/login/link-proof")).form(&[("csrf", token.as_str())]).send().await.unwrap()
}

pub(crate) async fn post_change(
    app: &TestApp,
    b: &reqwest::Client,
    path: &str,
    identity: i64,
    extra: &[(&str, &str)],
) -> reqwest::Response {
    let token = csrf(app, b).await;
    let id = identity.to_string();
    let mut form = vec![("csrf", token.as_str()), ("identity", id.as_str())];
    form.extend_from_slice(extra);
    b.post(app.url(path)).form(&form).send().await.unwrap()
}

#[tokio::test]
async fn a_signed_in_person_links_another_identity_and_signs_in_with_either() {
    let app = two_providers("").await;
    let b = browser();
    assert_eq!(dev_sign_in(&app, &b, "dev", "alice", "alice@example.com", true).await.status(), StatusCode::SEE_OTHER);
    let a = account_of(&app, I1, "alice").await.unwrap();
    let r = link(&app, &b, "dev2", "alice-two").await;
    assert_eq!(location(&r), "/account?done=linked");
    assert_eq!(account_of(&app, I2, "alice-two").await, Some(a.clone()));
    // Signing in with the linked identity gives the same account and the same sub; the ID token
    // says which identity was used.
    let other = browser();
    let q = authorize_query(APP_ID, APP_CB, None, "n");
    let r = other.get(app.url("/authorize")).query(&q).send().await.unwrap();
    let chooser = other.get(app.url(&location(&r))).send().await.unwrap().text().await.unwrap();
    assert!(chooser.contains("Dev one") && chooser.contains("Dev two"));
    drop(chooser);
    let t: Value = redeem(&app, &app_code(&app, &other, "dev2", "alice-two").await).await.json().await.unwrap();
    let id = jwt_payload(t["id_token"].as_str().unwrap());
    assert_eq!(id["sub"], a.as_str());
    assert_eq!(id["idp"], I2);
    let audit = app.state.accounts.audit(&a).await.unwrap();
    let linked = audit.iter().find(|e| e.action == "identity.linked").expect("audit event");
    assert_eq!((linked.issuer.as_deref(), linked.subject.as_deref()), (Some(I2), Some("alice-two")));
    assert_eq!(linked.actor, format!("account:{a}"));
    assert!(linked.ip.is_some(), "from which address");
}

#[tokio::test]
async fn linking_an_identity_already_here_changes_nothing_and_one_from_another_account_is_refused() {
    let app = two_providers("").await;
    let b = browser();
    dev_sign_in(&app, &b, "dev", "alice", "", false).await;
    let a = account_of(&app, I1, "alice").await.unwrap();
    let r = link(&app, &b, "dev", "alice").await;
    assert_eq!(location(&r), "/account?done=already");
    assert_eq!(app.state.accounts.identities(&a).await.unwrap().len(), 1);
    dev_sign_in(&app, &browser(), "dev2", "bob", "", false).await;
    let bob = account_of(&app, I2, "bob").await.unwrap();
    let r = link(&app, &b, "dev2", "bob").await;
    assert_eq!(r.status(), StatusCode::CONFLICT);
    assert!(r.text().await.unwrap().contains("already linked to another account"));
    assert_eq!(account_of(&app, I2, "bob").await, Some(bob), "nothing moved");
    assert_eq!(app.state.accounts.identities(&a).await.unwrap().len(), 1);
}

#[tokio::test]
async fn changes_need_the_csrf_token_braids_origin_and_a_recent_sign_in() {
    let app = two_providers("").await;
    let b = browser();
    dev_sign_in(&app, &b, "dev", "alice", "", false).await;
    let a = account_of(&app, I1, "alice").await.unwrap();
    let r = b.post(app.url("/account/link/dev2")).form(&[("csrf", "forged")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "wrong CSRF token");
    let token = csrf(&app, &b).await;
    let r = b
        .post(app.url("/account/link/dev2"))
        .header("Origin", "https://evil.example")
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "foreign origin");
    let r = browser().post(app.url("/account/link/dev2")).form(&[("csrf", token.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED, "another browser has no session");
    app.clock.advance(Duration::from_secs(601));
    let r = b.post(app.url("/account/link/dev2")).form(&[("csrf", token.as_str())]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("Sign in again"));
    assert_eq!(app.state.accounts.identities(&a).await.unwrap().len(), 1, "nothing changed");
    assert!(
        app.state.accounts.audit(&a).await.unwrap().iter().all(|e| e.action == "identity.signed_in"),
        "no change recorded"
    );
}

#[tokio::test]
async fn unlink_keeps_the_primary_and_the_last_sign_in_and_ends_other_sessions_and_refresh_tokens() {
    let app = two_providers("").await;
    let b = browser();
    // An application holds a refresh token, and a second browser is signed in too.
    let code = app_code(&app, &b, "dev", "carol").await;
    let t: Value = redeem(&app, &code).await.json().await.unwrap();
    let second = browser();
    dev_sign_in(&app, &second, "dev", "carol", "", false).await;
    let a = account_of(&app, I1, "carol").await.unwrap();
    link(&app, &b, "dev2", "carol-two").await;
    let ids = app.state.accounts.identities(&a).await.unwrap();
    let (primary, other) = (ids[0].id, ids[1].id);
    assert_eq!(
        second.get(app.url("/account")).send().await.unwrap().status(),
        StatusCode::SEE_OTHER,
        "other session ended by the link"
    );
    let (status, _) = token_request(
        &app,
        (APP_ID, Some(APP_SECRET)),
        &[("grant_type", "refresh_token"), ("refresh_token", t["refresh_token"].as_str().unwrap())],
    )
    .await;
    assert_eq!(status, StatusCode::BAD_REQUEST, "refresh tokens issued before the link stop working");

    let r = post_change(&app, &b, "/account/unlink", primary, &[]).await;
    assert_eq!(location(&r), "/account?error=is_primary");
    let r = post_change(&app, &b, "/account/sign-in", other, &[("allowed", "false")]).await;
    assert_eq!(location(&r), "/account?done=sign_in");
    let r = post_change(&app, &b, "/account/sign-in", primary, &[("allowed", "false")]).await;
    assert_eq!(location(&r), "/account?error=last_sign_in", "never off for the last one");
    let r = dev_sign_in(&app, &browser(), "dev2", "carol-two", "", false).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "an identity with sign-in off cannot sign in");
    let r = post_change(&app, &b, "/account/unlink", other, &[]).await;
    assert_eq!(location(&r), "/account?done=unlinked");
    assert!(account_of(&app, I2, "carol-two").await.is_none());
    assert_eq!(b.get(app.url("/account")).send().await.unwrap().status(), StatusCode::OK, "this session stays");
}

#[tokio::test]
async fn the_primary_identity_feeds_the_email_and_name_claims() {
    let app = two_providers("trust_email = true\n").await;
    let b = browser();
    dev_sign_in(&app, &b, "dev", "dora", "dora@one.example", true).await;
    let a = account_of(&app, I1, "dora").await.unwrap();
    link(&app, &b, "dev2", "dora2").await;
    let second = app.state.accounts.find_identity(I2, "dora2").await.unwrap().unwrap();
    let r = post_change(&app, &b, "/account/primary", second.id, &[]).await;
    assert_eq!(location(&r), "/account?done=primary");
    assert_eq!(app.state.accounts.account(&a).await.unwrap().unwrap().primary_identity, Some(second.id));
    let code = {
        let r = b.get(app.url("/authorize")).query(&authorize_query(APP_ID, APP_CB, None, "n")).send().await.unwrap();
        query_param(&location(&r), "code").expect("single sign-on")
    };
    let t: Value = redeem(&app, &code).await.json().await.unwrap();
    let id = jwt_payload(t["id_token"].as_str().unwrap());
    assert_eq!(id["email"], "dora2@example.com");
    assert_eq!(id["name"], "dora2");
}

#[tokio::test]
async fn link_by_email_asks_for_proof_of_the_account_and_then_links() {
    let app = two_providers("on_new_identity = \"link_by_email\"\ntrust_email = true\n").await;
    dev_sign_in(&app, &browser(), "dev", "erin", "erin@example.com", true).await;
    let a = account_of(&app, I1, "erin").await.unwrap();
    let b = browser();
    let r = dev_sign_in(&app, &b, "dev2", "erin-two", "Erin@Example.com", true).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert!(page.contains("Link this identity to an existing account?"), "{page}");
    assert!(page.contains(I2) && page.contains("erin-two"), "the page names the new identity: {page}");
    assert!(account_of(&app, I2, "erin-two").await.is_none(), "nothing linked or created before the proof");
    // The explicit confirmation, then the proof: sign in with one of the account's identities in
    // the same browser.
    let r = confirm_proof(&app, &b, &page).await;
    assert_eq!(r.status(), StatusCode::OK);
    assert!(r.text().await.unwrap().contains("/login/dev"), "the account's sign-ins are offered");
    let r = dev_sign_in(&app, &b, "dev", "erin", "", false).await;
    assert_eq!(location(&r), "/account");
    assert_eq!(account_of(&app, I2, "erin-two").await, Some(a.clone()), "linked after proof");
    // From now on the new identity signs in to that account directly.
    let r = dev_sign_in(&app, &browser(), "dev2", "erin-two", "erin@example.com", true).await;
    assert_eq!(location(&r), "/account");
}

#[tokio::test]
async fn a_link_proof_is_bound_to_its_browser_its_account_and_is_used_once() {
    let app = two_providers("on_new_identity = \"link_by_email\"\ntrust_email = true\n").await;
    dev_sign_in(&app, &browser(), "dev", "fay", "fay@example.com", true).await;
    dev_sign_in(&app, &browser(), "dev", "mallory", "mallory@example.com", true).await;
    let fay = account_of(&app, I1, "fay").await.unwrap();
    // The proof is started in one browser; another browser (the victim's) signs in to fay: it
    // has no proof cookie, so nothing is linked.
    let attacker = browser();
    let r = dev_sign_in(&app, &attacker, "dev2", "intruder", "fay@example.com", true).await;
    assert_eq!(r.status(), StatusCode::OK);
    let page = r.text().await.unwrap();
    assert_eq!(confirm_proof(&app, &attacker, &page).await.status(), StatusCode::OK);
    dev_sign_in(&app, &browser(), "dev", "fay", "", false).await;
    assert!(account_of(&app, I2, "intruder").await.is_none(), "a proof never crosses browsers");
    // Completing the proof with another account is refused and uses the proof up.
    let r = dev_sign_in(&app, &attacker, "dev", "mallory", "", false).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(account_of(&app, I2, "intruder").await.is_none());
    assert_eq!(app.state.accounts.identities(&fay).await.unwrap().len(), 1);
}

#[tokio::test]
async fn unverified_or_untrusted_emails_never_link_and_a_pre_hijacked_account_is_not_joined() {
    // dev2 does not verify emails (trust_email off); dev3 links by email.
    let app = two_providers("").await;
    std::fs::write(
        app.dir().join("providers/dev3.toml"),
        "kind = \"dev\"\non_new_identity = \"link_by_email\"\ntrust_email = true\n",
    )
    .unwrap();
    app.state.providers.reload();
    // The attacker pre-registers the victim's email through the untrusted provider, claiming it
    // is verified.
    dev_sign_in(&app, &browser(), "dev2", "attacker", "victim@example.com", true).await;
    let pre = app.state.accounts.find_identity(I2, "attacker").await.unwrap().unwrap();
    assert!(!pre.email_verified, "an untrusted provider's claim is stored unverified");
    // The victim arrives through the trusted link-by-email provider: a new account of their own.
    let r = dev_sign_in(&app, &browser(), "dev3", "victim", "victim@example.com", true).await;
    assert_eq!(location(&r), "/account", "no proof page, no link");
    let victim = account_of(&app, "urn:braid:dev:dev3", "victim").await.unwrap();
    assert_ne!(victim, pre.account_id);
    // An unverified email at the trusted provider never links either.
    dev_sign_in(&app, &browser(), "dev", "owner", "owner@example.com", true).await;
    let r = dev_sign_in(&app, &browser(), "dev3", "claimer", "owner@example.com", false).await;
    assert_eq!(location(&r), "/account");
    assert_ne!(account_of(&app, "urn:braid:dev:dev3", "claimer").await, account_of(&app, I1, "owner").await);
}

#[tokio::test]
async fn with_several_matching_accounts_braid_never_picks_one() {
    let app = two_providers("on_new_identity = \"link_by_email\"\ntrust_email = true\n").await;
    dev_sign_in(&app, &browser(), "dev", "x1", "shared@example.com", true).await;
    dev_sign_in(&app, &browser(), "dev", "x2", "shared@example.com", true).await;
    let r = dev_sign_in(&app, &browser(), "dev2", "x3", "shared@example.com", true).await;
    assert_eq!(location(&r), "/account");
    let new = account_of(&app, I2, "x3").await.unwrap();
    assert_ne!(Some(&new), account_of(&app, I1, "x1").await.as_ref());
    assert_ne!(Some(&new), account_of(&app, I1, "x2").await.as_ref());
}

#[tokio::test]
async fn auto_link_links_a_trusted_verified_email_without_proof() {
    let app = two_providers("on_new_identity = \"link_by_email\"\ntrust_email = true\nauto_link = true\n").await;
    dev_sign_in(&app, &browser(), "dev", "gus", "gus@example.com", true).await;
    let r = dev_sign_in(&app, &browser(), "dev2", "gus2", "gus@example.com", true).await;
    assert_eq!(location(&r), "/account");
    assert_eq!(account_of(&app, I2, "gus2").await, account_of(&app, I1, "gus").await);
}

#[tokio::test]
async fn a_link_only_provider_cannot_create_accounts() {
    let app = two_providers("on_new_identity = \"reject\"\n").await;
    let r = dev_sign_in(&app, &browser(), "dev2", "nobody", "", false).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(account_of(&app, I2, "nobody").await.is_none());
    // But it can be linked, and then signs in.
    let b = browser();
    dev_sign_in(&app, &b, "dev", "hal", "", false).await;
    link(&app, &b, "dev2", "hal2").await;
    assert_eq!(location(&dev_sign_in(&app, &browser(), "dev2", "hal2", "", false).await), "/account");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_link_notifies_the_configured_webhook_with_a_signed_event() {
    use std::sync::{Arc, Mutex};
    let got: Arc<Mutex<Vec<(axum::http::HeaderMap, String)>>> = Arc::default();
    let sink = got.clone();
    let receiver = axum::Router::new().route(
        "/hook",
        axum::routing::post(move |headers: axum::http::HeaderMap, body: String| {
            let sink = sink.clone();
            async move {
                sink.lock().unwrap().push((headers, body));
                "ok"
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hook = format!("http://{}/hook", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, receiver).await });

    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("providers")).unwrap();
    std::fs::write(dir.path().join("providers/dev.toml"), "kind = \"dev\"\n").unwrap();
    std::fs::write(dir.path().join("providers/dev2.toml"), "kind = \"dev\"\n").unwrap();
    let url = crate::support::sqlite_url(&dir);
    let extra = format!("[notify]\npoll_interval_ms = 50\n[[webhooks]]\nurl = \"{hook}\"\nsecret = \"hook-secret\"\n");
    let app = spawn_in(dir, move |d| settings(d, &url, "memory", &extra)).await;
    let b = browser();
    dev_sign_in(&app, &b, "dev", "ivy", "", false).await;
    let a = account_of(&app, I1, "ivy").await.unwrap();
    link(&app, &b, "dev2", "ivy2").await;
    let mut event = None;
    for _ in 0..100 {
        if let Some((h, body)) = got.lock().unwrap().iter().find(|(_, b)| b.contains("identity.linked")).cloned() {
            event = Some((h, body));
            break;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    let (headers, body) = event.expect("the webhook received the link event");
    let v: Value = serde_json::from_str(&body).unwrap();
    assert_eq!(v["type"], "identity.linked");
    assert_eq!(v["account"], a.as_str());
    assert_eq!(v["identity"]["issuer"], I2);
    assert_eq!(v["identity"]["subject"], "ivy2");
    let ts: i64 = headers["x-braid-timestamp"].to_str().unwrap().parse().unwrap();
    assert_eq!(
        headers["x-braid-signature"].to_str().unwrap(),
        braid::notify::signature(b"hook-secret", ts, body.as_bytes())
    );
    assert_eq!(headers["x-braid-event-id"].to_str().unwrap(), v["id"].as_str().unwrap());
}

#[tokio::test]
async fn a_pending_link_proof_is_revoked_when_the_account_changes() {
    let app = two_providers("on_new_identity = \"link_by_email\"\ntrust_email = true\n").await;
    let owner = browser();
    dev_sign_in(&app, &owner, "dev", "jan", "jan@example.com", true).await;
    link(&app, &owner, "dev", "jan-spare").await;
    let b = browser();
    let r = dev_sign_in(&app, &b, "dev2", "jan-new", "jan@example.com", true).await;
    assert_eq!(r.status(), StatusCode::OK, "proof asked");
    let page = r.text().await.unwrap();
    assert_eq!(confirm_proof(&app, &b, &page).await.status(), StatusCode::OK);
    // The owner unlinks an identity meanwhile: pending proofs end with the other sessions.
    let spare = app.state.accounts.find_identity(I1, "jan-spare").await.unwrap().unwrap();
    assert_eq!(location(&post_change(&app, &owner, "/account/unlink", spare.id, &[]).await), "/account?done=unlinked");
    let r = dev_sign_in(&app, &b, "dev", "jan", "", false).await;
    assert_eq!(location(&r), "/account", "a plain sign-in");
    assert!(
        r.headers().get_all("set-cookie").iter().any(|c| c.to_str().unwrap().starts_with("braid_proof=;")),
        "the proof cookie goes"
    );
    assert!(account_of(&app, I2, "jan-new").await.is_none(), "nothing linked");
}

#[tokio::test]
async fn a_link_proof_revoked_before_its_confirmation_cannot_be_confirmed() {
    let app = two_providers("on_new_identity = \"link_by_email\"\ntrust_email = true\n").await;
    let owner = browser();
    dev_sign_in(&app, &owner, "dev", "kim", "kim@example.com", true).await;
    link(&app, &owner, "dev", "kim-spare").await;
    let b = browser();
    let page = dev_sign_in(&app, &b, "dev2", "kim-new", "kim@example.com", true).await.text().await.unwrap();
    // Revoked while its page is open: the confirmation stores nothing back (the proof is only
    // replaced while it still exists), and the sign-in that follows links nothing.
    let spare = app.state.accounts.find_identity(I1, "kim-spare").await.unwrap().unwrap();
    post_change(&app, &owner, "/account/unlink", spare.id, &[]).await;
    let r = confirm_proof(&app, &b, &page).await;
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    assert!(r.text().await.unwrap().contains("expired"));
    let r = dev_sign_in(&app, &b, "dev", "kim", "", false).await;
    assert_eq!(location(&r), "/account", "a plain sign-in");
    assert!(account_of(&app, I2, "kim-new").await.is_none(), "nothing linked");
}

#[tokio::test]
async fn sign_ins_are_in_the_audit_log_with_the_identity_used() {
    let app = two_providers("").await;
    let b = browser();
    dev_sign_in(&app, &b, "dev", "kim", "", false).await;
    let a = account_of(&app, I1, "kim").await.unwrap();
    let audit = app.state.accounts.audit(&a).await.unwrap();
    let e = audit.iter().find(|e| e.action == "identity.signed_in").expect("sign-in recorded");
    assert_eq!((e.issuer.as_deref(), e.subject.as_deref()), (Some(I1), Some("kim")));
    assert!(e.ip.is_some());
}

#[tokio::test]
async fn a_link_proof_links_nothing_without_the_explicit_confirmation() {
    let app = two_providers("on_new_identity = \"link_by_email\"\ntrust_email = true\n").await;
    dev_sign_in(&app, &browser(), "dev", "ken", "ken@example.com", true).await;
    let b = browser();
    let page = dev_sign_in(&app, &b, "dev2", "ken-two", "ken@example.com", true).await.text().await.unwrap();
    // A confirmation without the page's CSRF token, or from another origin, is refused.
    let r = b.post(app.url("/login/link-proof")).form(&[("csrf", "forged")]).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let marker = "name=\"csrf\" value=\"";
    let start = page.find(marker).unwrap() + marker.len();
    let token = page[start..].split('"').next().unwrap().to_owned();
    let r = b
        .post(app.url("/login/link-proof"))
        .header("origin", "https://evil.example")
        .form(&[("csrf", token.as_str())])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    // Signing in to the account without confirming: a plain sign-in, nothing linked.
    let r = dev_sign_in(&app, &b, "dev", "ken", "", false).await;
    assert_eq!(location(&r), "/account");
    assert!(account_of(&app, I2, "ken-two").await.is_none(), "an unconfirmed proof links nothing");
}
