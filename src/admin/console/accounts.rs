//! Console pages for accounts: search, the account page (identities, which one signed in when,
//! recent audit events, every change), the confirmation step that names what a change will do,
//! and the audit log.

use std::collections::HashMap;

use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Redirect, Response};

use super::{ConsoleAdmin, failed, page, reader, writer};
use crate::accounts::{AccountId, AccountQuery, AccountStatus, AuditQuery, Identity};
use crate::admin::accounts::AccountView;
use crate::error::AppError;
use crate::state::AppState;
use crate::web::client_ip::ClientIp;
use crate::web::html::esc;

fn when(ms: Option<i64>) -> String {
    match ms.and_then(chrono::DateTime::from_timestamp_millis) {
        Some(t) => t.format("%Y-%m-%d %H:%M UTC").to_string(),
        None => "never".into(),
    }
}

fn status_text(s: &AccountStatus) -> String {
    match s {
        AccountStatus::Active => "active".into(),
        AccountStatus::Disabled => "disabled".into(),
        AccountStatus::MergedInto(id) => format!("merged into {id}"),
    }
}

fn account_link(id: &str) -> String {
    format!("<a href=\"/admin/accounts/{}\"><code>{}</code></a>", esc(id), esc(id))
}

/// `GET /admin/accounts?q=`: search by account id, email, or `issuer subject`.
pub async fn search_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let me = match reader(&state, &headers).await? {
        Ok(me) => me,
        Err(redirect) => return Ok(redirect),
    };
    let admin = me.admin(&state, None);
    let text = q.get("q").map(|s| s.trim().to_owned()).unwrap_or_default();
    let after = q.get("after").map(String::as_str);
    let views: Vec<AccountView> = if text.is_empty() {
        admin.search(&AccountQuery::default(), after, 50).await.map_err(failed)?
    } else if let Some((issuer, subject)) = text.split_once(' ') {
        let query =
            AccountQuery { issuer: Some(issuer.into()), subject: Some(subject.trim().into()), ..Default::default() };
        admin.search(&query, after, 50).await.map_err(failed)?
    } else if text.contains('@') {
        let query = AccountQuery { email: Some(text.clone()), ..Default::default() };
        admin.search(&query, after, 50).await.map_err(failed)?
    } else {
        admin.view(&AccountId(text.clone())).await.map(|v| vec![v]).unwrap_or_default()
    };
    let mut rows = String::new();
    for v in &views {
        let idents: Vec<String> =
            v.identities.iter().map(|i| format!("{} · {}", esc(&i.issuer), esc(&i.subject))).collect();
        let email = v.identities.iter().find_map(|i| i.email.clone()).unwrap_or_default();
        rows.push_str(&format!(
            "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
            account_link(v.account.id.as_str()),
            esc(&status_text(&v.account.status)),
            esc(&email),
            idents.join("<br>")
        ));
    }
    let next = if views.len() == 50 {
        views.last().map(|v| {
            format!(
                "<p><a href=\"/admin/accounts?q={}&after={}\">Next page</a></p>",
                url::form_urlencoded::byte_serialize(text.as_bytes()).collect::<String>(),
                esc(v.account.id.as_str())
            )
        })
    } else {
        None
    };
    let body = format!(
        "<form method=\"get\" action=\"/admin/accounts\"><label>Account id, email, or issuer and subject \
<input name=\"q\" id=\"q\" value=\"{}\"></label><button type=\"submit\">Search</button></form>\
<table><tr><th>Account</th><th>Status</th><th>Email</th><th>Identities</th></tr>{rows}</table>{}",
        esc(&text),
        next.unwrap_or_default()
    );
    Ok(page("Accounts", &body))
}

fn message(key: &str) -> Option<&'static str> {
    Some(match key {
        "unlink" => "The identity is unlinked; the account's sessions ended.",
        "move" => "The identity moved; both accounts' sessions ended.",
        "sign_in" => "Sign-in with the identity is changed.",
        "primary" => "The primary identity is changed.",
        "disable" => "The account is disabled; its sessions and refresh tokens ended.",
        "enable" => "The account is enabled.",
        "merge" => "The accounts are merged.",
        "end_sessions" => "Every session and refresh token of the account ended.",
        "link" => "The identity is linked.",
        _ => return None,
    })
}

/// A change form: hidden inputs for `fields`, the CSRF token and a button.
fn change_form(account: &str, csrf: &str, fields: &[(&str, &str)], label: &str, extra: &str) -> String {
    let hidden: String = fields
        .iter()
        .map(|(k, v)| format!("<input type=\"hidden\" name=\"{}\" value=\"{}\">", esc(k), esc(v)))
        .collect();
    format!(
        "<form method=\"post\" action=\"/admin/accounts/{}/change\" style=\"display:inline\">\
<input type=\"hidden\" name=\"csrf\" value=\"{}\">{hidden}{extra}<button class=\"secondary\" type=\"submit\">{}</button></form> ",
        esc(account),
        esc(csrf),
        esc(label)
    )
}

fn identity_row(account: &str, csrf: &str, i: &Identity, primary: bool) -> String {
    let id = i.id.to_string();
    let mut actions = String::new();
    if !primary {
        actions.push_str(&change_form(account, csrf, &[("action", "unlink"), ("identity", &id)], "Unlink", ""));
        actions.push_str(&change_form(account, csrf, &[("action", "primary"), ("identity", &id)], "Make primary", ""));
        actions.push_str(&change_form(
            account,
            csrf,
            &[("action", "move"), ("identity", &id)],
            "Move to",
            "<input name=\"to\" placeholder=\"account id\" style=\"width:12rem\">",
        ));
    }
    let (flip, label) = if i.can_sign_in { ("false", "Forbid sign-in") } else { ("true", "Allow sign-in") };
    actions.push_str(&change_form(
        account,
        csrf,
        &[("action", "sign_in"), ("identity", &id), ("allowed", flip)],
        label,
        "",
    ));
    format!(
        "<tr id=\"identity-{id}\"><td>{}<br><code>{}</code>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{actions}</td></tr>",
        esc(&i.issuer),
        esc(&i.subject),
        if primary { " <strong>(primary)</strong>" } else { "" },
        esc(&i.provider_id),
        esc(i.email.as_deref().unwrap_or("")),
        if i.can_sign_in { "yes" } else { "no" },
        esc(&format!("linked {}, last sign-in {}", when(Some(i.linked_at)), when(i.last_login_at))),
    )
}

/// `GET /admin/accounts/{id}`
pub async fn account_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Path(id): Path<String>,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let me = match reader(&state, &headers).await? {
        Ok(me) => me,
        Err(redirect) => return Ok(redirect),
    };
    let admin = me.admin(&state, None);
    let view = admin.view(&AccountId(id.clone())).await.map_err(failed)?;
    let csrf = &me.session.csrf;
    let notice = q
        .get("done")
        .and_then(|k| message(k))
        .map(|m| format!("<p class=\"notice\"><strong>{}</strong></p>", esc(m)))
        .unwrap_or_default();
    let rows: String = view
        .identities
        .iter()
        .map(|i| identity_row(&id, csrf, i, view.account.primary_identity == Some(i.id)))
        .collect();
    let audit = admin
        .audit(&AuditQuery { account: Some(id.clone()), action: None }, None, 20)
        .await
        .map_err(failed)?
        .into_iter()
        .map(|e| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&when(Some(e.at))),
                esc(&e.action),
                esc(&e.actor),
                esc(&[e.issuer.unwrap_or_default(), e.subject.unwrap_or_default()].join(" "))
            )
        })
        .collect::<String>();
    let mut account_actions = String::new();
    match view.account.status {
        AccountStatus::Active => {
            account_actions.push_str(&change_form(&id, csrf, &[("action", "disable")], "Disable", ""));
        }
        AccountStatus::Disabled => {
            account_actions.push_str(&change_form(&id, csrf, &[("action", "enable")], "Enable", ""))
        }
        AccountStatus::MergedInto(_) => {}
    }
    account_actions.push_str(&change_form(&id, csrf, &[("action", "end_sessions")], "End sessions", ""));
    account_actions.push_str(&change_form(
        &id,
        csrf,
        &[("action", "merge")],
        "Merge into",
        "<input name=\"to\" placeholder=\"account id\" style=\"width:12rem\">",
    ));
    account_actions.push_str(&change_form(&id, csrf, &[("action", "delete")], "Delete", ""));
    let link_form = change_form(
        &id,
        csrf,
        &[("action", "link")],
        "Link",
        "<input name=\"issuer\" placeholder=\"issuer\" style=\"width:14rem\"> \
<input name=\"subject\" placeholder=\"subject\" style=\"width:10rem\">",
    );
    let body = format!(
        "{notice}<p>Account <code>{}</code> · {}{}</p>\
<h2>Identities</h2><table><tr><th>Identity</th><th>Provider</th><th>Email</th><th>Can sign in</th><th>When</th><th></th></tr>{rows}</table>\
<h2>Link an identity</h2><p>{link_form}</p><h2>Account</h2><p>{account_actions}</p>\
<h2>Recent audit events</h2><table><tr><th>When</th><th>What</th><th>Who</th><th>Identity</th></tr>{audit}</table>\
<p><a href=\"/admin/audit?account={}\">Full audit log of this account</a></p>",
        esc(&id),
        esc(&status_text(&view.account.status)),
        format_args!(", created {}", esc(&when(Some(view.account.created_at)))),
        esc(&id),
    );
    Ok(page("Account", &body))
}

/// A console change form.
#[derive(Debug, serde::Deserialize)]
pub struct ChangeForm {
    csrf: String,
    action: String,
    #[serde(default)]
    identity: Option<i64>,
    #[serde(default)]
    to: Option<String>,
    #[serde(default)]
    allowed: Option<String>,
    #[serde(default)]
    confirm: Option<String>,
    #[serde(default)]
    issuer: Option<String>,
    #[serde(default)]
    subject: Option<String>,
    /// The account's version when the confirmation was shown: the change is made only while it
    /// still is (what was confirmed is what happens).
    #[serde(default)]
    version: Option<i64>,
}

/// The issuer and subject of a link form, both given.
fn link_key(f: &ChangeForm) -> Option<(String, String)> {
    let issuer = f.issuer.as_deref().map(str::trim).filter(|s| !s.is_empty())?;
    let subject = f.subject.as_deref().map(str::trim).filter(|s| !s.is_empty())?;
    Some((issuer.to_owned(), subject.to_owned()))
}

/// What a change will do, in words, or why the form is incomplete; and the account's version
/// the words describe.
async fn describe(
    state: &AppState,
    me: &ConsoleAdmin,
    account: &AccountId,
    f: &ChangeForm,
) -> Result<(String, i64), AppError> {
    let admin = me.admin(state, None);
    let version = admin.version(account).await.map_err(failed)?;
    let view = admin.view(account).await.map_err(failed)?;
    let incomplete = |what: &str| AppError::page("Incomplete form", format!("{what}; nothing was changed."));
    let identity = match f.identity {
        Some(id) => {
            let i = view
                .identities
                .iter()
                .find(|i| i.id == id)
                .ok_or_else(|| incomplete("That identity is not on this account"))?;
            Some(format!("({}, {})", i.issuer, i.subject))
        }
        None => None,
    };
    let need_identity = || identity.clone().ok_or_else(|| incomplete("No identity was chosen"));
    let to = || f.to.clone().filter(|t| !t.trim().is_empty()).ok_or_else(|| incomplete("No account was given"));
    let n = view.identities.len();
    let what = match f.action.as_str() {
        "unlink" => format!(
            "Unlink {} from account {account}. It will no longer sign in to this account; the account's sessions and refresh tokens end.",
            need_identity()?
        ),
        "move" => format!(
            "Move {} from account {account} to account {}. The sessions and refresh tokens of both accounts end.",
            need_identity()?,
            to()?
        ),
        "primary" => format!(
            "Make {} the primary identity of account {account}: its email and name feed the tokens.",
            need_identity()?
        ),
        "sign_in" => match f.allowed.as_deref() {
            Some("true") => format!("Allow sign-in with {} to account {account}.", need_identity()?),
            Some("false") => {
                format!("Forbid sign-in with {} to account {account}. Sessions that used it end.", need_identity()?)
            }
            _ => return Err(incomplete("Say whether sign-in is allowed")),
        },
        "link" => {
            let (issuer, subject) = link_key(f).ok_or_else(|| incomplete("Give the identity's issuer and subject"))?;
            format!(
                "Link ({issuer}, {subject}) to account {account}: it will sign in to this account. The account's sessions end."
            )
        }
        "disable" => format!("Disable account {account}: it cannot sign in, and its sessions and refresh tokens end."),
        "enable" => format!("Enable account {account} again."),
        "end_sessions" => format!("End every browser session and refresh token of account {account}."),
        "merge" => format!(
            "Merge account {account} into account {}: its {n} identities move there, {account} is marked merged, and its `sub` is refused from then on. The sessions and refresh tokens of both end.",
            to()?
        ),
        "delete" => format!(
            "Delete account {account} and its {n} identities. Its sessions and refresh tokens end. The audit log stays. This cannot be undone."
        ),
        _ => return Err(incomplete("Unknown change")),
    };
    Ok((what, version))
}

/// `POST /admin/accounts/{id}/change`: without `confirm=yes`, the confirmation page naming what
/// will happen; with it, the change.
pub async fn change_post(
    State(state): State<AppState>,
    headers: HeaderMap,
    ClientIp(ip): ClientIp,
    Path(id): Path<String>,
    form: Result<Form<ChangeForm>, axum::extract::rejection::FormRejection>,
) -> Result<Response, AppError> {
    let Form(f) =
        form.map_err(|_| AppError::page("Incomplete form", "The form was incomplete; nothing was changed."))?;
    let me = writer(&state, &headers, &f.csrf).await?;
    let account = AccountId(id.clone());
    let (what, version) = describe(&state, &me, &account, &f).await?;
    if f.confirm.as_deref() != Some("yes") {
        let mut fields: Vec<(&str, String)> =
            vec![("action", f.action.clone()), ("confirm", "yes".into()), ("version", version.to_string())];
        if let Some(i) = f.identity {
            fields.push(("identity", i.to_string()));
        }
        if let Some(t) = &f.to {
            fields.push(("to", t.clone()));
        }
        if let Some(a) = &f.allowed {
            fields.push(("allowed", a.clone()));
        }
        if let Some((issuer, subject)) = link_key(&f) {
            fields.push(("issuer", issuer));
            fields.push(("subject", subject));
        }
        let refs: Vec<(&str, &str)> = fields.iter().map(|(k, v)| (*k, v.as_str())).collect();
        let form = change_form(&id, &me.session.csrf, &refs, "Confirm", "");
        let body = format!(
            "<p id=\"what\">{}</p><p>{} <a class=\"button secondary\" href=\"/admin/accounts/{}\">Cancel</a></p>",
            esc(&what),
            form.replace("class=\"secondary\" type=\"submit\"", "type=\"submit\" id=\"confirm\""),
            esc(&id)
        );
        return Ok(page("Confirm the change", &body));
    }
    let admin = me.admin(&state, ip);
    // A change made since the confirmation refuses this one (409): nothing unseen happens.
    let admin = match f.version {
        Some(v) => admin.expecting(&account, v),
        None => admin,
    };
    let to = f.to.as_deref().map(|t| AccountId(t.trim().to_owned()));
    let (next, key) = match (f.action.as_str(), f.identity, to) {
        ("unlink", Some(i), _) => admin.unlink(i).await.map(|_| (id.clone(), "unlink")),
        ("move", Some(i), Some(to)) => admin.move_identity(i, &to).await.map(|_| (id.clone(), "move")),
        ("primary", Some(i), _) => admin.update_identity(i, None, true).await.map(|_| (id.clone(), "primary")),
        ("sign_in", Some(i), _) => {
            let allowed = f.allowed.as_deref() == Some("true");
            admin.update_identity(i, Some(allowed), false).await.map(|_| (id.clone(), "sign_in"))
        }
        ("link", _, _) => {
            let (issuer, subject) = link_key(&f)
                .ok_or_else(|| AppError::page("Incomplete form", "The form was incomplete; nothing was changed."))?;
            let ext = crate::accounts::ExternalIdentity {
                issuer,
                subject,
                email: None,
                email_verified: false,
                name: None,
                claims: Default::default(),
            };
            admin.link(&account, "admin", &ext).await.map(|_| (id.clone(), "link"))
        }
        ("disable", _, _) => admin.set_disabled(&account, true).await.map(|()| (id.clone(), "disable")),
        ("enable", _, _) => admin.set_disabled(&account, false).await.map(|()| (id.clone(), "enable")),
        ("end_sessions", _, _) => admin.end_all(&account).await.map(|_| (id.clone(), "end_sessions")),
        ("merge", _, Some(into)) => admin.merge(&account, &into).await.map(|_| (into.0.clone(), "merge")),
        ("delete", _, _) => {
            admin.delete(&account).await.map_err(failed)?;
            tracing::info!(account = %account, by = %me.session.account_id, "console: account deleted");
            return Ok(Redirect::to("/admin/accounts").into_response());
        }
        _ => return Err(AppError::page("Incomplete form", "The form was incomplete; nothing was changed.")),
    }
    .map_err(failed)?;
    tracing::info!(account = %account, by = %me.session.account_id, change = key, "console: account changed");
    Ok(Redirect::to(&format!("/admin/accounts/{next}?done={key}")).into_response())
}

/// `GET /admin/audit?account=&type=&before=`
pub async fn audit_get(
    State(state): State<AppState>,
    headers: HeaderMap,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, AppError> {
    let me = match reader(&state, &headers).await? {
        Ok(me) => me,
        Err(redirect) => return Ok(redirect),
    };
    let query = AuditQuery {
        account: q.get("account").filter(|s| !s.is_empty()).cloned(),
        action: q.get("type").filter(|s| !s.is_empty()).cloned(),
    };
    let before = q.get("before").and_then(|b| b.parse::<i64>().ok());
    let events = me.admin(&state, None).audit(&query, before, 50).await.map_err(failed)?;
    let rows: String = events
        .iter()
        .map(|e| {
            format!(
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                esc(&when(Some(e.at))),
                esc(&e.action),
                if e.account_id.is_empty() {
                    format!("<code>{}</code>", esc(e.target.as_deref().unwrap_or("")))
                } else {
                    account_link(&e.account_id)
                },
                esc(&e.actor),
                esc(&[e.issuer.clone().unwrap_or_default(), e.subject.clone().unwrap_or_default()].join(" "))
            )
        })
        .collect();
    let enc = |s: &str| url::form_urlencoded::byte_serialize(s.as_bytes()).collect::<String>();
    let next = (events.len() == 50)
        .then(|| events.last())
        .flatten()
        .map(|e| {
            format!(
                "<p><a href=\"/admin/audit?account={}&type={}&before={}\">Older</a></p>",
                enc(query.account.as_deref().unwrap_or("")),
                enc(query.action.as_deref().unwrap_or("")),
                e.id
            )
        })
        .unwrap_or_default();
    let body = format!(
        "<form method=\"get\" action=\"/admin/audit\"><label>Account <input name=\"account\" value=\"{}\"></label>\
<label>Type <input name=\"type\" value=\"{}\" placeholder=\"identity.linked\"></label><button type=\"submit\">Filter</button></form>\
<table><tr><th>When</th><th>What</th><th>Account or provider/client</th><th>Who</th><th>Identity</th></tr>{rows}</table>{next}",
        esc(query.account.as_deref().unwrap_or("")),
        esc(query.action.as_deref().unwrap_or("")),
    );
    Ok(page("Audit log", &body))
}
