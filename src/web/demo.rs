//! The built-in demo application at `/demo`: a public client (`demo`) that signs in through braid
//! with the code flow and PKCE in the browser, and shows the ID token, access-token claims and
//! userinfo, with buttons to refresh and to sign out.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::html;
use crate::issuer::clients::Client;

/// The demo client's id.
pub const CLIENT_ID: &str = "demo";

/// The demo client registration for braid at `public_url`.
pub fn client(public_url: &str) -> Client {
    let home = format!("{public_url}{}", crate::routes::DEMO);
    Client {
        id: CLIENT_ID.into(),
        name: "braid demo application".into(),
        secret: None,
        redirect_uris: vec![home.clone()],
        post_logout_redirect_uris: vec![home],
        token_shape: Default::default(),
        logout: Default::default(),
        auth_method: None,
        jwks: None,
        require_par: false,
    }
}

/// `GET /demo`
pub async fn demo_get() -> Response {
    let body = "<h1>Demo application</h1>\
<p class=\"muted\">This page plays an application that delegates sign-in to braid: code flow with PKCE, \
then the tokens braid issued.</p><div id=\"app\"><p>Loading…</p></div>\
<script src=\"/demo/app.js\"></script>";
    html::respond(StatusCode::OK, html::page("Demo application", body))
}

/// `GET /demo/app.js`
pub async fn demo_js() -> Response {
    let mut resp = (StatusCode::OK, include_str!("../../assets/demo.js")).into_response();
    resp.headers_mut().insert(header::CONTENT_TYPE, HeaderValue::from_static("text/javascript; charset=utf-8"));
    resp.headers_mut().insert(header::CACHE_CONTROL, HeaderValue::from_static("no-cache"));
    resp
}
