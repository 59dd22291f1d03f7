//! Route paths (discovery is built from these) and the router that joins every handler, behind
//! the dispatch that sends the hosts of braid's own proxy to their upstreams.

use axum::Router;
use axum::routing::{get, post};

use crate::state::AppState;
use crate::{health, issuer, proxy, upstream, web};

/// Discovery document.
pub const DISCOVERY: &str = "/.well-known/openid-configuration";
/// Public keys.
pub const JWKS: &str = "/jwks.json";
/// Authorization endpoint.
pub const AUTHORIZE: &str = "/authorize";
/// Token endpoint.
pub const TOKEN: &str = "/token";
/// Userinfo endpoint.
pub const USERINFO: &str = "/userinfo";
/// Token introspection (RFC 7662).
pub const INTROSPECT: &str = "/introspect";
/// Pushed authorization requests (RFC 9126).
pub const PAR: &str = "/par";
/// Token revocation (RFC 7009).
pub const REVOKE: &str = "/revoke";
/// RP-initiated logout.
pub const LOGOUT: &str = "/logout";
/// Provider chooser.
pub const LOGIN: &str = "/login";
/// Start (GET) or, for the dev provider, finish (POST) an upstream sign-in.
pub const LOGIN_PROVIDER: &str = "/login/{provider}";
/// Confirmation of a link-by-email proof.
pub const LINK_PROOF: &str = "/login/link-proof";
/// OIDC / OAuth2 redirect URI of each provider.
pub const CALLBACK: &str = "/callback/{provider}";
/// OIDC back-channel logout receiver of each provider.
pub const BACKCHANNEL_LOGOUT: &str = "/backchannel-logout/{provider}";
/// SAML SP metadata of each provider.
pub const SAML_METADATA: &str = "/saml/{provider}/metadata";
/// SAML assertion consumer service of each provider.
pub const SAML_ACS: &str = "/saml/{provider}/acs";
/// The account page.
pub const ACCOUNT: &str = "/account";
/// The demo application.
pub const DEMO: &str = "/demo";
/// Forward-auth for nginx `auth_request` and the like: 200, 401 or 403.
pub const AUTH_VERIFY: &str = "/auth/verify";
/// Forward-auth for Traefik and Caddy: 200, 302 to sign-in, or 403.
pub const AUTH_FORWARD: &str = "/auth/forward";
/// Sign in, then return to `rd`.
pub const AUTH_START: &str = "/auth/start";
/// Sign out, then go to `rd`.
pub const AUTH_SIGN_OUT: &str = "/auth/sign-out";
/// Liveness.
pub const HEALTHZ: &str = "/healthz";
/// Readiness.
pub const READYZ: &str = "/readyz";

/// Every route of braid.
pub fn router(state: AppState) -> proxy::reverse::Dispatch {
    let mut r = Router::new()
        .route(DISCOVERY, get(issuer::discovery::discovery_get))
        .route(JWKS, get(issuer::discovery::jwks_get))
        .route(AUTHORIZE, get(issuer::authorize::authorize_get).post(issuer::authorize::authorize_post))
        .route(TOKEN, post(issuer::token::token_post))
        .route(USERINFO, get(issuer::userinfo::userinfo).post(issuer::userinfo::userinfo))
        .route(LOGOUT, get(issuer::logout::logout_get).post(issuer::logout::logout_post))
        .route(REVOKE, post(issuer::revoke::revoke_post))
        .route(INTROSPECT, post(issuer::introspect::introspect_post))
        .route(PAR, post(issuer::par::par_post))
        .route(LOGIN, get(web::login::login_get))
        .route(LINK_PROOF, post(crate::linking::link_proof_post))
        .route(LOGIN_PROVIDER, get(web::login::login_provider_get).post(upstream::dev::login_post))
        .route(CALLBACK, get(upstream::callback::callback_get))
        .route(BACKCHANNEL_LOGOUT, post(upstream::logout::backchannel_logout_post))
        .route(SAML_METADATA, get(upstream::saml::acs::metadata_get))
        .route(upstream::saml::acs::RESUBMIT_JS, get(upstream::saml::acs::resubmit_js))
        .route(
            SAML_ACS,
            post(upstream::saml::acs::acs_post)
                .layer(axum::extract::DefaultBodyLimit::max(upstream::saml::acs::MAX_ACS_BODY)),
        )
        .route(ACCOUNT, get(web::account::account_get))
        .route("/account/unlink", post(web::account::unlink_post))
        .route("/account/primary", post(web::account::primary_post))
        .route("/account/sign-in", post(web::account::sign_in_post))
        .route("/account/link/{provider}", post(web::account::link_post))
        .route("/", get(|| async { axum::response::Redirect::to(ACCOUNT) }))
        .route(AUTH_VERIFY, get(proxy::forward::verify_get))
        .route(AUTH_FORWARD, get(proxy::forward::forward_get))
        .route(AUTH_START, get(proxy::start::start_get))
        .route(AUTH_SIGN_OUT, get(proxy::start::sign_out_get).post(proxy::start::sign_out_post))
        .route(HEALTHZ, get(health::healthz))
        .route(READYZ, get(health::readyz));
    r = r
        .nest(crate::admin::api::PREFIX, crate::admin::api::router(state.clone()))
        .merge(crate::admin::console::router());
    if state.settings.demo.enabled {
        r = r.route(DEMO, get(web::demo::demo_get)).route("/demo/app.js", get(web::demo::demo_js));
    }
    let metrics = state.metrics.clone();
    if let Some(endpoint) = &metrics {
        if state.settings.metrics.listen.is_none() {
            let endpoint = endpoint.clone();
            r = r.route(
                crate::metrics::PATH,
                get(move |headers| crate::metrics::metrics_get(axum::extract::State(endpoint), headers)),
            );
        }
    }
    let https = state.settings.public_url().starts_with("https://");
    let own = crate::edge::wrap(r, https, metrics.is_some()).with_state(state.clone());
    // The hosts of routes with an `upstream` go to braid's proxy before this router sees them.
    proxy::reverse::Dispatch::new(proxy::reverse::ReverseProxy::new(state), own)
}
