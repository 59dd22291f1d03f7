//! OIDC clients in the catalog: list, get, create (the secret is shown once and only its SHA-256
//! is kept), replace, delete (its refresh-token grants are revoked in the same transaction) and
//! rotate the secret (the old one stops working at once).

use crate::accounts::Actor;
use serde::{Deserialize, Serialize};
use serde_json::Value;
use sqlx::Row;

use super::{Catalog, CatalogError, bump, hex, store, unhex32};
use crate::config::{SigningAlg, check_redirect_uri};
use crate::db::Db;
use crate::issuer::app_logout::ClientLogout;
use crate::issuer::client_auth::AuthMethod;
use crate::issuer::client_auth::settings::Registration;
use crate::issuer::clients::{Client, ClientSecret};
use crate::issuer::shape::{SubjectType, TokenShape};

/// A client definition: the keys of a `[[clients]]` entry of `braid.toml` except the id and the
/// secret (braid makes the secret), plus `public`.
#[derive(Debug, Clone, Deserialize, Serialize, PartialEq, Eq, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ClientDefinition {
    /// The client id: 1 to 64 of `a-z 0-9 - _`, starting with a letter or digit. Required in the
    /// body that makes a client; in a replacement, if sent, the path's. Never stored here.
    #[serde(default, skip_serializing)]
    pub id: Option<String>,
    /// A name shown to people (defaults to the id).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    /// Redirect URIs, matched exactly.
    pub redirect_uris: Vec<String>,
    /// Where `/logout` may send the browser afterwards, matched exactly.
    #[serde(default)]
    pub post_logout_redirect_uris: Vec<String>,
    /// A public client (no secret; PKCE required).
    #[serde(default)]
    pub public: bool,
    // Signing algorithms and pairwise subjects (as in `[[clients]]`).
    /// Algorithm of its ID tokens (`RS256`, `ES256`, `EdDSA`); default `[keys] algorithm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<SigningAlg>,
    /// Algorithm of its access tokens; default `[keys] algorithm`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub access_token_signed_response_alg: Option<SigningAlg>,
    /// `public` or `pairwise`.
    #[serde(default, skip_serializing_if = "is_public_subject")]
    pub subject_type: SubjectType,
    /// The sector of pairwise subjects (a host or an https URL); default: the redirect URIs' host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sector_identifier: Option<String>,
    // Back- and front-channel logout (see `issuer::app_logout`).
    /// Where braid POSTs logout tokens.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    /// The client requires `sid` in every logout token.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub backchannel_logout_session_required: bool,
    /// What braid's logout page loads in an invisible iframe.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub frontchannel_logout_uri: Option<String>,
    /// The client requires `iss` and `sid` on its front-channel logout URI.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub frontchannel_logout_session_required: bool,
    // --- JWT client authentication (RFC 7523) and pushed authorization requests (RFC 9126)
    /// client_secret_basic, client_secret_post, private_key_jwt, or none (public); unset: Basic or
    /// post for a confidential client. client_secret_jwt is refused (only the secret's hash is kept).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<AuthMethod>,
    /// The client's public keys for private_key_jwt (a JWK Set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
    /// Where to fetch the client's JWK Set for private_key_jwt.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// Refuse authorization requests not pushed through `/par`.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub require_pushed_authorization_requests: bool,
}

fn is_public_subject(t: &SubjectType) -> bool {
    *t == SubjectType::Public
}

impl ClientDefinition {
    /// The token shape it asks for.
    fn token_shape(&self) -> Result<TokenShape, (&'static str, String)> {
        TokenShape::of_parts(
            self.id_token_signed_response_alg,
            self.access_token_signed_response_alg,
            self.subject_type,
            self.sector_identifier.as_deref(),
            &self.redirect_uris,
        )
    }

    /// The client's logout endpoints.
    pub fn logout(&self) -> ClientLogout {
        ClientLogout {
            backchannel_logout_uri: self.backchannel_logout_uri.clone(),
            backchannel_logout_session_required: self.backchannel_logout_session_required,
            frontchannel_logout_uri: self.frontchannel_logout_uri.clone(),
            frontchannel_logout_session_required: self.frontchannel_logout_session_required,
        }
    }

    /// Whether braid makes and keeps a secret for this client.
    fn has_secret(&self) -> bool {
        !self.public && self.token_endpoint_auth_method != Some(AuthMethod::PrivateKeyJwt)
    }

    fn registration(&self) -> Registration<'_> {
        Registration {
            method: self.token_endpoint_auth_method,
            has_secret: self.has_secret(),
            secret_hashed: true,
            jwks: self.jwks.as_ref(),
            jwks_uri: self.jwks_uri.as_deref(),
        }
    }
}

/// A client as the admin service shows it (never its secret).
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct ClientView {
    /// `client_id`.
    pub id: String,
    /// `file` (`braid.toml`, read-only here) or `api` (the catalog).
    pub source: &'static str,
    /// Name shown to people.
    pub name: String,
    /// Whether it is a public client.
    pub public: bool,
    /// Redirect URIs.
    pub redirect_uris: Vec<String>,
    /// Post-logout redirect URIs.
    pub post_logout_redirect_uris: Vec<String>,
    // Signing algorithms and pairwise subjects.
    /// Algorithm of its ID tokens; absent: `[keys] algorithm`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub id_token_signed_response_alg: Option<&'static str>,
    /// Algorithm of its access tokens; absent: `[keys] algorithm`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token_signed_response_alg: Option<&'static str>,
    /// `public` or `pairwise`.
    pub subject_type: &'static str,
    /// The sector of its pairwise subjects.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub sector_identifier: Option<String>,
    // Back- and front-channel logout.
    /// Where braid POSTs logout tokens.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub backchannel_logout_uri: Option<String>,
    /// The client requires `sid` in every logout token.
    pub backchannel_logout_session_required: bool,
    /// What braid's logout page loads in an invisible iframe.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub frontchannel_logout_uri: Option<String>,
    /// The client requires `iss` and `sid` on its front-channel logout URI.
    pub frontchannel_logout_session_required: bool,
    /// Catalog clients: the version, bumped on every change (the API's ETag).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// Catalog clients: when it last changed (Unix milliseconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
    // --- JWT client authentication (RFC 7523) and pushed authorization requests (RFC 9126)
    /// The registered `token_endpoint_auth_method`, if one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub token_endpoint_auth_method: Option<AuthMethod>,
    /// The client's inline JWK Set (public keys), if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub jwks: Option<Value>,
    /// Where the client's JWK Set is fetched, if anywhere.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub jwks_uri: Option<String>,
    /// Whether plain authorization requests are refused (PAR only).
    pub require_pushed_authorization_requests: bool,
}

/// A client just made or changed, with its new secret when one was made (shown this once).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct NewClient {
    /// The client.
    pub client: ClientView,
    /// The secret: never stored, never shown again.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub secret: Option<String>,
}

/// Parse and check a definition; errors name the JSON pointer of the bad member.
pub fn parse_definition(id: &str, def: &Value) -> Result<ClientDefinition, CatalogError> {
    if id.is_empty() || id.len() > 128 || !id.chars().all(|c| c.is_ascii_graphic()) {
        return Err(CatalogError::invalid("/id", "a client id is 1-128 printable ASCII characters"));
    }
    let d: ClientDefinition = serde_path_to_error::deserialize(def).map_err(|e| {
        let mut key = e.path().to_string();
        let inner = e.inner().to_string();
        if let Some(name) = inner.strip_prefix("missing field `").and_then(|r| r.split('`').next()) {
            key = if key == "." { name.to_owned() } else { format!("{key}.{name}") };
        }
        CatalogError::invalid(super::pointer_of(&key), inner)
    })?;
    if d.redirect_uris.is_empty() {
        return Err(CatalogError::invalid("/redirect_uris", "at least one redirect URI is needed"));
    }
    for (kind, list) in
        [("redirect_uris", &d.redirect_uris), ("post_logout_redirect_uris", &d.post_logout_redirect_uris)]
    {
        for (j, u) in list.iter().enumerate() {
            check_redirect_uri(u).map_err(|reason| CatalogError::invalid(format!("/{kind}/{j}"), reason))?;
        }
    }
    if let Err((key, reason)) = d.logout().check() {
        return Err(CatalogError::invalid(format!("/{key}"), reason));
    }
    if d.name.as_deref().is_some_and(|n| n.trim().is_empty() || n.len() > 200) {
        return Err(CatalogError::invalid("/name", "a name is 1-200 characters"));
    }
    d.token_shape().map_err(|(field, reason)| CatalogError::invalid(format!("/{field}"), reason))?;
    match (d.public, d.token_endpoint_auth_method) {
        (true, Some(m)) if m != AuthMethod::None => {
            return Err(CatalogError::invalid(
                "/token_endpoint_auth_method",
                format!("a public client authenticates with none, not {}", m.as_str()),
            ));
        }
        (false, Some(AuthMethod::None)) => {
            return Err(CatalogError::invalid(
                "/token_endpoint_auth_method",
                "none is for public clients: set public to true",
            ));
        }
        _ => {}
    }
    if let Some((k, reason)) = crate::issuer::client_auth::settings::check(&d.registration()).into_iter().next() {
        return Err(CatalogError::invalid(format!("/{k}"), reason));
    }
    Ok(d)
}

struct Stored {
    id: String,
    definition: ClientDefinition,
    secret_sha256: Option<String>,
    version: i64,
    updated_at: i64,
}

fn read_row(r: &sqlx::any::AnyRow) -> Result<Stored, CatalogError> {
    let text: String = r.try_get("definition").map_err(store)?;
    Ok(Stored {
        id: r.try_get("id").map_err(store)?,
        definition: serde_json::from_str(&text).map_err(store)?,
        secret_sha256: r.try_get("secret_sha256").map_err(store)?,
        version: r.try_get("version").map_err(store)?,
        updated_at: r.try_get("updated_at").map_err(store)?,
    })
}

const COLUMNS: &str = "id, definition, secret_sha256, version, updated_at";

/// Every catalog client, as the issuer uses them (a broken row is skipped and logged).
pub(super) async fn load_all(db: &Db) -> Result<Vec<Client>, CatalogError> {
    let rows =
        sqlx::query(&format!("SELECT {COLUMNS} FROM clients ORDER BY id")).fetch_all(&db.pool).await.map_err(store)?;
    let mut out = Vec::new();
    for r in &rows {
        let s = match read_row(r) {
            Ok(s) => s,
            Err(e) => {
                tracing::error!(error = %e, "stored client unreadable; it is refused");
                continue;
            }
        };
        let jwks = match crate::issuer::client_auth::settings::keys(&s.definition.registration()) {
            Ok(k) => k,
            Err(e) => {
                tracing::error!(client = %s.id, error = %e, "stored client keys unusable; the client is refused");
                continue;
            }
        };
        let secret = match (&s.secret_sha256, s.definition.has_secret()) {
            (None, false) => None,
            (Some(h), true) => match unhex32(h) {
                Some(d) => Some(ClientSecret::Sha256(d)),
                None => {
                    tracing::error!(client = %s.id, "stored client secret digest unreadable; the client is refused");
                    continue;
                }
            },
            _ => {
                tracing::error!(client = %s.id, "stored client has a secret it should not have, or lacks one; refused");
                continue;
            }
        };
        let token_shape = match s.definition.token_shape() {
            Ok(t) => t,
            Err((field, reason)) => {
                tracing::error!(client = %s.id, field, reason, "stored client unusable; it is refused");
                continue;
            }
        };
        out.push(Client {
            token_shape,
            name: s.definition.name.clone().unwrap_or_else(|| s.id.clone()),
            id: s.id,
            secret,
            logout: s.definition.logout(),
            redirect_uris: s.definition.redirect_uris,
            post_logout_redirect_uris: s.definition.post_logout_redirect_uris,
            auth_method: s.definition.token_endpoint_auth_method,
            jwks,
            require_par: s.definition.require_pushed_authorization_requests,
        });
    }
    Ok(out)
}

fn view(s: &Stored) -> ClientView {
    ClientView {
        id: s.id.clone(),
        source: "api",
        name: s.definition.name.clone().unwrap_or_else(|| s.id.clone()),
        public: s.definition.public,
        redirect_uris: s.definition.redirect_uris.clone(),
        post_logout_redirect_uris: s.definition.post_logout_redirect_uris.clone(),
        id_token_signed_response_alg: s.definition.id_token_signed_response_alg.map(SigningAlg::as_str),
        access_token_signed_response_alg: s.definition.access_token_signed_response_alg.map(SigningAlg::as_str),
        subject_type: s.definition.subject_type.as_str(),
        sector_identifier: s.definition.token_shape().ok().and_then(|t| t.pairwise_sector),
        backchannel_logout_uri: s.definition.backchannel_logout_uri.clone(),
        backchannel_logout_session_required: s.definition.backchannel_logout_session_required,
        frontchannel_logout_uri: s.definition.frontchannel_logout_uri.clone(),
        frontchannel_logout_session_required: s.definition.frontchannel_logout_session_required,
        version: Some(s.version),
        updated_at: Some(s.updated_at),
        token_endpoint_auth_method: s.definition.token_endpoint_auth_method,
        jwks: s.definition.jwks.clone(),
        jwks_uri: s.definition.jwks_uri.clone(),
        require_pushed_authorization_requests: s.definition.require_pushed_authorization_requests,
    }
}

fn file_view(c: &Client) -> ClientView {
    ClientView {
        id: c.id.clone(),
        source: "file",
        name: c.name.clone(),
        public: c.is_public(),
        redirect_uris: c.redirect_uris.clone(),
        post_logout_redirect_uris: c.post_logout_redirect_uris.clone(),
        id_token_signed_response_alg: c.token_shape.id_token_alg.map(SigningAlg::as_str),
        access_token_signed_response_alg: c.token_shape.access_token_alg.map(SigningAlg::as_str),
        subject_type: c.token_shape.subject_type().as_str(),
        sector_identifier: c.token_shape.pairwise_sector.clone(),
        backchannel_logout_uri: c.logout.backchannel_logout_uri.clone(),
        backchannel_logout_session_required: c.logout.backchannel_logout_session_required,
        frontchannel_logout_uri: c.logout.frontchannel_logout_uri.clone(),
        frontchannel_logout_session_required: c.logout.frontchannel_logout_session_required,
        version: None,
        updated_at: None,
        token_endpoint_auth_method: c.auth_method,
        jwks: None,
        jwks_uri: match c.jwks.as_deref() {
            Some(crate::issuer::client_auth::keys::ClientKeys::Remote { uri, .. }) => Some(uri.clone()),
            _ => None,
        },
        require_pushed_authorization_requests: c.require_par,
    }
}

/// A new secret (32 random bytes, base64url) and its SHA-256 in hex.
fn new_secret() -> (String, String) {
    let secret = crate::ids::random_token(32);
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, secret.as_bytes());
    (secret, hex(digest.as_ref()))
}

impl Catalog {
    async fn client_row(&self, id: &str) -> Result<Option<Stored>, CatalogError> {
        let r = sqlx::query(&format!("SELECT {COLUMNS} FROM clients WHERE id = $1"))
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await
            .map_err(store)?;
        r.as_ref().map(read_row).transpose()
    }

    fn client_not_from_file(&self, id: &str) -> Result<(), CatalogError> {
        if self.clients.from_settings().contains(id) { Err(CatalogError::FromFile) } else { Ok(()) }
    }

    /// Every client: those of `braid.toml` (`source: "file"`) and those of the catalog
    /// (`source: "api"`), in id order.
    pub async fn list_clients(&self) -> Result<Vec<ClientView>, CatalogError> {
        let mut out: Vec<ClientView> = self.clients.from_settings().sorted().iter().map(|c| file_view(c)).collect();
        let rows = sqlx::query(&format!("SELECT {COLUMNS} FROM clients ORDER BY id"))
            .fetch_all(&self.db.pool)
            .await
            .map_err(store)?;
        for r in &rows {
            out.push(view(&read_row(r)?));
        }
        out.sort_by(|a, b| a.id.cmp(&b.id).then(a.source.cmp(b.source)));
        Ok(out)
    }

    /// One client by id.
    pub async fn get_client(&self, id: &str) -> Result<ClientView, CatalogError> {
        if let Some(c) = self.clients.from_settings().get(id) {
            return Ok(file_view(c));
        }
        self.client_row(id).await?.map(|s| view(&s)).ok_or(CatalogError::NotFound)
    }

    /// Register client `id`; a confidential client's secret is returned this once.
    pub async fn create_client(&self, id: &str, definition: Value, actor: &Actor) -> Result<NewClient, CatalogError> {
        let d = parse_definition(id, &definition)?;
        self.client_not_from_file(id)?;
        let (secret, digest) = if !d.has_secret() {
            (None, None)
        } else {
            let (s, h) = new_secret();
            (Some(s), Some(h))
        };
        let now = self.clock.now_ms();
        let mut tx = self.db.pool.begin().await.map_err(store)?;
        let n = sqlx::query(
            "INSERT INTO clients (id, definition, secret_sha256, version, updated_at) VALUES ($1, $2, $3, 1, $4) \
             ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(serde_json::to_string(&d).map_err(store)?)
        .bind(digest)
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(store)?
        .rows_affected();
        if n == 0 {
            return Err(CatalogError::Exists);
        }
        bump(&mut tx, actor, "client.created", id, self.clock.now_ms()).await?;
        tx.commit().await.map_err(store)?;
        tracing::info!(client = %id, "client added to the admin catalog");
        self.changed().await;
        Ok(NewClient { client: self.get_client(id).await?, secret })
    }

    /// Replace client `id`'s definition; with `expected_version`, only if it is still that
    /// version. The secret stays; a public client made confidential gets a new one (returned),
    /// a confidential client made public loses its secret.
    pub async fn replace_client(
        &self,
        id: &str,
        definition: Value,
        expected_version: Option<i64>,
        actor: &Actor,
    ) -> Result<NewClient, CatalogError> {
        let d = parse_definition(id, &definition)?;
        self.client_not_from_file(id)?;
        let Some(old) = self.client_row(id).await? else { return Err(CatalogError::NotFound) };
        if expected_version.is_some_and(|v| v != old.version) {
            return Err(CatalogError::VersionMismatch);
        }
        let (secret, digest) = match (d.has_secret(), old.secret_sha256) {
            (false, _) => (None, None),
            (true, Some(h)) => (None, Some(h)),
            (true, None) => {
                let (s, h) = new_secret();
                (Some(s), Some(h))
            }
        };
        let now = self.clock.now_ms();
        let mut tx = self.db.pool.begin().await.map_err(store)?;
        let n = sqlx::query(
            "UPDATE clients SET definition = $1, secret_sha256 = $2, version = version + 1, updated_at = $3 \
             WHERE id = $4 AND version = $5",
        )
        .bind(serde_json::to_string(&d).map_err(store)?)
        .bind(digest)
        .bind(now)
        .bind(id)
        .bind(old.version)
        .execute(&mut *tx)
        .await
        .map_err(store)?
        .rows_affected();
        if n == 0 {
            drop(tx);
            return Err(match self.client_row(id).await? {
                Some(_) => CatalogError::VersionMismatch,
                None => CatalogError::NotFound,
            });
        }
        bump(&mut tx, actor, "client.replaced", id, self.clock.now_ms()).await?;
        tx.commit().await.map_err(store)?;
        tracing::info!(client = %id, version = old.version + 1, "client changed in the admin catalog");
        self.changed().await;
        Ok(NewClient { client: self.get_client(id).await?, secret })
    }

    /// Remove client `id` and revoke its refresh-token grants (one transaction); with
    /// `expected_version`, only if it is still that version.
    pub async fn delete_client(
        &self,
        id: &str,
        expected_version: Option<i64>,
        actor: &Actor,
    ) -> Result<(), CatalogError> {
        self.client_not_from_file(id)?;
        let now = self.clock.now_ms();
        let mut tx = self.db.pool.begin().await.map_err(store)?;
        let n = match expected_version {
            Some(v) => sqlx::query("DELETE FROM clients WHERE id = $1 AND version = $2").bind(id).bind(v),
            None => sqlx::query("DELETE FROM clients WHERE id = $1").bind(id),
        }
        .execute(&mut *tx)
        .await
        .map_err(store)?
        .rows_affected();
        if n == 0 {
            drop(tx);
            return Err(match self.client_row(id).await? {
                Some(_) => CatalogError::VersionMismatch,
                None => CatalogError::NotFound,
            });
        }
        let revoked = sqlx::query("UPDATE grants SET revoked_at = $1 WHERE client_id = $2 AND revoked_at IS NULL")
            .bind(now)
            .bind(id)
            .execute(&mut *tx)
            .await
            .map_err(store)?
            .rows_affected();
        bump(&mut tx, actor, "client.deleted", id, self.clock.now_ms()).await?;
        tx.commit().await.map_err(store)?;
        tracing::info!(client = %id, revoked_grants = revoked, "client removed from the admin catalog");
        self.changed().await;
        Ok(())
    }

    /// Give client `id` a new secret (returned this once); the old one stops working at once
    /// here, and within the poll interval on every other braid.
    pub async fn rotate_client_secret(&self, id: &str, actor: &Actor) -> Result<String, CatalogError> {
        self.client_not_from_file(id)?;
        let Some(old) = self.client_row(id).await? else { return Err(CatalogError::NotFound) };
        if !old.definition.has_secret() {
            return Err(CatalogError::invalid("/public", "this client has no secret to rotate"));
        }
        let (secret, digest) = new_secret();
        let now = self.clock.now_ms();
        let mut tx = self.db.pool.begin().await.map_err(store)?;
        let n = sqlx::query(
            "UPDATE clients SET secret_sha256 = $1, version = version + 1, updated_at = $2 WHERE id = $3 AND version = $4",
        )
        .bind(digest)
        .bind(now)
        .bind(id)
        .bind(old.version)
        .execute(&mut *tx)
        .await
        .map_err(store)?
        .rows_affected();
        if n == 0 {
            return Err(CatalogError::VersionMismatch);
        }
        bump(&mut tx, actor, "client.secret_rotated", id, self.clock.now_ms()).await?;
        tx.commit().await.map_err(store)?;
        tracing::info!(client = %id, "client secret rotated");
        self.changed().await;
        Ok(secret)
    }
}
