//! Admin API endpoints for accounts, identities, the audit log and sessions, over the admin
//! service the CLI uses (`admin::accounts`), with the shapes the OpenAPI document publishes.

use axum::extract::{Path, State};
use axum::http::{HeaderMap, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::Caller;
use super::extract::{Body, IfMatch, Params, etag_of, if_match, page_size};
use super::problem::{Cause, Problem};
use crate::accounts::{
    Account, AccountId, AccountQuery, AccountStatus, AuditEvent, AuditQuery, ExternalIdentity, Identity,
};
use crate::admin::accounts::{AccountView, Admin, Ended, GrantView, SessionView};
use crate::state::AppState;

/// An account as the admin API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountOut {
    /// The account id (the `sub` of braid's tokens).
    pub id: String,
    /// `active`, `disabled` or `merged`.
    pub status: String,
    /// The account it was merged into, when merged.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub merged_into: Option<String>,
    /// The id of the primary identity.
    pub primary_identity: Option<i64>,
    /// When it was made (ms since the epoch).
    pub created_at: i64,
}

impl From<&Account> for AccountOut {
    fn from(a: &Account) -> Self {
        let (status, merged_into) = match &a.status {
            AccountStatus::Active => ("active", None),
            AccountStatus::Disabled => ("disabled", None),
            AccountStatus::MergedInto(id) => ("merged", Some(id.0.clone())),
        };
        Self {
            id: a.id.0.clone(),
            status: status.into(),
            merged_into,
            primary_identity: a.primary_identity,
            created_at: a.created_at,
        }
    }
}

/// An identity as the admin API shows it.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct IdentityOut {
    /// Its id.
    pub id: i64,
    /// Upstream issuer.
    pub issuer: String,
    /// Upstream subject.
    pub subject: String,
    /// The provider it was last seen through.
    pub provider_id: String,
    /// Its account.
    pub account_id: String,
    /// Email as the upstream gave it.
    pub email: Option<String>,
    /// Whether the upstream said the email is verified.
    pub email_verified: bool,
    /// Display name.
    pub name: Option<String>,
    /// Whether it may be used to sign in.
    pub can_sign_in: bool,
    /// When it was linked (ms).
    pub linked_at: i64,
    /// Its last sign-in (ms).
    pub last_login_at: Option<i64>,
}

impl From<&Identity> for IdentityOut {
    fn from(i: &Identity) -> Self {
        Self {
            id: i.id,
            issuer: i.issuer.clone(),
            subject: i.subject.clone(),
            provider_id: i.provider_id.clone(),
            account_id: i.account_id.0.clone(),
            email: i.email.clone(),
            email_verified: i.email_verified,
            name: i.name.clone(),
            can_sign_in: i.can_sign_in,
            linked_at: i.linked_at,
            last_login_at: i.last_login_at,
        }
    }
}

/// An account with its identities.
#[derive(Debug, Clone, Serialize, ToSchema)]
pub struct AccountDetail {
    /// The account.
    pub account: AccountOut,
    /// Its identities, oldest link first.
    pub identities: Vec<IdentityOut>,
}

impl From<&AccountView> for AccountDetail {
    fn from(v: &AccountView) -> Self {
        Self { account: (&v.account).into(), identities: v.identities.iter().map(Into::into).collect() }
    }
}

/// A page of accounts.
#[derive(Debug, Serialize, ToSchema)]
pub struct AccountPage {
    /// The accounts, by id.
    pub items: Vec<AccountDetail>,
    /// Pass as `cursor` for the next page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Account search parameters (every given one must match).
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AccountSearch {
    /// An email of one of the account's identities (any case).
    pub email: Option<String>,
    /// The issuer of one of its identities.
    pub issuer: Option<String>,
    /// The subject of one of its identities.
    pub subject: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<String>,
}

/// An identity to link.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct LinkIn {
    /// Upstream issuer.
    pub issuer: String,
    /// Upstream subject.
    pub subject: String,
    /// The provider id recorded on it (default `admin`).
    #[serde(default)]
    pub provider: Option<String>,
    /// Its email (recorded unverified).
    #[serde(default)]
    pub email: Option<String>,
}

/// Where an identity moves.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MoveIn {
    /// The account it moves to.
    pub to: String,
}

/// The result of a move.
#[derive(Debug, Serialize, ToSchema)]
pub struct MoveOut {
    /// The account it came from.
    pub from: String,
    /// The account it is on now.
    pub to: String,
}

/// A change of one identity.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct IdentityPatch {
    /// Allow or forbid sign-in with it.
    #[serde(default)]
    pub can_sign_in: Option<bool>,
    /// `true` makes it its account's primary (to change the primary, make another one primary).
    #[serde(default)]
    pub primary: Option<bool>,
}

/// The account another one merges into.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeIn {
    /// The account that stays; the one in the path is marked merged and its `sub` refused.
    pub into: String,
}

/// The result of a merge.
#[derive(Debug, Serialize, ToSchema)]
pub struct MergeOut {
    /// How many identities moved.
    pub moved: usize,
    /// The account that stays.
    pub into: String,
}

/// Audit log parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct AuditSearch {
    /// Events concerning this account.
    pub account: Option<String>,
    /// Events of this type, e.g. `identity.linked`.
    #[serde(rename = "type")]
    pub kind: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Page size, 1 to 200 (default 50).
    pub limit: Option<String>,
}

/// One audit event.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditOut {
    /// Sequence number.
    pub id: i64,
    /// When (ms).
    pub at: i64,
    /// `account:<id>`, `admin:<token name>` or `system`.
    pub actor: String,
    /// The client address, when over HTTP.
    pub ip: Option<String>,
    /// The event type: `identity.linked`, `identity.unlinked`, `identity.moved`, `account.merged`, …
    #[serde(rename = "type")]
    pub kind: String,
    /// The account it concerns (empty for a provider or client change).
    pub account_id: String,
    /// The other account (move, merge).
    pub other_account_id: Option<String>,
    /// The identity's issuer.
    pub issuer: Option<String>,
    /// The identity's subject.
    pub subject: Option<String>,
    /// For a provider or client change: its id.
    pub target: Option<String>,
}

impl From<AuditEvent> for AuditOut {
    fn from(e: AuditEvent) -> Self {
        Self {
            id: e.id,
            at: e.at,
            actor: e.actor,
            ip: e.ip,
            kind: e.action,
            account_id: e.account_id,
            other_account_id: e.other_account_id,
            issuer: e.issuer,
            subject: e.subject,
            target: e.target,
        }
    }
}

/// A page of audit events, newest first.
#[derive(Debug, Serialize, ToSchema)]
pub struct AuditPage {
    /// The events.
    pub items: Vec<AuditOut>,
    /// Pass as `cursor` for the next (older) page; absent on the last.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub next_cursor: Option<String>,
}

/// Sessions parameters.
#[derive(Debug, Deserialize, IntoParams)]
#[serde(deny_unknown_fields)]
#[into_params(parameter_in = Query)]
pub struct SessionsOf {
    /// The account.
    pub account: String,
}

/// A browser session.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionOut {
    /// The hash the session is stored under (never the session id).
    pub id: String,
    /// The provider it signed in through.
    pub provider_id: String,
    /// Issuer of the identity used.
    pub idp: String,
    /// The identity used.
    pub identity_id: i64,
    /// When the person authenticated (s), when known.
    pub auth_time: Option<i64>,
}

impl From<SessionView> for SessionOut {
    fn from(s: SessionView) -> Self {
        Self { id: s.id, provider_id: s.provider_id, idp: s.idp, identity_id: s.identity_id, auth_time: s.auth_time }
    }
}

/// A refresh-token grant.
#[derive(Debug, Serialize, ToSchema)]
pub struct GrantOut {
    /// Grant id.
    pub id: String,
    /// The client.
    pub client_id: String,
    /// Granted scope.
    pub scope: String,
    /// The session it came from (the `sid` claim).
    pub sid: String,
    /// Created (ms).
    pub created_at: i64,
    /// Ends (ms).
    pub expires_at: i64,
}

impl From<GrantView> for GrantOut {
    fn from(g: GrantView) -> Self {
        Self {
            id: g.id,
            client_id: g.client_id,
            scope: g.scope,
            sid: g.sid,
            created_at: g.created_at,
            expires_at: g.expires_at,
        }
    }
}

/// An account's live sessions and refresh-token grants.
#[derive(Debug, Serialize, ToSchema)]
pub struct SessionsOut {
    /// Browser sessions.
    pub sessions: Vec<SessionOut>,
    /// Refresh-token grants.
    pub grants: Vec<GrantOut>,
}

/// What ending an account's sessions ended.
#[derive(Debug, Serialize, ToSchema)]
pub struct EndedOut {
    /// Browser sessions ended.
    pub sessions: usize,
    /// Refresh-token grants revoked.
    pub grants: u64,
}

impl From<Ended> for EndedOut {
    fn from(e: Ended) -> Self {
        Self { sessions: e.sessions, grants: e.grants }
    }
}

/// `body` as JSON with `status` and, when given, an `ETag`.
fn json<T: Serialize>(status: StatusCode, body: &T, etag: Option<String>) -> Response {
    let mut resp = (status, axum::Json(body)).into_response();
    let h = resp.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static("no-store"));
    if let Some(v) = etag.and_then(|e| HeaderValue::from_str(&e).ok()) {
        h.insert(header::ETAG, v);
    }
    resp
}

fn identity_id(raw: &str) -> Result<i64, Problem> {
    raw.parse().map_err(|_| Problem::invalid("#/id", "an identity id is a whole number"))
}

/// The current account detail and its ETag.
async fn current(admin: &Admin, id: &AccountId) -> Result<(AccountDetail, String), Problem> {
    let detail = AccountDetail::from(&admin.view(id).await?);
    let etag = etag_of(&detail);
    Ok((detail, etag))
}

/// Check `If-Match` against account `id`; the admin service to change it with: when a tag named
/// the current version, one whose changes are made only while the account is still at it (the
/// version is read before the detail, so a change committed after the comparison is caught
/// under the account's lock and answered 412).
async fn guarded(admin: Admin, id: &AccountId, headers: &HeaderMap) -> Result<Admin, Problem> {
    let version = admin.version(id).await?;
    let (_, etag) = current(&admin, id).await?;
    Ok(if if_match(headers, Some(&etag))? { admin.expecting(id, version) } else { admin })
}

/// Search accounts by email, issuer or subject, paged.
#[utoipa::path(get, path = "/admin/v1/accounts", tag = "accounts", params(AccountSearch),
    responses((status = 200, body = AccountPage), (status = 422, body = Problem)))]
pub async fn search(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<AccountSearch>,
) -> Result<Response, Problem> {
    let limit = page_size(q.limit.as_deref())?;
    let query = AccountQuery { email: q.email, issuer: q.issuer, subject: q.subject };
    let views = caller.admin(&state).search(&query, q.cursor.as_deref(), limit).await?;
    let next_cursor = (views.len() == limit as usize).then(|| views.last().map(|v| v.account.id.0.clone())).flatten();
    let page = AccountPage { items: views.iter().map(Into::into).collect(), next_cursor };
    Ok(json(StatusCode::OK, &page, None))
}

/// An account with its identities and status.
#[utoipa::path(get, path = "/admin/v1/accounts/{id}", tag = "accounts", params(("id" = String, Path)),
    responses((status = 200, body = AccountDetail, headers(("ETag" = String))), (status = 404, body = Problem)))]
pub async fn get_account(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let (detail, etag) = current(&caller.admin(&state), &AccountId(id)).await?;
    Ok(json(StatusCode::OK, &detail, Some(etag)))
}

/// Delete an account and its identities; its sessions and refresh tokens end.
#[utoipa::path(delete, path = "/admin/v1/accounts/{id}", tag = "accounts", params(("id" = String, Path), IfMatch),
    responses((status = 204), (status = 404, body = Problem), (status = 412, body = Problem)))]
pub async fn delete_account(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let admin = caller.admin(&state);
    let id = AccountId(id);
    let admin = guarded(admin, &id, &headers).await?;
    admin.delete(&id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Link an identity to the account (201; 200 when it already was on it).
#[utoipa::path(post, path = "/admin/v1/accounts/{id}/identities", tag = "identities", params(("id" = String, Path), IfMatch),
    request_body = LinkIn,
    responses((status = 201, body = IdentityOut), (status = 200, body = IdentityOut), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn link(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body<LinkIn>,
) -> Result<Response, Problem> {
    for (pointer, v) in [("/issuer", &body.issuer), ("/subject", &body.subject)] {
        if v.trim().is_empty() || v.len() > 2048 {
            return Err(Problem::invalid(pointer, "must be 1 to 2048 characters"));
        }
    }
    let admin = caller.admin(&state);
    let id = AccountId(id);
    let admin = guarded(admin, &id, &headers).await?;
    let ext = ExternalIdentity {
        issuer: body.issuer,
        subject: body.subject,
        email: body.email,
        email_verified: false,
        name: None,
        claims: Default::default(),
    };
    let provider = body.provider.unwrap_or_else(|| "admin".into());
    let (identity, created) = admin.link(&id, &provider, &ext).await?;
    let status = if created { StatusCode::CREATED } else { StatusCode::OK };
    Ok(json(status, &IdentityOut::from(&identity), None))
}

/// Merge this account into another: its identities move, it is marked merged, its `sub` refused.
#[utoipa::path(post, path = "/admin/v1/accounts/{id}/merge", tag = "accounts", params(("id" = String, Path), IfMatch),
    request_body = MergeIn,
    responses((status = 200, body = MergeOut), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 412, body = Problem)))]
pub async fn merge(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body<MergeIn>,
) -> Result<Response, Problem> {
    let admin = caller.admin(&state);
    let from = AccountId(id);
    let admin = guarded(admin, &from, &headers).await?;
    let into = AccountId(body.into);
    let moved = admin.merge(&from, &into).await?;
    Ok(json(StatusCode::OK, &MergeOut { moved, into: into.0 }, None))
}

async fn set_disabled(
    state: AppState,
    caller: Caller,
    id: String,
    headers: HeaderMap,
    disabled: bool,
) -> Result<Response, Problem> {
    let admin = caller.admin(&state);
    let id = AccountId(id);
    let admin = guarded(admin, &id, &headers).await?;
    admin.set_disabled(&id, disabled).await?;
    let (detail, etag) = current(&admin, &id).await?;
    Ok(json(StatusCode::OK, &detail, Some(etag)))
}

/// Disable the account: it cannot sign in; its sessions and refresh tokens end.
#[utoipa::path(post, path = "/admin/v1/accounts/{id}/disable", tag = "accounts", params(("id" = String, Path), IfMatch),
    responses((status = 200, body = AccountDetail), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 412, body = Problem)))]
pub async fn disable(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    set_disabled(state, caller, id, headers, true).await
}

/// Enable a disabled account again.
#[utoipa::path(post, path = "/admin/v1/accounts/{id}/enable", tag = "accounts", params(("id" = String, Path), IfMatch),
    responses((status = 200, body = AccountDetail), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 412, body = Problem)))]
pub async fn enable(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    set_disabled(state, caller, id, headers, false).await
}

/// End every browser session and refresh-token grant of the account.
#[utoipa::path(delete, path = "/admin/v1/accounts/{id}/sessions", tag = "sessions", params(("id" = String, Path)),
    responses((status = 200, body = EndedOut), (status = 404, body = Problem)))]
pub async fn end_sessions(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
) -> Result<Response, Problem> {
    let ended = caller.admin(&state).end_all(&AccountId(id)).await?;
    Ok(json(StatusCode::OK, &EndedOut::from(ended), None))
}

/// The current identity and its ETag.
async fn current_identity(admin: &Admin, id: i64) -> Result<(IdentityOut, String), Problem> {
    let out = IdentityOut::from(&admin.identity(id).await?);
    let etag = etag_of(&out);
    Ok((out, etag))
}

/// Check `If-Match` against identity `id`; the admin service to change it with (as
/// [`guarded`], on the version of the identity's account, read before the identity).
async fn guarded_identity(admin: Admin, id: i64, headers: &HeaderMap) -> Result<Admin, Problem> {
    let account = admin.identity(id).await?.account_id;
    let version = admin.version(&account).await?;
    let now = admin.identity(id).await?;
    if now.account_id != account {
        return Err(Problem::new(Cause::PreconditionFailed, "the identity moved meanwhile; read it again"));
    }
    let etag = etag_of(&IdentityOut::from(&now));
    Ok(if if_match(headers, Some(&etag))? { admin.expecting(&account, version) } else { admin })
}

/// Unlink an identity from its account (never its primary, never its last way to sign in).
#[utoipa::path(delete, path = "/admin/v1/identities/{id}", tag = "identities", params(("id" = i64, Path), IfMatch),
    responses((status = 204), (status = 404, body = Problem), (status = 409, body = Problem), (status = 412, body = Problem)))]
pub async fn unlink(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
) -> Result<Response, Problem> {
    let id = identity_id(&id)?;
    let admin = caller.admin(&state);
    let admin = guarded_identity(admin, id, &headers).await?;
    admin.unlink(id).await?;
    Ok(StatusCode::NO_CONTENT.into_response())
}

/// Switch sign-in with an identity, or make it its account's primary.
#[utoipa::path(patch, path = "/admin/v1/identities/{id}", tag = "identities", params(("id" = i64, Path), IfMatch),
    request_body = IdentityPatch,
    responses((status = 200, body = IdentityOut, headers(("ETag" = String))), (status = 404, body = Problem),
        (status = 409, body = Problem), (status = 412, body = Problem), (status = 422, body = Problem)))]
pub async fn update_identity(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(patch): Body<IdentityPatch>,
) -> Result<Response, Problem> {
    let id = identity_id(&id)?;
    if patch.primary == Some(false) {
        return Err(Problem::invalid("/primary", "only `true`: to change the primary, make another identity primary"));
    }
    let admin = caller.admin(&state);
    let admin = guarded_identity(admin, id, &headers).await?;
    admin.update_identity(id, patch.can_sign_in, patch.primary == Some(true)).await?;
    let (out, etag) = current_identity(&admin, id).await?;
    Ok(json(StatusCode::OK, &out, Some(etag)))
}

/// Move an identity to another account (never a primary, never the last way to sign in).
#[utoipa::path(post, path = "/admin/v1/identities/{id}/move", tag = "identities", params(("id" = i64, Path), IfMatch),
    request_body = MoveIn,
    responses((status = 200, body = MoveOut), (status = 404, body = Problem), (status = 409, body = Problem),
        (status = 412, body = Problem)))]
pub async fn move_identity(
    State(state): State<AppState>,
    caller: Caller,
    Path(id): Path<String>,
    headers: HeaderMap,
    Body(body): Body<MoveIn>,
) -> Result<Response, Problem> {
    let id = identity_id(&id)?;
    let admin = caller.admin(&state);
    let admin = guarded_identity(admin, id, &headers).await?;
    let to = AccountId(body.to);
    let from = admin.move_identity(id, &to).await?;
    Ok(json(StatusCode::OK, &MoveOut { from: from.0, to: to.0 }, None))
}

/// The audit log, newest first, paged.
#[utoipa::path(get, path = "/admin/v1/audit", tag = "audit", params(AuditSearch),
    responses((status = 200, body = AuditPage), (status = 422, body = Problem)))]
pub async fn audit(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<AuditSearch>,
) -> Result<Response, Problem> {
    let limit = page_size(q.limit.as_deref())?;
    let before = match q.cursor.as_deref() {
        None => None,
        Some(c) => Some(c.parse::<i64>().map_err(|_| Problem::invalid("#/cursor", "not a cursor this API gave"))?),
    };
    let query = AuditQuery { account: q.account, action: q.kind };
    let events = caller.admin(&state).audit(&query, before, limit).await?;
    let next_cursor = (events.len() == limit as usize).then(|| events.last().map(|e| e.id.to_string())).flatten();
    let page = AuditPage { items: events.into_iter().map(Into::into).collect(), next_cursor };
    Ok(json(StatusCode::OK, &page, None))
}

/// An account's live browser sessions and refresh-token grants.
#[utoipa::path(get, path = "/admin/v1/sessions", tag = "sessions", params(SessionsOf),
    responses((status = 200, body = SessionsOut), (status = 404, body = Problem), (status = 422, body = Problem)))]
pub async fn sessions(
    State(state): State<AppState>,
    caller: Caller,
    Params(q): Params<SessionsOf>,
) -> Result<Response, Problem> {
    let (sessions, grants) = caller.admin(&state).sessions(&AccountId(q.account)).await?;
    let out = SessionsOut {
        sessions: sessions.into_iter().map(Into::into).collect(),
        grants: grants.into_iter().map(Into::into).collect(),
    };
    Ok(json(StatusCode::OK, &out, None))
}
