//! Server-rendered HTML: escaping, the page layout, and error pages.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};

/// Escape text for HTML element content and quoted attribute values.
pub fn esc(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        match c {
            '&' => out.push_str("&amp;"),
            '<' => out.push_str("&lt;"),
            '>' => out.push_str("&gt;"),
            '"' => out.push_str("&quot;"),
            '\'' => out.push_str("&#39;"),
            _ => out.push(c),
        }
    }
    out
}

const STYLE: &str = "body{font-family:system-ui,sans-serif;max-width:44rem;margin:3rem auto;padding:0 1rem;color:#1d2330}\
h1{font-size:1.5rem}a.button,button{display:inline-block;padding:.55rem 1rem;margin:.25rem 0;border:1px solid #3b5bdb;\
border-radius:6px;background:#3b5bdb;color:#fff;text-decoration:none;font-size:1rem;cursor:pointer}\
button.secondary,a.secondary{background:#fff;color:#3b5bdb}input{padding:.45rem;font-size:1rem;width:100%;box-sizing:border-box;margin:.2rem 0 .8rem}\
table{border-collapse:collapse;width:100%}td,th{border-bottom:1px solid #dde;padding:.4rem;text-align:left;vertical-align:top}\
pre{background:#f4f5f8;padding:.8rem;overflow:auto;font-size:.85rem}.error{border-left:4px solid #c92a2a;padding-left:1rem}\
.muted{color:#667}code{background:#f4f5f8;padding:0 .2rem}";

/// A complete page. `body` must already be escaped HTML.
pub fn page(title: &str, body: &str) -> String {
    format!(
        "<!doctype html><html lang=\"en\"><head><meta charset=\"utf-8\">\
<meta name=\"viewport\" content=\"width=device-width,initial-scale=1\"><title>{} · braid</title>\
<style>{STYLE}</style></head><body>{body}</body></html>",
        esc(title)
    )
}

/// An HTML response with security headers that forbid framing and caching.
pub fn respond(status: StatusCode, html: String) -> Response {
    let mut resp = (status, html).into_response();
    let h = resp.headers_mut();
    h.insert(header::CONTENT_TYPE, HeaderValue::from_static("text/html; charset=utf-8"));
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'self'; style-src 'unsafe-inline'; frame-ancestors 'none'"),
    );
    h.insert(header::REFERRER_POLICY, HeaderValue::from_static("same-origin"));
    resp
}

/// An error page: what went wrong and what to do.
pub fn error_page(status: StatusCode, title: &str, detail: &str) -> Response {
    let body = format!(
        "<div class=\"error\"><h1>{}</h1><p>{}</p></div><p class=\"muted\">HTTP {} · <a href=\"/login?prompt=login\">Sign in again</a></p>",
        esc(title),
        esc(detail),
        status.as_u16()
    );
    respond(status, page(title, &body))
}

/// braid's "signed out" page.
pub fn signed_out() -> Response {
    respond(
        StatusCode::OK,
        page(
            "Signed out",
            "<h1>You are signed out of braid</h1><p><a class=\"button\" href=\"/login\">Sign in again</a></p>",
        ),
    )
}

/// The page asking the person to confirm a sign-out another page or application asked for: it
/// posts `fields` back to `action` with the session's CSRF token.
pub fn sign_out_confirmation(action: &str, fields: &[(&str, &str)], csrf: &str) -> Response {
    let hidden: String = fields
        .iter()
        .map(|(k, v)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", esc(k), esc(v)))
        .collect();
    let body = format!(
        "<h1>Sign out of braid?</h1><p>Another page asked braid to sign you out. This ends your braid session and \
the sign-ins of the applications that used it.</p><form method=\"post\" action=\"{action}\">\
<input type=\"hidden\" name=\"csrf\" value=\"{csrf}\">{hidden}<button type=\"submit\" id=\"confirm-sign-out\">Sign out</button> \
<a class=\"button secondary\" href=\"/account\">Stay signed in</a></form>",
        action = esc(action),
        csrf = esc(csrf),
    );
    respond(StatusCode::OK, page("Sign out?", &body))
}

#[cfg(test)]
mod tests {
    use super::esc;

    #[test]
    fn escaping_neutralises_markup() {
        assert_eq!(esc("<a href=\"x\">'&'</a>"), "&lt;a href=&quot;x&quot;&gt;&#39;&amp;&#39;&lt;/a&gt;");
    }
}
