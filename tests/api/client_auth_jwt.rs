//! JWT client authentication (RFC 7523): private_key_jwt with RS256, PS256, ES256 and EdDSA keys
//! (inline `jwks`, and a `jwks_uri` served here, cached and fetched again on an unknown kid) and
//! client_secret_jwt; each refused assertion is a 401 `invalid_client` that leaves the code
//! redeemable; replayed `jti`s are refused across replicas sharing Redis; catalog clients use it.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use braid::clock::Clock as _;

use crate::helpers::*;

pub const JWT_BEARER: &str = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer";
pub const PKJ_ID: &str = "pkj";
pub const PKJ_CB: &str = "http://127.0.0.1:9/pkj";
const CSJ_ID: &str = "csj";
const CSJ_SECRET: &str = "secret-of-the-jwt-client-0123456789abcdef";
const CSJ_CB: &str = "http://127.0.0.1:9/csj";

/// A client key pair: the private key to sign with and the public JWK.
pub struct Signer {
    pub enc: EncodingKey,
    pub alg: Algorithm,
    pub kid: String,
    pub jwk: Value,
}

fn b64(b: &[u8]) -> String {
    URL_SAFE_NO_PAD.encode(b)
}

impl Signer {
    pub fn rsa(kid: &str, alg: Algorithm) -> Self {
        let rsa = openssl::rsa::Rsa::generate(2048).unwrap();
        let jwk = json!({"kty": "RSA", "kid": kid, "n": b64(&rsa.n().to_vec()), "e": b64(&rsa.e().to_vec())});
        let pem = rsa.private_key_to_pem().unwrap();
        Self { enc: EncodingKey::from_rsa_pem(&pem).unwrap(), alg, kid: kid.into(), jwk }
    }

    pub fn ec(kid: &str) -> Self {
        let group = openssl::ec::EcGroup::from_curve_name(openssl::nid::Nid::X9_62_PRIME256V1).unwrap();
        let key = openssl::ec::EcKey::generate(&group).unwrap();
        let mut ctx = openssl::bn::BigNumContext::new().unwrap();
        let (mut x, mut y) = (openssl::bn::BigNum::new().unwrap(), openssl::bn::BigNum::new().unwrap());
        key.public_key().affine_coordinates(&group, &mut x, &mut y, &mut ctx).unwrap();
        let jwk = json!({"kty": "EC", "crv": "P-256", "kid": kid,
            "x": b64(&x.to_vec_padded(32).unwrap()), "y": b64(&y.to_vec_padded(32).unwrap())});
        let pem = openssl::pkey::PKey::from_ec_key(key).unwrap().private_key_to_pem_pkcs8().unwrap();
        Self { enc: EncodingKey::from_ec_pem(&pem).unwrap(), alg: Algorithm::ES256, kid: kid.into(), jwk }
    }

    pub fn ed(kid: &str) -> Self {
        let key = openssl::pkey::PKey::generate_ed25519().unwrap();
        let jwk = json!({"kty": "OKP", "crv": "Ed25519", "kid": kid, "x": b64(&key.raw_public_key().unwrap())});
        let pem = key.private_key_to_pem_pkcs8().unwrap();
        Self { enc: EncodingKey::from_ed_pem(&pem).unwrap(), alg: Algorithm::EdDSA, kid: kid.into(), jwk }
    }

    /// An assertion of `client` with these claims over the defaults (`Null` removes a claim).
    pub fn sign(&self, app: &TestApp, client: &str, over: Value) -> String {
        sign_with(&self.enc, self.alg, Some(&self.kid), &claims(app, client, over))
    }
}

/// Default assertion claims for `client` at `app`, with `over` applied.
pub fn claims(app: &TestApp, client: &str, over: Value) -> Value {
    let now = app.clock.now_secs();
    let mut c = json!({"iss": client, "sub": client, "aud": app.url("/token"), "exp": now + 60, "iat": now,
        "jti": braid::ids::random_token(12)});
    for (k, v) in over.as_object().unwrap() {
        if v.is_null() {
            c.as_object_mut().unwrap().remove(k);
        } else {
            c[k] = v.clone();
        }
    }
    c
}

pub fn sign_with(enc: &EncodingKey, alg: Algorithm, kid: Option<&str>, claims: &Value) -> String {
    let mut h = Header::new(alg);
    h.kid = kid.map(str::to_owned);
    jsonwebtoken::encode(&h, claims, enc).unwrap()
}

/// `[[clients]]` entries for a private_key_jwt client with `jwks` (JSON) and a client_secret_jwt one.
pub fn jwt_clients_toml(jwks: &Value) -> String {
    format!(
        "[[clients]]\nid = \"{PKJ_ID}\"\nredirect_uris = [\"{PKJ_CB}\"]\ntoken_endpoint_auth_method = \"private_key_jwt\"\n\
         jwks = '''{jwks}'''\n\n\
         [[clients]]\nid = \"{CSJ_ID}\"\nsecret = \"{CSJ_SECRET}\"\nredirect_uris = [\"{CSJ_CB}\"]\n\
         token_endpoint_auth_method = \"client_secret_jwt\"\n"
    )
}

/// Sign in for `client` at `cb`; returns the code.
pub async fn code_of(app: &TestApp, client: &str, cb: &str, user: &str) -> String {
    let q = authorize_query(client, cb, None, "n");
    let back = walk_sign_in(&browser(), &[&app.base], &q, user, "").await;
    assert!(back.starts_with(cb), "{back}");
    query_param(&back, "code").unwrap()
}

/// Redeem `code` at /token with `assertion` (and any extra form fields).
pub async fn redeem_with(app: &TestApp, code: &str, cb: &str, assertion: &str) -> (StatusCode, Value) {
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code),
        ("redirect_uri", cb),
        ("client_assertion_type", JWT_BEARER),
        ("client_assertion", assertion),
    ];
    let r = reqwest::Client::new().post(app.url("/token")).form(&form).send().await.unwrap();
    (r.status(), r.json().await.unwrap_or(Value::Null))
}

/// Authenticate at /revoke with `assertion` (an unknown token: 200 when authentication passes).
async fn revoke_with(app: &TestApp, assertion: &str) -> StatusCode {
    let form = [("token", "unknown"), ("client_assertion_type", JWT_BEARER), ("client_assertion", assertion)];
    reqwest::Client::new().post(app.url("/revoke")).form(&form).send().await.unwrap().status()
}

fn set(signers: &[&Signer]) -> Value {
    json!({"keys": signers.iter().map(|s| s.jwk.clone()).collect::<Vec<_>>()})
}

#[tokio::test]
async fn private_key_jwt_redeems_codes_with_rsa_ec_and_ed25519_keys() {
    let (rs, ps, es, ed) =
        (Signer::rsa("rs", Algorithm::RS256), Signer::rsa("ps", Algorithm::PS256), Signer::ec("es"), Signer::ed("ed"));
    let app = spawn_app_with(&jwt_clients_toml(&set(&[&rs, &ps, &es, &ed]))).await;
    for (i, s) in [&rs, &ps, &es, &ed].into_iter().enumerate() {
        let code = code_of(&app, PKJ_ID, PKJ_CB, &format!("pk{i}")).await;
        let (status, body) = redeem_with(&app, &code, PKJ_CB, &s.sign(&app, PKJ_ID, json!({}))).await;
        assert_eq!(status, StatusCode::OK, "{:?}: {body}", s.alg);
        assert_eq!(jwt_payload(body["id_token"].as_str().unwrap())["aud"], PKJ_ID);
    }
    // The issuer as audience (OIDC Core §9), and a key id left out, are accepted too.
    let code = code_of(&app, PKJ_ID, PKJ_CB, "pk-iss").await;
    let c = claims(&app, PKJ_ID, json!({"aud": [app.base.clone()]}));
    let (status, body) = redeem_with(&app, &code, PKJ_CB, &sign_with(&es.enc, es.alg, None, &c)).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // The same client's secret-style authentication is refused: only its registered method.
    let (status, body) =
        token_request(&app, (PKJ_ID, Some("whatever-secret")), &[("grant_type", "refresh_token")]).await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")));
}

#[tokio::test]
async fn client_secret_jwt_redeems_a_code_and_its_secret_alone_is_refused() {
    let app = spawn_app_with(&jwt_clients_toml(&set(&[&Signer::ec("k")]))).await;
    let code = code_of(&app, CSJ_ID, CSJ_CB, "cs1").await;
    let hs = |over: Value| {
        sign_with(&EncodingKey::from_secret(CSJ_SECRET.as_bytes()), Algorithm::HS256, None, &claims(&app, CSJ_ID, over))
    };
    // Basic with the right secret: not this client's method; the code stays.
    let (status, body) = token_request(
        &app,
        (CSJ_ID, Some(CSJ_SECRET)),
        &[("grant_type", "authorization_code"), ("code", &code), ("redirect_uri", CSJ_CB)],
    )
    .await;
    assert_eq!((status, body["error"].as_str()), (StatusCode::UNAUTHORIZED, Some("invalid_client")), "{body}");
    // HS256 keyed with another secret.
    let wrong = sign_with(
        &EncodingKey::from_secret(b"another-secret-0123456789abcdef0123"),
        Algorithm::HS256,
        None,
        &claims(&app, CSJ_ID, json!({})),
    );
    assert_eq!(redeem_with(&app, &code, CSJ_CB, &wrong).await.0, StatusCode::UNAUTHORIZED);
    let (status, body) = redeem_with(&app, &code, CSJ_CB, &hs(json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    // An HS256 assertion for the private_key_jwt client is refused (no alg confusion).
    let forged = sign_with(
        &EncodingKey::from_secret(CSJ_SECRET.as_bytes()),
        Algorithm::HS256,
        None,
        &claims(&app, PKJ_ID, json!({})),
    );
    assert_eq!(revoke_with(&app, &forged).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn bad_assertions_are_refused_and_leave_the_code_redeemable() {
    let rs = Signer::rsa("rs", Algorithm::RS256);
    let app = spawn_app_with(&jwt_clients_toml(&set(&[&rs]))).await;
    let code = code_of(&app, PKJ_ID, PKJ_CB, "bad1").await;
    let now = app.clock.now_secs();
    let stranger = Signer::rsa("rs", Algorithm::RS256);
    let unknown_kid = Signer::rsa("nope", Algorithm::RS256);
    // HS256 keyed with the public key's bytes (the classic algorithm confusion).
    let n = URL_SAFE_NO_PAD.decode(rs.jwk["n"].as_str().unwrap()).unwrap();
    let confused =
        sign_with(&EncodingKey::from_secret(&n), Algorithm::HS256, Some("rs"), &claims(&app, PKJ_ID, json!({})));
    let unsigned = {
        let head = b64(json!({"alg": "none", "kid": "rs"}).to_string().as_bytes());
        let body = b64(claims(&app, PKJ_ID, json!({})).to_string().as_bytes());
        format!("{head}.{body}.")
    };
    // A valid assertion spent once at /revoke, then replayed here.
    let spent = rs.sign(&app, PKJ_ID, json!({}));
    assert_eq!(revoke_with(&app, &spent).await, StatusCode::OK);
    let cases: Vec<(&str, String)> = vec![
        ("wrong iss", rs.sign(&app, PKJ_ID, json!({"iss": "app"}))),
        ("wrong sub", rs.sign(&app, PKJ_ID, json!({"sub": "app"}))),
        ("wrong aud", rs.sign(&app, PKJ_ID, json!({"aud": "https://elsewhere.example/token"}))),
        ("no aud", rs.sign(&app, PKJ_ID, json!({"aud": null}))),
        ("expired", rs.sign(&app, PKJ_ID, json!({"exp": now - 120}))),
        ("too long", rs.sign(&app, PKJ_ID, json!({"exp": now + 3600 + 60}))),
        ("no exp", rs.sign(&app, PKJ_ID, json!({"exp": null}))),
        ("no jti", rs.sign(&app, PKJ_ID, json!({"jti": null}))),
        ("replayed jti", spent),
        ("alg none", unsigned),
        ("HS256 with the public key", confused),
        ("unknown kid", unknown_kid.sign(&app, PKJ_ID, json!({}))),
        ("unregistered key", stranger.sign(&app, PKJ_ID, json!({}))),
    ];
    for (what, assertion) in &cases {
        let (status, body) = redeem_with(&app, &code, PKJ_CB, assertion).await;
        assert_eq!(
            (status, body["error"].as_str()),
            (StatusCode::UNAUTHORIZED, Some("invalid_client")),
            "{what}: {body}"
        );
    }
    // A wrong assertion type.
    let form = [
        ("grant_type", "authorization_code"),
        ("code", code.as_str()),
        ("redirect_uri", PKJ_CB),
        ("client_assertion_type", "urn:other"),
        ("client_assertion", &cases[0].1),
    ];
    let r = reqwest::Client::new().post(app.url("/token")).form(&form).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::UNAUTHORIZED);
    let (status, body) = redeem_with(&app, &code, PKJ_CB, &rs.sign(&app, PKJ_ID, json!({}))).await;
    assert_eq!(status, StatusCode::OK, "the code was never spent: {body}");
}

#[tokio::test]
async fn a_basic_or_post_only_client_may_use_only_its_method() {
    let extra = format!(
        "[[clients]]\nid = \"basic\"\nsecret = \"{APP_SECRET}\"\nredirect_uris = [\"{APP_CB}\"]\n\
         token_endpoint_auth_method = \"client_secret_basic\"\n\n\
         [[clients]]\nid = \"post\"\nsecret = \"{APP_SECRET}\"\nredirect_uris = [\"{APP_CB}\"]\n\
         token_endpoint_auth_method = \"client_secret_post\"\n"
    );
    let app = spawn_app_with(&extra).await;
    let revoke = |id: &'static str, basic: bool| {
        let mut r = reqwest::Client::new().post(app.url("/revoke"));
        r = if basic {
            r.basic_auth(id, Some(APP_SECRET)).form(&[("token", "x")])
        } else {
            r.form(&[("token", "x"), ("client_id", id), ("client_secret", APP_SECRET)])
        };
        async move { r.send().await.unwrap().status() }
    };
    assert_eq!(revoke("basic", true).await, StatusCode::OK);
    assert_eq!(revoke("basic", false).await, StatusCode::UNAUTHORIZED);
    assert_eq!(revoke("post", false).await, StatusCode::OK);
    assert_eq!(revoke("post", true).await, StatusCode::UNAUTHORIZED);
    // A client registered without a method keeps both.
    assert_eq!(revoke("app", true).await, StatusCode::OK);
    assert_eq!(revoke("app", false).await, StatusCode::OK);
}

/// A JWK Set served over HTTP that counts its fetches and can be swapped.
pub struct JwksServer {
    pub url: String,
    pub set: Arc<Mutex<Value>>,
    pub fetches: Arc<AtomicUsize>,
}

pub async fn serve_jwks(initial: Value) -> JwksServer {
    let set = Arc::new(Mutex::new(initial));
    let fetches = Arc::new(AtomicUsize::new(0));
    let (s, f) = (set.clone(), fetches.clone());
    let router = axum::Router::new().route(
        "/jwks",
        axum::routing::get(move || {
            let (s, f) = (s.clone(), f.clone());
            async move {
                f.fetch_add(1, Ordering::SeqCst);
                let v = s.lock().unwrap().clone();
                axum::Json(v)
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/jwks", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, router).await.unwrap() });
    JwksServer { url, set, fetches }
}

#[tokio::test]
async fn jwks_uri_keys_are_cached_and_fetched_again_for_an_unknown_kid_at_most_every_30_seconds() {
    let (first, second) = (Signer::ec("one"), Signer::ed("two"));
    let server = serve_jwks(set(&[&first])).await;
    let extra = format!(
        "[[clients]]\nid = \"{PKJ_ID}\"\nredirect_uris = [\"{PKJ_CB}\"]\ntoken_endpoint_auth_method = \"private_key_jwt\"\n\
         jwks_uri = \"{}\"\n",
        server.url
    );
    let app = spawn_app_with(&extra).await;
    let code = code_of(&app, PKJ_ID, PKJ_CB, "uri1").await;
    let (status, body) = redeem_with(&app, &code, PKJ_CB, &first.sign(&app, PKJ_ID, json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    assert_eq!(revoke_with(&app, &first.sign(&app, PKJ_ID, json!({}))).await, StatusCode::OK);
    assert_eq!(server.fetches.load(Ordering::SeqCst), 1, "the set is cached");
    // The client rotates its key: the new kid is unknown; within 30 s of the last fetch braid
    // does not fetch again (refused), after that it does (accepted).
    *server.set.lock().unwrap() = set(&[&second]);
    assert_eq!(revoke_with(&app, &second.sign(&app, PKJ_ID, json!({}))).await, StatusCode::UNAUTHORIZED);
    assert_eq!(server.fetches.load(Ordering::SeqCst), 1);
    app.clock.advance(Duration::from_secs(31));
    assert_eq!(revoke_with(&app, &second.sign(&app, PKJ_ID, json!({}))).await, StatusCode::OK);
    assert_eq!(server.fetches.load(Ordering::SeqCst), 2);
    // The old key is gone from the set.
    assert_eq!(revoke_with(&app, &first.sign(&app, PKJ_ID, json!({}))).await, StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_jti_is_refused_on_every_replica_sharing_redis() {
    let es = Signer::ec("es");
    let extra = jwt_clients_toml(&set(&[&es]));
    let redis = crate::support::redis_url();
    let prefix = crate::support::unique("braidjti:");
    let start = |e: String, r: String, p: String| async move {
        let dir = tempfile::tempdir().unwrap();
        write_dev_provider(dir.path());
        let url = crate::support::sqlite_url(&dir);
        spawn_in(dir, move |d| {
            let mut s = settings(d, &url, &r, &e);
            s.store.redis_key_prefix = p;
            s
        })
        .await
    };
    let a = start(extra.clone(), redis.clone(), prefix.clone()).await;
    let b = start(extra, redis, prefix).await;
    // One assertion, audience the issuer of each (both replicas answer for one issuer here
    // only through the token endpoint URL of the first).
    let c = claims(&a, PKJ_ID, json!({"aud": [a.url("/token"), b.url("/token")]}));
    let assertion = sign_with(&es.enc, es.alg, Some("es"), &c);
    assert_eq!(revoke_with(&a, &assertion).await, StatusCode::OK);
    assert_eq!(revoke_with(&b, &assertion).await, StatusCode::UNAUTHORIZED, "replayed on the other replica");
}

#[tokio::test]
async fn discovery_lists_the_methods_and_algorithms() {
    let app = spawn_app().await;
    let d: Value = reqwest::get(app.url("/.well-known/openid-configuration")).await.unwrap().json().await.unwrap();
    for k in [
        "token_endpoint_auth_methods_supported",
        "revocation_endpoint_auth_methods_supported",
        "introspection_endpoint_auth_methods_supported",
    ] {
        let list: Vec<&str> = d[k].as_array().unwrap().iter().filter_map(Value::as_str).collect();
        for m in ["client_secret_basic", "client_secret_post", "client_secret_jwt", "private_key_jwt", "none"] {
            assert!(list.contains(&m), "{k} lacks {m}");
        }
    }
    let algs: Vec<&str> = d["token_endpoint_auth_signing_alg_values_supported"]
        .as_array()
        .unwrap()
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(algs, ["HS256", "RS256", "PS256", "ES256", "EdDSA"]);
    assert_eq!(d["pushed_authorization_request_endpoint"], app.url("/par"));
    assert_eq!(d["require_pushed_authorization_requests"], false);
}

#[test]
fn bad_registrations_are_refused_with_the_key_named() {
    let dir = tempfile::tempdir().unwrap();
    let check = |extra: &str| -> String {
        let text = format!("[server]\nlisten = \"127.0.0.1:0\"\n[keys]\ndir = \"{}\"\n{extra}", dir.path().display());
        let s: braid::config::Settings = toml::from_str(&text).unwrap();
        s.check("braid.toml").unwrap_err().to_string()
    };
    let c = |more: &str| format!("[[clients]]\nid = \"c\"\nredirect_uris = [\"https://a.example/cb\"]\n{more}");
    let e = check(&c("token_endpoint_auth_method = \"private_key_jwt\"\n"));
    assert!(e.contains("braid.toml: key `clients[0].jwks`: private_key_jwt needs"), "{e}");
    let e = check(&c("token_endpoint_auth_method = \"private_key_jwt\"\njwks_uri = \"http://keys.example/jwks\"\n"));
    assert!(e.contains("key `clients[0].jwks_uri`") && e.contains("https"), "{e}");
    let e = check(&c(
        "token_endpoint_auth_method = \"private_key_jwt\"\njwks_uri = \"https://a/j\"\njwks = '{\"keys\": []}'\n",
    ));
    assert!(e.contains("not both"), "{e}");
    let e = check(&c("token_endpoint_auth_method = \"client_secret_jwt\"\n"));
    assert!(e.contains("key `clients[0].token_endpoint_auth_method`: client_secret_jwt needs a client secret"), "{e}");
    let e = check(&c(
        "token_endpoint_auth_method = \"private_key_jwt\"\njwks = '{\"keys\": [{\"kty\": \"oct\", \"k\": \"AAAA\"}]}'\n",
    ));
    assert!(e.contains("key `clients[0].jwks`: keys[0]: holds private or secret key material"), "{e}");
    let text = format!("[server]\nlisten = \"127.0.0.1:0\"\n{}", c("token_endpoint_auth_method = \"secret_sauce\"\n"));
    let e = toml::from_str::<braid::config::Settings>(&text).unwrap_err().to_string();
    assert!(e.contains("unknown variant `secret_sauce`") && e.contains("private_key_jwt"), "{e}");
}

#[tokio::test]
async fn a_catalog_client_uses_private_key_jwt_and_is_refused_client_secret_jwt() {
    use crate::admin_ops::{TOKEN, admin_toml};
    let app = spawn_app_with(&admin_toml()).await;
    let ed = Signer::ed("ed");
    let h = reqwest::Client::new();
    let cb = "http://127.0.0.1:9/cat";
    let def = json!({"id": "cat", "redirect_uris": [cb], "token_endpoint_auth_method": "private_key_jwt",
        "jwks": {"keys": [ed.jwk.clone()]}, "require_pushed_authorization_requests": false});
    let r = h.post(app.url("/admin/v1/clients")).bearer_auth(TOKEN).json(&def).send().await.unwrap();
    assert_eq!(r.status(), StatusCode::CREATED);
    let made: Value = r.json().await.unwrap();
    assert!(made.get("secret").is_none(), "a private_key_jwt client gets no secret: {made}");
    assert_eq!(made["client"]["token_endpoint_auth_method"], "private_key_jwt");
    let code = code_of(&app, "cat", cb, "cat1").await;
    let (status, body) = redeem_with(&app, &code, cb, &ed.sign(&app, "cat", json!({}))).await;
    assert_eq!(status, StatusCode::OK, "{body}");
    for (bad, pointer) in [
        (
            json!({"id": "c2", "redirect_uris": [cb], "token_endpoint_auth_method": "client_secret_jwt"}),
            "/token_endpoint_auth_method",
        ),
        (json!({"id": "c3", "redirect_uris": [cb], "token_endpoint_auth_method": "private_key_jwt"}), "/jwks"),
        (
            json!({"id": "c4", "redirect_uris": [cb], "public": true, "token_endpoint_auth_method": "client_secret_post"}),
            "/token_endpoint_auth_method",
        ),
    ] {
        let r = h.post(app.url("/admin/v1/clients")).bearer_auth(TOKEN).json(&bad).send().await.unwrap();
        assert_eq!(r.status(), StatusCode::UNPROCESSABLE_ENTITY);
        let v: Value = r.json().await.unwrap();
        assert_eq!(v["errors"][0]["pointer"], pointer, "{v}");
    }
}
