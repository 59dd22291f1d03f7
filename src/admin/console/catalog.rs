//! Console pages for the catalog: providers (add an OIDC or SAML provider from a form, which
//! runs the online check before saving; enable, disable, edit the definition, delete) and
//! clients (add, rotate the secret, delete; a secret is shown once). File-defined ones are
//! listed read-only. Destructive changes go through the confirmation page.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};
use serde_json::{Value, json};

use super::{page, reader, writer};
use crate::admin::catalog::CatalogError;
use crate::error::AppError;
use crate::state::AppState;
use crate::web::html::esc;

fn refused(e: CatalogError) -> AppError {
    use axum::http::StatusCode;
    match e {
        CatalogError::Invalid { pointer, detail } => AppError::page_status(
            StatusCode::UNPROCESSABLE_ENTITY,
            "Not saved",
            format!("Nothing was saved: `{}`: {detail}.", if pointer.is_empty() { "/" } else { &pointer }),
        ),
        CatalogError::Store(detail) => AppError::Internal(detail),
        other => AppError::page_status(StatusCode::CONFLICT, "Not saved", format!("Nothing was saved: {other}.")),
    }
}

fn hidden(csrf: &str, fields: &[(&str, &str)]) -> String {
    let mut out = format!("<input type=\"hidden\" name=\"csrf\" value=\"{}\">", esc(csrf));
    for (k, v) in fields {
        out.push_str(&format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", esc(k), esc(v)));
    }
    out
}

fn button_form(action: &str, csrf: &str, fields: &[(&str, &str)], label: &str) -> String {
    format!(
        "<form method=\"post\" action=\"{}\" style=\"display:inline\">{}<button class=\"secondary\" type=\"submit\">{}</button></form> ",
        esc(action),
        hidden(csrf, fields),
        esc(label)
    )
}

/// `GET /admin/providers`
pub async fn providers_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let me = match reader(&state, &headers).await? {
        Ok(me) => me,
        Err(redirect) => return Ok(redirect),
    };
    let csrf = &me.session.csrf;
    let mut rows = String::new();
    for p in state.catalog.list_providers().await.map_err(refused)? {
        let actions = if p.source == "api" {
            let version = p.version.unwrap_or_default().to_string();
            let (flip, label) = if p.enabled { ("false", "Disable") } else { ("true", "Enable") };
            format!(
                "{}{}<a class=\"button secondary\" href=\"/admin/providers/edit?id={}\">Edit</a>",
                button_form(
                    "/admin/providers/change",
                    csrf,
                    &[("id", &p.id), ("action", "enabled"), ("enabled", flip), ("version", &version)],
                    label
                ),
                button_form(
                    "/admin/providers/change",
                    csrf,
                    &[("id", &p.id), ("action", "delete"), ("version", &version)],
                    "Delete"
                ),
                esc(&p.id)
            )
        } else {
            "<span class=\"muted\">provider file</span>".into()
        };
        rows.push_str(&format!(
            "<tr data-provider=\"{}\"><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{actions}</td></tr>",
            esc(&p.id),
            esc(&p.id),
            esc(&p.kind),
            esc(&p.display_name),
            esc(&p.issuer),
            if !p.enabled { "disabled" } else if p.in_force { "in force" } else { "refused (see the log)" },
        ));
    }
    let notice = match q.get("done").map(String::as_str) {
        Some("added") => {
            "<p class=\"notice\"><strong>The provider is added; it is on the sign-in page now.</strong></p>"
        }
        Some("changed") => "<p class=\"notice\"><strong>The provider is changed.</strong></p>",
        Some("deleted") => "<p class=\"notice\"><strong>The provider is deleted.</strong></p>",
        _ => "",
    };
    let body = format!(
        "{notice}<table><tr><th>Id</th><th>Kind</th><th>Name</th><th>Issuer</th><th>State</th><th></th></tr>{rows}</table>\
<h2>Add an OpenID Connect provider</h2><form method=\"post\" action=\"/admin/providers/add\" id=\"add-oidc\">{}\
<label>Id <input name=\"id\" required pattern=\"[a-z0-9][a-z0-9_-]*\"></label><label>Name on the sign-in page <input name=\"display_name\" required></label>\
<label>Issuer <input name=\"issuer\" required placeholder=\"https://login.example.com\"></label>\
<label>Client id <input name=\"client_id\" required></label><label>Client secret <input name=\"client_secret\" type=\"password\"></label>\
<label>Scopes <input name=\"scopes\" value=\"openid email profile\"></label>\
<label><input type=\"checkbox\" name=\"trust_email\" value=\"true\" style=\"width:auto\"> Trust its verified emails for linking</label>\
<button type=\"submit\">Check and add</button></form>\
<h2>Add a SAML provider</h2><form method=\"post\" action=\"/admin/providers/add\" id=\"add-saml\">{}\
<label>Id <input name=\"id\" required pattern=\"[a-z0-9][a-z0-9_-]*\"></label><label>Name on the sign-in page <input name=\"display_name\" required></label>\
<label>Metadata URL <input name=\"idp_metadata_url\" required placeholder=\"https://idp.example.com/metadata\"></label>\
<button type=\"submit\">Check and add</button></form>",
        hidden(csrf, &[("kind", "oidc")]),
        hidden(csrf, &[("kind", "saml")]),
    );
    Ok(page("Providers", &body))
}

/// `POST /admin/providers/add`: a provider from the form; the catalog checks it online before
/// saving (discovery or metadata must answer).
pub async fn provider_add_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let me = writer(&state, &headers, f.get("csrf").map_or("", String::as_str)).await?;
    let field = |k: &str| f.get(k).map(|v| v.trim().to_owned()).filter(|v| !v.is_empty());
    let id =
        field("id").ok_or_else(|| AppError::page("Incomplete form", "Give the provider an id; nothing was saved."))?;
    let mut def = json!({ "kind": field("kind").unwrap_or_default() });
    for key in ["display_name", "issuer", "client_id", "client_secret", "idp_metadata_url"] {
        if let Some(v) = field(key) {
            def[key] = json!(v);
        }
    }
    if def["kind"] == "oidc" {
        if let Some(scopes) = field("scopes") {
            def["scopes"] = json!(scopes.split_whitespace().collect::<Vec<_>>());
        }
        def["trust_email"] = json!(field("trust_email").is_some());
    }
    state.catalog.create_provider(&id, def, &me.actor(None)).await.map_err(refused)?;
    tracing::info!(provider = %id, by = %me.session.account_id, "console: provider added");
    Ok(Redirect::to("/admin/providers?done=added").into_response())
}

/// `GET /admin/providers/edit?id=`: the stored definition (never its secret) as JSON.
pub async fn provider_edit_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let me = match reader(&state, &headers).await? {
        Ok(me) => me,
        Err(redirect) => return Ok(redirect),
    };
    let id = q.get("id").cloned().unwrap_or_default();
    let p = state.catalog.get_provider(&id).await.map_err(refused)?;
    let Some(def) = p.definition.as_ref() else {
        return Err(AppError::page("Read-only", "This provider comes from a provider file; change it there."));
    };
    let text = serde_json::to_string_pretty(def).unwrap_or_default();
    let body = format!(
        "<p>The definition of <code>{}</code> (the keys of a provider file, as JSON). The client secret is kept unless you \
add `client_secret`.</p><form method=\"post\" action=\"/admin/providers/change\">{}\
<textarea name=\"definition\" rows=\"16\" style=\"width:100%;font-family:monospace\">{}</textarea>\
<button type=\"submit\">Check and save</button></form>",
        esc(&id),
        hidden(
            &me.session.csrf,
            &[
                ("id", &id),
                ("action", "replace"),
                ("version", &p.version.unwrap_or_default().to_string()),
                ("confirm", "yes")
            ]
        ),
        esc(&text)
    );
    Ok(page("Edit provider", &body))
}

/// `POST /admin/providers/change`: enable/disable, replace, delete (delete and disable are
/// confirmed first).
pub async fn provider_change_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let me = writer(&state, &headers, f.get("csrf").map_or("", String::as_str)).await?;
    let get = |k: &str| f.get(k).cloned().unwrap_or_default();
    let (id, action) = (get("id"), get("action"));
    let version = get("version").parse::<i64>().ok();
    let confirmed = get("confirm") == "yes";
    let needs_confirmation = action == "delete" || (action == "enabled" && get("enabled") == "false");
    if needs_confirmation && !confirmed {
        let what = if action == "delete" {
            format!(
                "Delete provider {id}. Nobody can sign in through it from then on; sign-ins under way through it are refused."
            )
        } else {
            format!(
                "Disable provider {id}. Nobody can sign in through it, and sessions that signed in through it end at their next request."
            )
        };
        let mut fields: Vec<(&str, String)> =
            vec![("id", id.clone()), ("action", action.clone()), ("confirm", "yes".into())];
        for k in ["enabled", "version"] {
            if let Some(v) = f.get(k) {
                fields.push((k, v.clone()));
            }
        }
        let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let body = format!(
            "<p id=\"what\">{}</p><form method=\"post\" action=\"/admin/providers/change\">{}<button type=\"submit\" id=\"confirm\">Confirm</button> \
<a class=\"button secondary\" href=\"/admin/providers\">Cancel</a></form>",
            esc(&what),
            hidden(&me.session.csrf, &refs)
        );
        return Ok(page("Confirm the change", &body));
    }
    let c = &state.catalog;
    match action.as_str() {
        "delete" => c.delete_provider(&id, version, &me.actor(None)).await.map_err(refused)?,
        "enabled" => {
            let p = c.get_provider(&id).await.map_err(refused)?;
            let mut def = p.definition.unwrap_or_else(|| json!({}));
            def["enabled"] = Value::Bool(get("enabled") == "true");
            c.replace_provider(&id, def, version, &me.actor(None)).await.map_err(refused)?;
        }
        "replace" => {
            let def: Value = serde_json::from_str(&get("definition")).map_err(|e| {
                AppError::page("Not saved", format!("The definition is not JSON ({e}); nothing was saved."))
            })?;
            c.replace_provider(&id, def, version, &me.actor(None)).await.map_err(refused)?;
        }
        _ => return Err(AppError::page("Incomplete form", "Unknown change; nothing was saved.")),
    }
    tracing::info!(provider = %id, change = %action, by = %me.session.account_id, "console: provider changed");
    let done = if action == "delete" { "deleted" } else { "changed" };
    Ok(Redirect::to(&format!("/admin/providers?done={done}")).into_response())
}

/// `GET /admin/clients`
pub async fn clients_get(State(state): State<AppState>, headers: HeaderMap) -> Result<Response, AppError> {
    let me = match reader(&state, &headers).await? {
        Ok(me) => me,
        Err(redirect) => return Ok(redirect),
    };
    let csrf = &me.session.csrf;
    let mut rows = String::new();
    for c in state.catalog.list_clients().await.map_err(refused)? {
        let actions = if c.source == "api" {
            let mut a = String::new();
            if !c.public {
                a.push_str(&button_form(
                    "/admin/clients/change",
                    csrf,
                    &[("id", &c.id), ("action", "rotate")],
                    "Rotate secret",
                ));
            }
            a.push_str(&button_form("/admin/clients/change", csrf, &[("id", &c.id), ("action", "delete")], "Delete"));
            a
        } else {
            "<span class=\"muted\">braid.toml</span>".into()
        };
        rows.push_str(&format!(
            "<tr data-client=\"{}\"><td><code>{}</code></td><td>{}</td><td>{}</td><td>{}</td><td>{actions}</td></tr>",
            esc(&c.id),
            esc(&c.id),
            esc(&c.name),
            if c.public { "public" } else { "confidential" },
            c.redirect_uris.iter().map(|u| esc(u)).collect::<Vec<_>>().join("<br>"),
        ));
    }
    let body = format!(
        "<table><tr><th>Id</th><th>Name</th><th>Type</th><th>Redirect URIs</th><th></th></tr>{rows}</table>\
<h2>Add a client</h2><form method=\"post\" action=\"/admin/clients/change\" id=\"add-client\">{}\
<label>Id <input name=\"id\" required pattern=\"[a-z0-9][a-z0-9_-]*\"></label><label>Name <input name=\"name\"></label>\
<label>Redirect URIs, one per line <textarea name=\"redirect_uris\" rows=\"3\" style=\"width:100%\" required></textarea></label>\
<label>Post-logout redirect URIs, one per line <textarea name=\"post_logout_redirect_uris\" rows=\"2\" style=\"width:100%\"></textarea></label>\
<label><input type=\"checkbox\" name=\"public\" value=\"true\" style=\"width:auto\"> Public client (no secret; PKCE)</label>\
<button type=\"submit\">Add</button></form>",
        hidden(csrf, &[("action", "add")])
    );
    Ok(page("Clients", &body))
}

fn secret_page(id: &str, secret: &str) -> Response {
    let body = format!(
        "<p>The secret of client <code>{}</code>. It is shown this once: braid keeps only its hash. Copy it now.</p>\
<pre id=\"secret\">{}</pre><p><a href=\"/admin/clients\">Back to the clients</a></p>",
        esc(id),
        esc(secret)
    );
    page("Client secret", &body)
}

/// `POST /admin/clients/change`: add, rotate the secret, delete (rotation and deletion are
/// confirmed first).
pub async fn client_change_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    Form(f): Form<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let me = writer(&state, &headers, f.get("csrf").map_or("", String::as_str)).await?;
    let get = |k: &str| f.get(k).map(|v| v.trim().to_owned()).unwrap_or_default();
    let (id, action) = (get("id"), get("action"));
    let lines =
        |k: &str| get(k).lines().map(str::trim).filter(|l| !l.is_empty()).map(str::to_owned).collect::<Vec<_>>();
    if action == "add" {
        let mut def = json!({
            "redirect_uris": lines("redirect_uris"),
            "post_logout_redirect_uris": lines("post_logout_redirect_uris"),
            "public": get("public") == "true",
        });
        if !get("name").is_empty() {
            def["name"] = json!(get("name"));
        }
        let made = state.catalog.create_client(&id, def, &me.actor(None)).await.map_err(refused)?;
        tracing::info!(client = %id, by = %me.session.account_id, "console: client added");
        return Ok(match made.secret {
            Some(s) => secret_page(&id, &s),
            None => Redirect::to("/admin/clients").into_response(),
        });
    }
    if get("confirm") != "yes" {
        let what = match action.as_str() {
            "rotate" => format!("Make a new secret for client {id}. The current secret stops working at once."),
            "delete" => format!("Delete client {id}. Its refresh tokens stop working at once."),
            _ => return Err(AppError::page("Incomplete form", "Unknown change; nothing was saved.")),
        };
        let body = format!(
            "<p id=\"what\">{}</p><form method=\"post\" action=\"/admin/clients/change\">{}<button type=\"submit\" id=\"confirm\">Confirm</button> \
<a class=\"button secondary\" href=\"/admin/clients\">Cancel</a></form>",
            esc(&what),
            hidden(&me.session.csrf, &[("id", &id), ("action", &action), ("confirm", "yes")])
        );
        return Ok(page("Confirm the change", &body));
    }
    match action.as_str() {
        "rotate" => {
            let secret = state.catalog.rotate_client_secret(&id, &me.actor(None)).await.map_err(refused)?;
            tracing::info!(client = %id, by = %me.session.account_id, "console: client secret rotated");
            Ok(secret_page(&id, &secret))
        }
        "delete" => {
            state.catalog.delete_client(&id, None, &me.actor(None)).await.map_err(refused)?;
            tracing::info!(client = %id, by = %me.session.account_id, "console: client deleted");
            Ok(Redirect::to("/admin/clients").into_response())
        }
        _ => Err(AppError::page("Incomplete form", "Unknown change; nothing was saved.")),
    }
}
