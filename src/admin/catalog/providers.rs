//! Upstream providers in the catalog: list, get, create, replace, delete and check. A definition
//! is a JSON object with the keys of a provider file, validated by the provider-file code and,
//! for OIDC and SAML, against the live discovery document or metadata before it is stored.
//! `client_secret` is write-only: stored as given, never returned.

use crate::accounts::Actor;
use serde::Serialize;
use serde_json::{Map, Value};
use sqlx::Row;

use super::{Catalog, CatalogError, bump, invalid_from, store};
use crate::config::ConfigProblem;
use crate::upstream::registry::issuers_overlap;
use crate::upstream::{Protocol, Provider, ProviderRegistry, parse_definition};

/// Members of a definition that are never returned.
const SECRET_KEYS: [&str; 1] = ["client_secret"];

/// A provider as the admin service shows it (never its secret).
#[derive(Debug, Clone, Serialize, PartialEq, utoipa::ToSchema)]
pub struct ProviderView {
    /// Its id.
    pub id: String,
    /// `file` (a provider file, read-only here) or `api` (the catalog).
    pub source: &'static str,
    /// `oidc`, `oauth2`, `saml` or `dev`.
    pub kind: String,
    /// Name on the chooser.
    pub display_name: String,
    /// The issuer its identities carry (empty when its definition is refused now).
    pub issuer: String,
    /// Whether it is enabled.
    pub enabled: bool,
    /// Whether it is in force now (false: refused, see the log and `/readyz`).
    pub in_force: bool,
    /// Catalog providers: the version, bumped on every change (the API's ETag).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub version: Option<i64>,
    /// Catalog providers: when it last changed (Unix milliseconds).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub updated_at: Option<i64>,
    /// Whether a client secret (or a secret file) is set; the secret itself is never shown.
    pub has_client_secret: bool,
    /// Catalog providers: the definition as stored, without its secret.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub definition: Option<Value>,
}

/// What a check of a provider found.
#[derive(Debug, Clone, Serialize, PartialEq, Eq, utoipa::ToSchema)]
pub struct CheckReport {
    /// The provider.
    pub id: String,
    /// One line, as `braid check --online` prints it.
    pub detail: String,
}

/// The source string of a catalog provider (in problems and logs).
pub(super) fn source(id: &str) -> String {
    format!("admin catalog: provider `{id}`")
}

/// Build a catalog provider with the provider-file checks and the registry's policy.
pub(super) fn build(registry: &ProviderRegistry, id: &str, def: &Value) -> Result<Provider, Vec<ConfigProblem>> {
    // Relative file names (`idp_metadata_file`, `client_secret_file`) are read beside the
    // provider files.
    let beside = registry.dir().join(format!("{id}.json"));
    let p = parse_definition(id, def, &beside, &source(id))?;
    registry.admit(p)
}

fn without_secrets(def: &Value) -> Value {
    match def {
        Value::Object(m) => Value::Object(
            m.iter().filter(|(k, _)| !SECRET_KEYS.contains(&k.as_str())).map(|(k, v)| (k.clone(), v.clone())).collect(),
        ),
        other => other.clone(),
    }
}

fn has_secret(def: &Value) -> bool {
    ["client_secret", "client_secret_file"].iter().any(|k| def.get(*k).is_some_and(|v| !v.is_null()))
}

fn file_view(p: &Provider, in_force: bool) -> ProviderView {
    let has_client_secret = match &p.protocol {
        Protocol::Oidc(c) => c.settings.client_secret.is_some(),
        Protocol::OAuth2(c) => c.settings.client_secret.is_some(),
        _ => false,
    };
    ProviderView {
        id: p.id.clone(),
        source: "file",
        kind: p.kind.as_str().into(),
        display_name: p.display_name.clone(),
        issuer: p.issuer.clone(),
        enabled: p.enabled,
        in_force,
        version: None,
        updated_at: None,
        has_client_secret,
        definition: None,
    }
}

struct Row_ {
    id: String,
    definition: Value,
    version: i64,
    updated_at: i64,
}

fn read_row(r: &sqlx::any::AnyRow) -> Result<Row_, CatalogError> {
    let text: String = r.try_get("definition").map_err(store)?;
    Ok(Row_ {
        id: r.try_get("id").map_err(store)?,
        definition: serde_json::from_str(&text).map_err(store)?,
        version: r.try_get("version").map_err(store)?,
        updated_at: r.try_get("updated_at").map_err(store)?,
    })
}

impl Catalog {
    fn api_view(&self, row: &Row_) -> ProviderView {
        let snapshot = self.registry.snapshot();
        let live = snapshot.all().find(|p| p.id == row.id && p.source == source(&row.id));
        let s = |k: &str| row.definition.get(k).and_then(Value::as_str).map(str::to_owned);
        ProviderView {
            id: row.id.clone(),
            source: "api",
            kind: s("kind").unwrap_or_default(),
            display_name: live
                .map(|p| p.display_name.clone())
                .or_else(|| s("display_name"))
                .unwrap_or_else(|| row.id.clone()),
            issuer: live.map(|p| p.issuer.clone()).or_else(|| s("issuer")).unwrap_or_default(),
            enabled: row.definition.get("enabled").and_then(Value::as_bool).unwrap_or(true),
            in_force: live.is_some(),
            version: Some(row.version),
            updated_at: Some(row.updated_at),
            has_client_secret: has_secret(&row.definition),
            definition: Some(without_secrets(&row.definition)),
        }
    }

    async fn provider_row(&self, id: &str) -> Result<Option<Row_>, CatalogError> {
        let r = sqlx::query("SELECT id, definition, version, updated_at FROM providers WHERE id = $1")
            .bind(id)
            .fetch_optional(&self.db.pool)
            .await
            .map_err(store)?;
        r.as_ref().map(read_row).transpose()
    }

    /// Every provider: those of the files (`source: "file"`) and those of the catalog
    /// (`source: "api"`), in id order.
    pub async fn list_providers(&self) -> Result<Vec<ProviderView>, CatalogError> {
        let snapshot = self.registry.snapshot();
        let mut out: Vec<ProviderView> = self
            .registry
            .from_files()
            .iter()
            .map(|p| file_view(p, snapshot.all().any(|q| q.id == p.id && q.source == p.source)))
            .collect();
        let rows = sqlx::query("SELECT id, definition, version, updated_at FROM providers ORDER BY id")
            .fetch_all(&self.db.pool)
            .await
            .map_err(store)?;
        for r in &rows {
            out.push(self.api_view(&read_row(r)?));
        }
        out.sort_by(|a, b| a.id.cmp(&b.id).then(a.source.cmp(b.source)));
        Ok(out)
    }

    /// One provider by id.
    pub async fn get_provider(&self, id: &str) -> Result<ProviderView, CatalogError> {
        if let Some(p) = self.registry.from_files().iter().find(|p| p.id == id) {
            let live = self.registry.snapshot().all().any(|q| q.id == p.id && q.source == p.source);
            return Ok(file_view(p, live));
        }
        match self.provider_row(id).await? {
            Some(row) => Ok(self.api_view(&row)),
            None => Err(CatalogError::NotFound),
        }
    }

    /// Refuse ids the files define.
    fn not_from_file(&self, id: &str) -> Result<(), CatalogError> {
        if self.registry.file_ids().iter().any(|f| f == id) { Err(CatalogError::FromFile) } else { Ok(()) }
    }

    /// Validate `def` for provider `id`: the provider-file checks, one issuer per provider, and
    /// the live discovery document (OIDC) or metadata (SAML).
    async fn validate(&self, id: &str, def: &Value) -> Result<Provider, CatalogError> {
        if !def.is_object() {
            return Err(CatalogError::invalid("", "a provider definition is a JSON object"));
        }
        let p = build(&self.registry, id, def).map_err(|ps| invalid_from(&ps))?;
        if let Some(other) =
            self.registry.snapshot().all().find(|o| o.id != id && issuers_overlap(&o.issuer, &p.issuer))
        {
            return Err(CatalogError::invalid(
                "/issuer",
                format!("provider `{}` already uses issuer `{}`; one issuer, one provider", other.id, other.issuer),
            ));
        }
        self.reach(&p).await?;
        Ok(p)
    }

    /// Fetch what the provider depends on upstream (nothing for OAuth2 and dev providers).
    async fn reach(&self, p: &Provider) -> Result<String, CatalogError> {
        match &p.protocol {
            Protocol::Oidc(c) => c
                .discover(&self.http)
                .await
                .map(|m| format!("discovery ok ({})", m.issuer))
                .map_err(|e| CatalogError::Unreachable(e.to_string())),
            Protocol::Saml(c) => c
                .metadata(&self.http, self.clock.now_ms())
                .await
                .map(|m| format!("IdP metadata ok ({}, {} signing certificates)", m.entity_id, m.certs.len()))
                .map_err(CatalogError::Unreachable),
            Protocol::OAuth2(_) => Ok("nothing to reach before a sign-in (OAuth 2.0)".into()),
            Protocol::Dev => Ok("built in".into()),
        }
    }

    /// Register provider `id` with `definition` (the keys of a provider file, as JSON).
    pub async fn create_provider(
        &self,
        id: &str,
        definition: Value,
        actor: &Actor,
    ) -> Result<ProviderView, CatalogError> {
        self.not_from_file(id)?;
        self.validate(id, &definition).await?;
        let now = self.clock.now_ms();
        let mut tx = self.db.pool.begin().await.map_err(store)?;
        let inserted = sqlx::query(
            "INSERT INTO providers (id, definition, version, updated_at) VALUES ($1, $2, 1, $3) ON CONFLICT (id) DO NOTHING",
        )
        .bind(id)
        .bind(definition.to_string())
        .bind(now)
        .execute(&mut *tx)
        .await
        .map_err(store)?
        .rows_affected();
        if inserted == 0 {
            return Err(CatalogError::Exists);
        }
        bump(&mut tx, actor, "provider.created", id, self.clock.now_ms()).await?;
        tx.commit().await.map_err(store)?;
        tracing::info!(provider = %id, "provider added to the admin catalog");
        self.changed().await;
        self.get_provider(id).await
    }

    /// Replace provider `id`'s definition; with `expected_version`, only if it is still that
    /// version. A definition without `client_secret` and `client_secret_file` keeps the stored
    /// secret (it is never shown, so it cannot be sent back); `"client_secret": null` removes it.
    pub async fn replace_provider(
        &self,
        id: &str,
        definition: Value,
        expected_version: Option<i64>,
        actor: &Actor,
    ) -> Result<ProviderView, CatalogError> {
        self.not_from_file(id)?;
        let Some(old) = self.provider_row(id).await? else { return Err(CatalogError::NotFound) };
        if expected_version.is_some_and(|v| v != old.version) {
            return Err(CatalogError::VersionMismatch);
        }
        let mut definition = definition;
        if let Value::Object(m) = &mut definition {
            carry_secret(m, &old.definition);
        }
        self.validate(id, &definition).await?;
        let now = self.clock.now_ms();
        let mut tx = self.db.pool.begin().await.map_err(store)?;
        // The version read above must still be the stored one: a concurrent change wins.
        let n = sqlx::query(
            "UPDATE providers SET definition = $1, version = version + 1, updated_at = $2 WHERE id = $3 AND version = $4",
        )
        .bind(definition.to_string())
        .bind(now)
        .bind(id)
        .bind(old.version)
        .execute(&mut *tx)
        .await
        .map_err(store)?
        .rows_affected();
        if n == 0 {
            return Err(match self.provider_row(id).await? {
                Some(_) => CatalogError::VersionMismatch,
                None => CatalogError::NotFound,
            });
        }
        bump(&mut tx, actor, "provider.replaced", id, self.clock.now_ms()).await?;
        tx.commit().await.map_err(store)?;
        tracing::info!(provider = %id, version = old.version + 1, "provider changed in the admin catalog");
        self.changed().await;
        self.get_provider(id).await
    }

    /// Remove provider `id`; with `expected_version`, only if it is still that version. Its
    /// identities stay (they are keyed by issuer and subject); new sign-ins through it stop.
    pub async fn delete_provider(
        &self,
        id: &str,
        expected_version: Option<i64>,
        actor: &Actor,
    ) -> Result<(), CatalogError> {
        self.not_from_file(id)?;
        let mut tx = self.db.pool.begin().await.map_err(store)?;
        let n = match expected_version {
            Some(v) => sqlx::query("DELETE FROM providers WHERE id = $1 AND version = $2").bind(id).bind(v),
            None => sqlx::query("DELETE FROM providers WHERE id = $1").bind(id),
        }
        .execute(&mut *tx)
        .await
        .map_err(store)?
        .rows_affected();
        if n == 0 {
            drop(tx);
            return Err(match self.provider_row(id).await? {
                Some(_) => CatalogError::VersionMismatch,
                None => CatalogError::NotFound,
            });
        }
        bump(&mut tx, actor, "provider.deleted", id, self.clock.now_ms()).await?;
        tx.commit().await.map_err(store)?;
        tracing::info!(provider = %id, "provider removed from the admin catalog");
        self.changed().await;
        Ok(())
    }

    /// What `braid check --online` says of provider `id`: its discovery document (OIDC) or IdP
    /// metadata (SAML) fetched and checked now.
    pub async fn check_provider(&self, id: &str) -> Result<CheckReport, CatalogError> {
        let p = match self.registry.snapshot().all().find(|p| p.id == id) {
            Some(p) => p.clone(),
            None => match self.provider_row(id).await? {
                // Stored but not in force: checked as stored, to say why.
                Some(row) => build(&self.registry, id, &row.definition).map_err(|ps| invalid_from(&ps))?,
                None if self.registry.file_ids().iter().any(|f| f == id) => {
                    let problem = self.registry.refused().into_iter().find(|p| p.source.contains(id));
                    return Err(match problem {
                        Some(p) => CatalogError::invalid(super::pointer_of(&p.key), p.reason),
                        None => CatalogError::invalid("", "the provider file is refused"),
                    });
                }
                None => return Err(CatalogError::NotFound),
            },
        };
        let detail = self.reach(&p).await?;
        Ok(CheckReport { id: id.to_owned(), detail })
    }
}

/// Keep the stored secret when a replacement names none.
fn carry_secret(new: &mut Map<String, Value>, old: &Value) {
    if new.contains_key("client_secret") || new.contains_key("client_secret_file") {
        // `null` removes the secret: no member at all in the stored definition.
        new.retain(|k, v| !(SECRET_KEYS.contains(&k.as_str()) || k == "client_secret_file") || !v.is_null());
        return;
    }
    for k in ["client_secret", "client_secret_file"] {
        if let Some(v) = old.get(k).filter(|v| !v.is_null()) {
            new.insert(k.to_owned(), v.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_replacement_without_a_secret_keeps_the_stored_one_and_null_removes_it() {
        let old = serde_json::json!({"kind": "oidc", "client_secret": "${S}"});
        let mut m = Map::new();
        carry_secret(&mut m, &old);
        assert_eq!(m.get("client_secret"), Some(&Value::from("${S}")));
        let mut m = Map::new();
        m.insert("client_secret".into(), Value::Null);
        carry_secret(&mut m, &old);
        assert!(m.is_empty());
        assert_eq!(without_secrets(&old), serde_json::json!({"kind": "oidc"}));
    }
}
