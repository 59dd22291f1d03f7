//! What braid sends upstream and how identities are keyed: prompt, login_hint, domain_hint and
//! extra parameters; home-realm discovery by email domain; Entra ID multi-tenant issuers keyed on
//! tenant and object id.

use std::sync::Arc;

use braid::clock::TestClock;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::*;
use crate::mock_idp::{CLIENT_ID, CLIENT_SECRET, MockIdp};
use crate::upstream_oidc::{Setup, setup, sign_in_via};

#[tokio::test]
async fn prompt_login_hint_domain_hint_and_extra_parameters_go_upstream() {
    let s = setup("prompt = \"select_account\"\ndomain_hint = \"corp.example\"\nextra_params = { hd = \"corp.example\", acr_values = \"mfa\" }\n").await;
    let r = browser().get(s.app.url("/login/mock?login_hint=ann%40corp.example")).send().await.unwrap();
    let to = location(&r);
    for (k, v) in [
        ("prompt", "select_account"),
        ("login_hint", "ann@corp.example"),
        ("domain_hint", "corp.example"),
        ("hd", "corp.example"),
        ("acr_values", "mfa"),
        ("code_challenge_method", "S256"),
        ("response_type", "code"),
    ] {
        assert_eq!(query_param(&to, k).as_deref(), Some(v), "{k}");
    }
    for k in ["state", "nonce", "code_challenge"] {
        assert!(query_param(&to, k).is_some_and(|v| v.len() >= 32), "{k} is random and long");
    }
    assert_eq!(query_param(&to, "redirect_uri"), Some(s.app.url("/callback/mock")), "a callback per provider");
}

#[tokio::test]
async fn braid_refuses_provider_files_that_set_its_own_parameters() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("x.toml");
    let text =
        "kind = \"oidc\"\nissuer = \"https://idp.example\"\nclient_id = \"c\"\nextra_params = { nonce = \"fixed\" }\n";
    let e = braid::upstream::parse_file(&path, text).unwrap_err();
    assert_eq!(e[0].key, "extra_params.nonce");
}

#[tokio::test]
async fn an_email_typed_on_the_chooser_routes_to_the_provider_of_its_domain() {
    let s = setup("domains = [\"corp.example\"]\n").await;
    write_dev_provider(s.app.dir());
    s.app.state.providers.reload();
    let b = browser();
    let page = b.get(s.app.url("/login")).send().await.unwrap().text().await.unwrap();
    assert!(page.contains("name=\"email\""), "the chooser asks for an email");
    let r = b.get(s.app.url("/login?email=Ann%40Corp.Example")).send().await.unwrap();
    assert_eq!(location(&r), "/login/mock?login_hint=Ann%40Corp.Example");
    let r = b.get(s.app.url("/login?login_hint=bob%40elsewhere.example")).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::OK, "no domain match: the chooser");
    let r = b.get(s.app.url("/login?idp_hint=dev")).send().await.unwrap();
    assert_eq!(location(&r), "/login/dev");
}

async fn entra() -> Setup {
    let clock = Arc::new(TestClock::starting_now());
    let mock = MockIdp::start(clock.clone()).await;
    let template = format!("{}/{{tenantid}}/v2.0", mock.base);
    mock.set(|b| {
        b.discovery_issuer = Some(template.clone());
        b.advertise_iss = false;
        b.iss_param = None;
    });
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("providers")).unwrap();
    std::fs::write(
        dir.path().join("providers/mock.toml"),
        format!(
            "kind = \"oidc\"\nissuer = \"{template}\"\ndiscovery_url = \"{}/.well-known/openid-configuration\"\n\
             client_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n[claims]\nsubject = \"oid\"\nkeep = [\"tid\", \"oid\"]\n",
            mock.base
        ),
    )
    .unwrap();
    let url = crate::support::sqlite_url(&dir);
    let app = spawn_in_with_clock(dir, clock, move |d| settings(d, &url, "memory", "")).await;
    Setup { app, mock }
}

fn tenant(s: &Setup, tid: &str, oid: &str, sub: &str) {
    let iss = format!("{}/{tid}/v2.0", s.mock.base);
    s.mock.set(|b| {
        b.subject = sub.into();
        b.claims.insert("iss".into(), json!(iss));
        b.claims.insert("tid".into(), json!(tid));
        b.claims.insert("oid".into(), json!(oid));
    });
}

#[tokio::test]
async fn entra_multi_tenant_identities_are_keyed_on_tenant_and_object_id() {
    let s = entra().await;
    tenant(&s, "tenant-a", "oid-1", "pairwise-x");
    assert_eq!(sign_in_via(&s, &browser()).await.status(), StatusCode::SEE_OTHER);
    tenant(&s, "tenant-b", "oid-1", "pairwise-x");
    assert_eq!(sign_in_via(&s, &browser()).await.status(), StatusCode::SEE_OTHER);
    let a =
        s.app.state.accounts.find_identity(&format!("{}/tenant-a/v2.0", s.mock.base), "oid-1").await.unwrap().unwrap();
    let b =
        s.app.state.accounts.find_identity(&format!("{}/tenant-b/v2.0", s.mock.base), "oid-1").await.unwrap().unwrap();
    assert_ne!(a.account_id, b.account_id, "one oid in two tenants is two people");
    assert_eq!(a.last_claims["tid"], "tenant-a");
}

#[tokio::test]
async fn entra_tokens_whose_issuer_names_another_tenant_than_tid_are_refused() {
    let s = entra().await;
    tenant(&s, "tenant-a", "oid-9", "p");
    s.mock.claim("tid", json!("tenant-b"));
    let r = sign_in_via(&s, &browser()).await;
    crate::upstream_oidc::assert_refused(&s, r, "p").await;
    s.mock.claim("tid", serde_json::Value::Null);
    let r = sign_in_via(&s, &browser()).await;
    assert!(r.status().is_client_error(), "no tid: refused");
}
