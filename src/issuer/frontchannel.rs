//! Front-channel logout (OIDC Front-Channel Logout 1.0): after braid ends a browser session, its
//! logout page loads each `frontchannel_logout_uri` of the clients that got tokens in that
//! session in an invisible iframe (with `iss` and `sid` when the client requires them), then
//! continues: a script waits for every frame's `load` event or 2.5 seconds; without JavaScript
//! a refresh after 5 seconds and a link do the same. The page's CSP allows frames from those
//! clients' origins only.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::Response;

use super::clients::Client;
use crate::web::html::{self, esc};

/// A frame to load: the client's URI with the parameters it asked for.
pub fn frame_url(client: &Client, issuer: &str, sid: &str) -> Option<String> {
    let uri = client.logout.frontchannel_logout_uri.as_deref()?;
    if client.logout.frontchannel_logout_session_required {
        Some(super::authorize::with_params(uri, &[("iss", issuer), ("sid", sid)]))
    } else {
        Some(uri.to_owned())
    }
}

/// The logout page with one iframe per client in `clients` that has a front-channel URI, then on
/// to `next` (or, with none, braid's signed-out page). `None` when no client has such a URI.
pub fn page(clients: &[std::sync::Arc<Client>], issuer: &str, sid: &str, next: Option<&str>) -> Option<Response> {
    let frames: Vec<(String, String)> =
        clients.iter().filter_map(|c| Some((frame_url(c, issuer, sid)?, c.logout.frontchannel_origin()?))).collect();
    if frames.is_empty() {
        return None;
    }
    let nonce = crate::ids::random_token(16);
    let iframes: String = frames
        .iter()
        .map(|(u, _)| {
            format!(
                "<iframe class=\"fcl\" src=\"{}\" style=\"display:none\" width=\"0\" height=\"0\" title=\"sign-out\"></iframe>",
                esc(u)
            )
        })
        .collect();
    let (refresh, go, script) = match next {
        Some(to) => (
            format!("<meta http-equiv=\"refresh\" content=\"5;url={}\">", esc(to)),
            format!("<p><a class=\"button\" id=\"continue\" href=\"{}\">Continue</a></p>", esc(to)),
            format!(
                "<script nonce=\"{nonce}\">(function(){{var to={};var f=document.querySelectorAll('iframe.fcl');\
var left=f.length,done=false;function go(){{if(!done){{done=true;window.location.replace(to);}}}}\
f.forEach(function(e){{e.addEventListener('load',function(){{if(--left<=0)go();}});}});setTimeout(go,2500);}})();</script>",
                serde_json::Value::String(to.to_owned()).to_string().replace('<', "\\u003c")
            ),
        ),
        None => (String::new(), "<p><a class=\"button\" href=\"/login\">Sign in again</a></p>".into(), String::new()),
    };
    let body = format!(
        "{refresh}<h1>You are signed out of braid</h1><p class=\"muted\">Signing you out of the applications you used…</p>{go}{iframes}{script}"
    );
    let mut resp = html::respond(StatusCode::OK, html::page("Signed out", &body));
    let mut origins: Vec<&str> = frames.iter().map(|(_, o)| o.as_str()).collect();
    origins.sort_unstable();
    origins.dedup();
    let csp = format!(
        "default-src 'self'; style-src 'unsafe-inline'; script-src 'nonce-{nonce}'; frame-src {}; frame-ancestors 'none'",
        origins.join(" ")
    );
    if let Ok(v) = HeaderValue::from_str(&csp) {
        resp.headers_mut().insert(header::CONTENT_SECURITY_POLICY, v);
    }
    Some(resp)
}
