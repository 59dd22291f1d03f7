//! A misbehaving OpenID Provider of our own, for sending bad answers on purpose: discovery,
//! JWKS, authorize (records state, nonce and PKCE challenge), token (enforces PKCE, then signs an
//! ID token the way the test says), userinfo. Time comes from braid's test clock.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use axum::Form;
use axum::extract::{Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::{get, post};
use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use braid::clock::{Clock, TestClock};
use braid::config::SigningAlg;
use braid::issuer::keys::KeySet;
use serde_json::{Map, Value, json};

pub const CLIENT_ID: &str = "braid-client";
pub const CLIENT_SECRET: &str = "braid-secret";

/// How the ID token is signed.
#[derive(Clone, Debug, PartialEq)]
pub enum Sign {
    /// With the current RSA key (kid in header).
    Rs256,
    /// With the EC key.
    Es256,
    /// HS256 with these key bytes.
    Hs256(Vec<u8>),
    /// `alg: none`, no signature.
    None,
    /// RS256, then the payload is altered after signing.
    TamperedPayload,
    /// With a key that is not published, its public JWK embedded in the header as `jwk`.
    EmbeddedJwk,
}

/// What the mock does; tests change it between steps.
#[derive(Clone, Debug)]
pub struct Behaviour {
    /// Claims to set (`null` removes the claim).
    pub claims: Map<String, Value>,
    /// Header members to set (`null` removes).
    pub header: Map<String, Value>,
    /// Signing.
    pub sign: Sign,
    /// Userinfo answer (`None`: same sub and email as the ID token).
    pub userinfo: Option<Value>,
    /// JWKS endpoint answers 500.
    pub jwks_fail: bool,
    /// The token endpoint waits this long before answering.
    pub token_delay_ms: u64,
    /// The token endpoint answers with this status (and no tokens).
    pub token_status: Option<u16>,
    /// Publish the EC key too.
    pub publish_ec: bool,
    /// Sign with the rotated RSA key (published only once `rotated` is set).
    pub rotated: bool,
    /// The `iss` response parameter: `None` omits it; otherwise this value.
    pub iss_param: Option<String>,
    /// Discovery advertises RFC 9207 support.
    pub advertise_iss: bool,
    /// Discovery names this issuer instead of its own.
    pub discovery_issuer: Option<String>,
    /// Subject of the next sign-in.
    pub subject: String,
    /// GitHub-style `/user` answer.
    pub gh_user: Value,
    /// GitHub-style `/user/emails` answer.
    pub gh_emails: Value,
}

pub struct Inner {
    pub behaviour: Behaviour,
    /// code -> (nonce, code_challenge, redirect_uri)
    codes: HashMap<String, (String, String, String)>,
    pub jwks_hits: usize,
    pub token_hits: usize,
}

#[derive(Clone)]
pub struct MockIdp {
    pub base: String,
    pub inner: Arc<Mutex<Inner>>,
    rsa: Arc<KeySet>,
    rsa2: Arc<KeySet>,
    ec: Arc<KeySet>,
    attacker: Arc<KeySet>,
    clock: Arc<TestClock>,
    _dirs: Arc<Vec<tempfile::TempDir>>,
}

fn keyset(alg: SigningAlg) -> (tempfile::TempDir, Arc<KeySet>) {
    let d = tempfile::tempdir().unwrap();
    let k = KeySet::load_or_generate(d.path(), alg).unwrap();
    (d, Arc::new(k))
}

impl MockIdp {
    pub async fn start(clock: Arc<TestClock>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let base = format!("http://{}", listener.local_addr().unwrap());
        let (d1, rsa) = keyset(SigningAlg::RS256);
        let (d2, rsa2) = keyset(SigningAlg::RS256);
        let (d3, ec) = keyset(SigningAlg::ES256);
        let (d4, attacker) = keyset(SigningAlg::RS256);
        let behaviour = Behaviour {
            claims: Map::new(),
            header: Map::new(),
            sign: Sign::Rs256,
            userinfo: None,
            jwks_fail: false,
            token_delay_ms: 0,
            token_status: None,
            publish_ec: false,
            rotated: false,
            iss_param: Some(base.clone()),
            advertise_iss: true,
            discovery_issuer: None,
            subject: "user-1".into(),
            gh_user: json!({"id": 12345, "login": "octocat", "name": "The Octocat", "email": "public@mock.example"}),
            gh_emails: json!([
                {"email": "secondary@mock.example", "primary": false, "verified": true},
                {"email": "octocat@mock.example", "primary": true, "verified": true},
            ]),
        };
        let mock = Self {
            base,
            inner: Arc::new(Mutex::new(Inner { behaviour, codes: HashMap::new(), jwks_hits: 0, token_hits: 0 })),
            rsa,
            rsa2,
            ec,
            attacker,
            clock,
            _dirs: Arc::new(vec![d1, d2, d3, d4]),
        };
        let app = axum::Router::new()
            .route("/.well-known/openid-configuration", get(discovery))
            .route("/jwks", get(jwks))
            .route("/authorize", get(authorize))
            .route("/token", post(token))
            .route("/userinfo", get(userinfo))
            .route("/user", get(gh_user))
            .route("/user/emails", get(gh_emails))
            .with_state(mock.clone());
        tokio::spawn(async move { axum::serve(listener, app).await });
        mock
    }

    pub fn set(&self, f: impl FnOnce(&mut Behaviour)) {
        f(&mut self.inner.lock().unwrap().behaviour);
    }

    pub fn claim(&self, k: &str, v: Value) {
        self.set(|b| {
            b.claims.insert(k.into(), v);
        });
    }

    pub fn header(&self, k: &str, v: Value) {
        self.set(|b| {
            b.header.insert(k.into(), v);
        });
    }

    pub fn jwks_hits(&self) -> usize {
        self.inner.lock().unwrap().jwks_hits
    }

    /// The RSA public key the mock signs with, as raw bytes of its modulus (for HS256 confusion).
    pub fn rsa_public_variants(&self) -> Vec<Vec<u8>> {
        let jwk = &self.rsa.current().jwk;
        let n = URL_SAFE_NO_PAD.decode(jwk["n"].as_str().unwrap()).unwrap();
        vec![n, jwk.to_string().into_bytes(), serde_json::to_vec(&self.rsa.jwks()).unwrap()]
    }

    /// A provider file for braid.
    pub fn provider_toml(&self, extra: &str) -> String {
        let name = if extra.contains("display_name") { "" } else { "display_name = \"Mock\"\n" };
        let trust = if extra.contains("trust_email") { "" } else { "trust_email = true\n" };
        format!(
            "kind = \"oidc\"\n{name}{trust}issuer = \"{}\"\nclient_id = \"{CLIENT_ID}\"\nclient_secret = \"{CLIENT_SECRET}\"\n{extra}",
            self.base
        )
    }

    fn id_token(&self, b: &Behaviour, nonce: &str) -> String {
        let now = self.clock.now_secs();
        let mut claims = json!({
            "iss": self.base, "sub": b.subject, "aud": CLIENT_ID, "exp": now + 300, "iat": now,
            "nonce": nonce, "email": format!("{}@mock.example", b.subject), "email_verified": true, "name": "Mock User",
        })
        .as_object()
        .cloned()
        .unwrap();
        merge(&mut claims, &b.claims);
        let mut b = b.clone();
        let extra_header = std::mem::take(&mut b.header);
        self.sign_custom(&b.sign, b.rotated, &extra_header, &claims)
    }

    /// Sign `claims` the way `sign` says, with `extra_header` merged into the header.
    pub fn sign_custom(
        &self,
        sign: &Sign,
        rotated: bool,
        extra_header: &Map<String, Value>,
        claims: &Map<String, Value>,
    ) -> String {
        let key = match sign {
            Sign::Es256 => self.ec.current(),
            Sign::EmbeddedJwk => self.attacker.current(),
            _ if rotated => self.rsa2.current(),
            _ => self.rsa.current(),
        };
        let mut header = json!({"alg": key.alg.as_str(), "kid": key.kid, "typ": "JWT"}).as_object().cloned().unwrap();
        match sign {
            Sign::Hs256(_) => {
                header.insert("alg".into(), json!("HS256"));
            }
            Sign::None => {
                header.insert("alg".into(), json!("none"));
            }
            Sign::EmbeddedJwk => {
                header.insert("jwk".into(), key.jwk.clone());
                header.insert("kid".into(), self.rsa.current().kid.clone().into());
            }
            _ => {}
        }
        merge(&mut header, extra_header);
        let enc = |v: &Map<String, Value>| URL_SAFE_NO_PAD.encode(serde_json::to_vec(v).unwrap());
        let input = format!("{}.{}", enc(&header), enc(claims));
        let sig = match sign {
            Sign::None => Vec::new(),
            Sign::Hs256(secret) => {
                let k = aws_lc_rs::hmac::Key::new(aws_lc_rs::hmac::HMAC_SHA256, secret);
                aws_lc_rs::hmac::sign(&k, input.as_bytes()).as_ref().to_vec()
            }
            _ => key.sign(input.as_bytes()).unwrap(),
        };
        let mut token = format!("{input}.{}", URL_SAFE_NO_PAD.encode(sig));
        if *sign == Sign::TamperedPayload {
            let mut c = claims.clone();
            c.insert("sub".into(), json!("someone-else"));
            let parts: Vec<&str> = token.split('.').collect();
            token = format!("{}.{}.{}", parts[0], enc(&c), parts[2]);
        }
        token
    }

    pub fn token_hits(&self) -> usize {
        self.inner.lock().unwrap().token_hits
    }
}

fn merge(target: &mut Map<String, Value>, changes: &Map<String, Value>) {
    for (k, v) in changes {
        if v.is_null() {
            target.remove(k);
        } else {
            target.insert(k.clone(), v.clone());
        }
    }
}

async fn discovery(State(m): State<MockIdp>) -> Response {
    let b = m.inner.lock().unwrap().behaviour.clone();
    axum::Json(json!({
        "issuer": b.discovery_issuer.unwrap_or_else(|| m.base.clone()),
        "authorization_endpoint": format!("{}/authorize", m.base),
        "token_endpoint": format!("{}/token", m.base),
        "jwks_uri": format!("{}/jwks", m.base),
        "userinfo_endpoint": format!("{}/userinfo", m.base),
        "authorization_response_iss_parameter_supported": b.advertise_iss,
    }))
    .into_response()
}

async fn jwks(State(m): State<MockIdp>) -> Response {
    let mut inner = m.inner.lock().unwrap();
    inner.jwks_hits += 1;
    let b = &inner.behaviour;
    if b.jwks_fail {
        return (StatusCode::INTERNAL_SERVER_ERROR, "down").into_response();
    }
    let mut keys = vec![m.rsa.current().jwk.clone()];
    if b.rotated {
        keys.push(m.rsa2.current().jwk.clone());
    }
    if b.publish_ec {
        keys.push(m.ec.current().jwk.clone());
    }
    axum::Json(json!({ "keys": keys })).into_response()
}

async fn authorize(State(m): State<MockIdp>, Query(q): Query<HashMap<String, String>>) -> Response {
    assert_eq!(q.get("client_id").map(String::as_str), Some(CLIENT_ID));
    assert_eq!(q.get("code_challenge_method").map(String::as_str), Some("S256"), "braid always sends S256 PKCE");
    let code = braid::ids::random_token(16);
    let redirect = q["redirect_uri"].clone();
    let mut inner = m.inner.lock().unwrap();
    let nonce = q.get("nonce").cloned().unwrap_or_default();
    inner.codes.insert(code.clone(), (nonce, q["code_challenge"].clone(), redirect.clone()));
    let mut params = vec![("code", code.as_str()), ("state", q["state"].as_str())];
    let iss = inner.behaviour.iss_param.clone();
    if let Some(i) = iss.as_deref() {
        params.push(("iss", i));
    }
    Redirect::to(&braid::issuer::authorize::with_params(&redirect, &params)).into_response()
}

async fn token(
    State(m): State<MockIdp>,
    headers: axum::http::HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Response {
    let (delay, status) = {
        let i = m.inner.lock().unwrap();
        (i.behaviour.token_delay_ms, i.behaviour.token_status)
    };
    tokio::time::sleep(std::time::Duration::from_millis(delay)).await;
    if let Some(s) = status {
        return (StatusCode::from_u16(s).unwrap(), "the upstream is in trouble").into_response();
    }
    let mut inner = m.inner.lock().unwrap();
    inner.token_hits += 1;
    let basic =
        format!("Basic {}", base64::engine::general_purpose::STANDARD.encode(format!("{CLIENT_ID}:{CLIENT_SECRET}")));
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some(basic.as_str()) {
        return (StatusCode::UNAUTHORIZED, axum::Json(json!({"error": "invalid_client"}))).into_response();
    }
    let Some((nonce, challenge, redirect)) = f.get("code").and_then(|c| inner.codes.remove(c)) else {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "invalid_grant"}))).into_response();
    };
    let verifier = f.get("code_verifier").cloned().unwrap_or_default();
    if braid::ids::sha256_b64(verifier.as_bytes()) != challenge || f.get("redirect_uri") != Some(&redirect) {
        return (StatusCode::BAD_REQUEST, axum::Json(json!({"error": "invalid_grant", "error_description": "PKCE"})))
            .into_response();
    }
    let b = inner.behaviour.clone();
    drop(inner);
    axum::Json(json!({"access_token": "mock-at", "token_type": "Bearer", "id_token": m.id_token(&b, &nonce)}))
        .into_response()
}

async fn userinfo(State(m): State<MockIdp>) -> Response {
    let b = m.inner.lock().unwrap().behaviour.clone();
    let body = b.userinfo.unwrap_or_else(|| json!({"sub": b.subject, "email": format!("{}@mock.example", b.subject)}));
    axum::Json(body).into_response()
}

async fn gh_user(State(m): State<MockIdp>, headers: axum::http::HeaderMap) -> Response {
    if headers.get("authorization").and_then(|v| v.to_str().ok()) != Some("Bearer mock-at") {
        return StatusCode::UNAUTHORIZED.into_response();
    }
    axum::Json(m.inner.lock().unwrap().behaviour.gh_user.clone()).into_response()
}

async fn gh_emails(State(m): State<MockIdp>) -> Response {
    axum::Json(m.inner.lock().unwrap().behaviour.gh_emails.clone()).into_response()
}
