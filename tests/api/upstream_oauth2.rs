//! OAuth2 social logins without OIDC, GitHub style (SECURITY-CASES 36): the identity is keyed on
//! the numeric id, never the login name, and only the primary email the emails list marks
//! verified counts as verified.

use std::sync::Arc;

use braid::clock::TestClock;
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::*;
use crate::mock_idp::{CLIENT_ID, CLIENT_SECRET, MockIdp};
use crate::upstream_oidc::{Setup, assert_refused, sign_in_via};

const GITHUB: &str = "https://github.com";

async fn github(extra: &str) -> Setup {
    let clock = Arc::new(TestClock::starting_now());
    let mock = MockIdp::start(clock.clone()).await;
    // Social OAuth2 providers send no RFC 9207 `iss` (one naming another issuer is refused).
    mock.set(|b| b.iss_param = None);
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("providers")).unwrap();
    let b = &mock.base;
    std::fs::write(
        dir.path().join("providers/mock.toml"),
        format!(
            "kind = \"oauth2\"\npreset = \"github\"\n# The mock stands in for github.com: endpoints overridden, so the issuer is said explicitly.\nissuer = \"{GITHUB}\"\ntrust_email = true\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n\
             authorize_url = \"{b}/authorize\"\ntoken_url = \"{b}/token\"\nuserinfo_url = \"{b}/user\"\n{extra}"
        ),
    )
    .unwrap();
    let url = crate::support::sqlite_url(&dir);
    let app = spawn_in_with_clock(dir, clock, move |d| settings(d, &url, "memory", "")).await;
    Setup { app, mock }
}

#[tokio::test]
async fn github_sign_in_is_keyed_on_the_numeric_id_and_takes_the_primary_verified_email() {
    let s = github(&format!("emails_url = \"{}/user/emails\"\n", "http://127.0.0.1:1")).await;
    // The emails URL above is wrong on purpose: braid must not sign in without it working.
    let r = sign_in_via(&s, &browser()).await;
    assert_refused(&s, r, "12345").await;

    let s = github("").await;
    let emails = format!("emails_url = \"{}/user/emails\"\n", s.mock.base);
    std::fs::write(
        s.app.dir().join("providers/mock.toml"),
        format!("{}{emails}", std::fs::read_to_string(s.app.dir().join("providers/mock.toml")).unwrap()),
    )
    .unwrap();
    s.app.state.providers.reload();
    let to = location(&browser().get(s.app.url("/login/mock?login_hint=octocat")).send().await.unwrap());
    assert_eq!(query_param(&to, "scope").as_deref(), Some("read:user user:email"));
    assert_eq!(query_param(&to, "login").as_deref(), Some("octocat"), "GitHub's login hint parameter");
    assert_eq!(query_param(&to, "code_challenge_method").as_deref(), Some("S256"));

    let r = sign_in_via(&s, &browser()).await;
    assert_eq!(r.status(), StatusCode::SEE_OTHER);
    let id = s.app.state.accounts.find_identity(GITHUB, "12345").await.unwrap().expect("keyed on the numeric id");
    assert_eq!(id.email.as_deref(), Some("octocat@mock.example"));
    assert!(id.email_verified);
    assert!(s.app.state.accounts.find_identity(GITHUB, "octocat").await.unwrap().is_none(), "never the login");

    // The login is renamed: same identity, same account.
    s.mock.set(|b| b.gh_user = json!({"id": 12345, "login": "renamed", "name": "R"}));
    assert_eq!(sign_in_via(&s, &browser()).await.status(), StatusCode::SEE_OTHER);
    let again = s.app.state.accounts.find_identity(GITHUB, "12345").await.unwrap().unwrap();
    assert_eq!(again.account_id, id.account_id);

    // Another user whose primary email is unverified: the email is not verified.
    s.mock.set(|b| {
        b.gh_user = json!({"id": 777, "login": "other"});
        b.gh_emails = json!([{"email": "x@mock.example", "primary": true, "verified": false}, {"email": "y@mock.example", "primary": false, "verified": true}]);
    });
    assert_eq!(sign_in_via(&s, &browser()).await.status(), StatusCode::SEE_OTHER);
    let other = s.app.state.accounts.find_identity(GITHUB, "777").await.unwrap().unwrap();
    assert_eq!(other.email.as_deref(), Some("x@mock.example"));
    assert!(!other.email_verified, "an unverified primary email is never verified");
}

#[tokio::test]
async fn a_generic_oauth2_email_is_unverified_unless_a_field_says_so() {
    let s = github("").await;
    let b = &s.mock.base;
    std::fs::write(
        s.app.dir().join("providers/mock.toml"),
        format!(
            "kind = \"oauth2\"\nissuer = \"https://social.example\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n\
             authorize_url = \"{b}/authorize\"\ntoken_url = \"{b}/token\"\nuserinfo_url = \"{b}/user\"\nsubject_field = \"id\"\n"
        ),
    )
    .unwrap();
    s.app.state.providers.reload();
    assert_eq!(sign_in_via(&s, &browser()).await.status(), StatusCode::SEE_OTHER);
    let id = s.app.state.accounts.find_identity("https://social.example", "12345").await.unwrap().unwrap();
    assert_eq!(id.email.as_deref(), Some("public@mock.example"));
    assert!(!id.email_verified);
    // No subject field in the answer: refused.
    s.mock.set(|bh| bh.gh_user = json!({"login": "nobody"}));
    let r = sign_in_via(&s, &browser()).await;
    assert!(r.status().is_client_error());
}

#[test]
fn oauth2_provider_files_need_their_endpoints_unless_a_preset_gives_them() {
    let p = std::path::Path::new("providers/x.toml");
    let e = braid::upstream::parse_file(p, "kind = \"oauth2\"\nclient_id = \"c\"\n").unwrap_err();
    let keys: Vec<&str> = e.iter().map(|x| x.key.as_str()).collect();
    for k in ["issuer", "authorize_url", "token_url", "userinfo_url", "subject_field"] {
        assert!(keys.contains(&k), "{k} reported: {keys:?}");
    }
    let ok = braid::upstream::parse_file(
        p,
        "kind = \"oauth2\"\npreset = \"github\"\ntrust_email = true\nclient_id = \"c\"\n",
    )
    .unwrap();
    assert_eq!(ok.issuer, "https://github.com");
    let e = braid::upstream::parse_file(p, "kind = \"oauth2\"\npreset = \"github\"\ntrust_email = true\nclient_id = \"c\"\ndiscovery_url = \"https://x\"\n").unwrap_err();
    assert_eq!(e[0].key, "discovery_url", "an OIDC-only key on an oauth2 provider");
    // GitHub Enterprise: the preset with other endpoints is another issuer, which must be named.
    let ghes = "kind = \"oauth2\"\npreset = \"github\"\nclient_id = \"c\"\nauthorize_url = \"https://ghe.example/login/oauth/authorize\"\n";
    let e = braid::upstream::parse_file(p, ghes).unwrap_err();
    assert_eq!(e[0].key, "issuer");
}

#[tokio::test]
async fn a_client_asking_for_a_fresh_sign_in_hears_login_required_unless_the_provider_can_force_it() {
    let authorize = |s: &Setup, b: &reqwest::Client| {
        let mut q = authorize_query(APP_ID, APP_CB, None, "n");
        q.push(("prompt".into(), "login".into()));
        let url = s.app.url("/authorize");
        let b = b.clone();
        async move {
            let r = b.get(url).query(&q).send().await.unwrap();
            location(&r)
        }
    };
    let s = github("").await;
    let b = browser();
    let chooser = authorize(&s, &b).await;
    let r = b.get(s.app.url(&chooser)).send().await.unwrap();
    let r = b.get(s.app.url(&location(&r))).send().await.unwrap();
    let back = location(&r);
    assert!(back.starts_with(APP_CB), "answered to the client: {back}");
    assert_eq!(query_param(&back, "error").as_deref(), Some("login_required"));
    assert_eq!(query_param(&back, "state").as_deref(), Some("st-123"));
    assert_eq!(s.mock.token_hits(), 0, "the provider was never asked");

    // A provider that honours prompt=login: sent upstream, and the sign-in counts from then.
    let s = github("can_force_login = true\n").await;
    let file = s.app.dir().join("providers/mock.toml");
    let text = format!("{}emails_url = \"{}/user/emails\"\n", std::fs::read_to_string(&file).unwrap(), s.mock.base);
    std::fs::write(&file, text).unwrap();
    s.app.state.providers.reload();
    let chooser = authorize(&s, &b).await;
    let r = b.get(s.app.url(&chooser)).send().await.unwrap();
    let r = b.get(s.app.url(&location(&r))).send().await.unwrap();
    let to_idp = location(&r);
    assert_eq!(query_param(&to_idp, "prompt").as_deref(), Some("login"), "{to_idp}");
    let r = b.get(&to_idp).send().await.unwrap();
    let r = b.get(location(&r)).send().await.unwrap();
    let code = query_param(&location(&r), "code").expect("a code");
    let t: Value = redeem(&s.app, &code).await.json().await.unwrap();
    let id = jwt_payload(t["id_token"].as_str().unwrap());
    assert_eq!(id["auth_time"].as_i64(), Some(braid::clock::Clock::now_secs(&*s.app.clock)), "{id}");
}
