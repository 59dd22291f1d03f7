//! The catalog: upstream providers and OIDC clients registered through the admin service (kept
//! in SQL beside the provider files and the `[[clients]]` of `braid.toml`). One service shared by
//! the admin API and the `braid providers` / `braid clients` commands; every change bumps the
//! one-row `catalog_version` counter in its transaction, and each braid process polls that
//! counter to put other processes' changes in force.

pub mod cli;
mod clients;
mod providers;

use std::collections::HashMap;
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, Weak};
use std::time::Duration;

use sqlx::Row;

pub use clients::{ClientDefinition, ClientView, NewClient};
pub use providers::{CheckReport, ProviderView};

use crate::clock::SharedClock;
use crate::config::ConfigProblem;
use crate::db::Db;
use crate::issuer::clients::LiveClients;
use crate::upstream::{Provider, ProviderRegistry};

/// Why a catalog operation failed; each variant maps to one RFC 9457 problem type.
#[derive(Debug, thiserror::Error)]
pub enum CatalogError {
    /// The definition is malformed: `pointer` is the JSON pointer of the bad member
    /// (`/issuer`, `/redirect_uris/0`; empty for the whole document).
    #[error("invalid definition at `{pointer}`: {detail}")]
    Invalid {
        /// JSON pointer (RFC 6901) of the offending member.
        pointer: String,
        /// What is wrong with it.
        detail: String,
    },
    /// No provider or client has this id.
    #[error("not found")]
    NotFound,
    /// The id is defined in a provider file or `braid.toml`: read-only here.
    #[error("defined in a file (a provider file or braid.toml), where it must be changed")]
    FromFile,
    /// The id is taken.
    #[error("already exists")]
    Exists,
    /// The expected version is not the stored one (a stale `If-Match`).
    #[error("changed since it was read (version mismatch)")]
    VersionMismatch,
    /// The discovery document or the metadata did not answer, or did not match.
    #[error("unreachable: {0}")]
    Unreachable(String),
    /// The store failed.
    #[error("store: {0}")]
    Store(String),
}

impl CatalogError {
    /// `Invalid` at `pointer`.
    pub fn invalid(pointer: impl Into<String>, detail: impl Into<String>) -> Self {
        Self::Invalid { pointer: pointer.into(), detail: detail.into() }
    }
}

fn store(e: impl std::fmt::Display) -> CatalogError {
    CatalogError::Store(e.to_string())
}

/// A problem key of the provider checks (`claims.subject`, `domains[0]`, `extra_params.k`) as a
/// JSON pointer (`/claims/subject`, `/domains/0`, `/extra_params/k`); `-` is the whole document.
pub fn pointer_of(key: &str) -> String {
    if key == "-" || key == "." || key.is_empty() {
        return String::new();
    }
    let mut out = String::new();
    for part in key.split('.') {
        let (name, indexes) = match part.find('[') {
            Some(i) => (&part[..i], &part[i..]),
            None => (part, ""),
        };
        if !name.is_empty() {
            out.push('/');
            out.push_str(&name.replace('~', "~0").replace('/', "~1"));
        }
        for ix in indexes.split(['[', ']']).filter(|s| !s.is_empty()) {
            out.push('/');
            out.push_str(ix);
        }
    }
    out
}

/// The first problem as `Invalid`.
fn invalid_from(problems: &[ConfigProblem]) -> CatalogError {
    match problems.first() {
        Some(p) => CatalogError::invalid(pointer_of(&p.key), p.reason.clone()),
        None => CatalogError::invalid("", "the definition is refused"),
    }
}

/// What one load of the SQL catalog found that cannot be in force.
#[derive(Debug, Default, Clone)]
pub struct LoadReport {
    /// Provider ids defined both by a file and in SQL.
    pub provider_clashes: Vec<String>,
    /// Client ids defined both in `braid.toml` and in SQL.
    pub client_clashes: Vec<String>,
    /// Stored providers refused now (a broken definition, an unset `${ENV}`, an issuer clash).
    pub refused: Vec<ConfigProblem>,
}

impl LoadReport {
    /// The clashes as one message, if any (a startup error).
    pub fn clash_message(&self) -> Option<String> {
        let mut parts = Vec::new();
        for id in &self.provider_clashes {
            parts.push(format!("provider `{id}` is defined both by a provider file and in the admin catalog (SQL)"));
        }
        for id in &self.client_clashes {
            parts.push(format!("client `{id}` is defined both in braid.toml and in the admin catalog (SQL)"));
        }
        if parts.is_empty() { None } else { Some(format!("{}; remove one of each pair", parts.join("; "))) }
    }
}

/// The catalog service over the SQL store, the live provider registry and the live clients.
pub struct Catalog {
    db: Db,
    registry: Arc<ProviderRegistry>,
    clients: Arc<LiveClients>,
    http: reqwest::Client,
    clock: SharedClock,
    /// The `catalog_version` last put in force (-1: never).
    seen: AtomicI64,
    /// SQL providers as last built, by id with their version: an unchanged row keeps its
    /// provider (and its discovery and key caches).
    built: tokio::sync::Mutex<HashMap<String, (i64, Provider)>>,
}

impl std::fmt::Debug for Catalog {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Catalog").field("seen", &self.seen.load(Ordering::Relaxed)).finish()
    }
}

impl Catalog {
    /// A catalog over `db`, putting its providers in `registry` and its clients in `clients`;
    /// `http` reaches upstream discovery documents and metadata.
    pub fn new(
        db: Db,
        registry: Arc<ProviderRegistry>,
        clients: Arc<LiveClients>,
        http: reqwest::Client,
        clock: SharedClock,
    ) -> Self {
        Self { db, registry, clients, http, clock, seen: AtomicI64::new(-1), built: tokio::sync::Mutex::default() }
    }

    /// The live provider registry.
    pub fn registry(&self) -> &Arc<ProviderRegistry> {
        &self.registry
    }

    /// The live clients.
    pub fn clients(&self) -> &Arc<LiveClients> {
        &self.clients
    }

    async fn version(&self) -> Result<i64, CatalogError> {
        let row = sqlx::query("SELECT version FROM catalog_version WHERE id = 1")
            .fetch_optional(&self.db.pool)
            .await
            .map_err(store)?;
        match row {
            Some(r) => r.try_get::<i64, _>("version").map_err(store),
            None => Ok(0),
        }
    }

    /// Read the SQL catalog and put it in force (merged with the files); returns what could not
    /// be put in force.
    pub async fn load(&self) -> Result<LoadReport, CatalogError> {
        // The counter is read first: a change committed meanwhile is read again next time.
        let version = self.version().await?;
        let mut report = LoadReport::default();
        let rows = sqlx::query("SELECT id, definition, version FROM providers ORDER BY id")
            .fetch_all(&self.db.pool)
            .await
            .map_err(store)?;
        let file_ids = self.registry.file_ids();
        let mut built = self.built.lock().await;
        let mut next: HashMap<String, (i64, Provider)> = HashMap::new();
        let mut list = Vec::new();
        for r in rows {
            let id: String = r.try_get("id").map_err(store)?;
            let row_version: i64 = r.try_get("version").map_err(store)?;
            if file_ids.contains(&id) {
                tracing::error!(provider = %id, "provider defined both by a file and in the admin catalog; the SQL one is refused");
                report.provider_clashes.push(id);
                continue;
            }
            if let Some((v, p)) = built.get(&id).filter(|(v, _)| *v == row_version) {
                list.push(p.clone());
                next.insert(id, (*v, p.clone()));
                continue;
            }
            let text: String = r.try_get("definition").map_err(store)?;
            let parsed = serde_json::from_str::<serde_json::Value>(&text)
                .map_err(|e| {
                    vec![ConfigProblem { source: providers::source(&id), key: "-".into(), reason: e.to_string() }]
                })
                .and_then(|def| providers::build(&self.registry, &id, &def));
            match parsed {
                Ok(p) => {
                    list.push(p.clone());
                    next.insert(id, (row_version, p));
                }
                Err(problems) => {
                    for p in &problems {
                        tracing::error!(problem = %p, "stored provider refused; it is disabled until fixed");
                    }
                    report.refused.extend(problems);
                }
            }
        }
        *built = next;
        report.refused.extend(self.registry.set_sql(list));
        drop(built);
        let sql_clients = clients::load_all(&self.db).await?;
        report.client_clashes = self.clients.set_sql(sql_clients);
        for id in &report.client_clashes {
            tracing::error!(client = %id, "client defined both in braid.toml and in the admin catalog; the SQL one is refused");
        }
        self.seen.store(version, Ordering::SeqCst);
        Ok(report)
    }

    /// Load again if the catalog changed since the last load (one one-row read otherwise).
    pub async fn refresh(&self) -> Result<bool, CatalogError> {
        if self.version().await? == self.seen.load(Ordering::SeqCst) {
            return Ok(false);
        }
        self.load().await?;
        Ok(true)
    }

    /// Poll the change counter every `every` until the catalog is dropped, so that changes made
    /// by other braid processes (or the CLI) are in force within that time.
    pub fn watch(self: &Arc<Self>, every: Duration) {
        let weak: Weak<Self> = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(every);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            tick.tick().await;
            loop {
                tick.tick().await;
                let Some(catalog) = weak.upgrade() else { break };
                if let Err(e) = catalog.refresh().await {
                    tracing::warn!(error = %e, "admin catalog not read; providers and clients stay as they were");
                }
            }
        });
    }

    /// After a committed change: put it in force here at once (other processes poll).
    async fn changed(&self) {
        if let Err(e) = self.load().await {
            tracing::warn!(error = %e, "admin catalog not read after a change; the poll retries");
        }
    }
}

/// Bump the change counter inside `tx`.
/// Count one change (the counter every braid polls) and record it in the audit log as `action`
/// on `target` (a provider or client id) by `actor`, in the change's own transaction.
async fn bump(
    tx: &mut sqlx::Transaction<'_, sqlx::Any>,
    actor: &crate::accounts::Actor,
    action: &str,
    target: &str,
    now: i64,
) -> Result<(), CatalogError> {
    sqlx::query("UPDATE catalog_version SET version = version + 1 WHERE id = 1")
        .execute(&mut **tx)
        .await
        .map_err(store)?;
    sqlx::query("INSERT INTO audit_events (at, actor, ip, action, account_id, detail) VALUES ($1, $2, $3, $4, '', $5)")
        .bind(now)
        .bind(actor.who.as_str())
        .bind(actor.ip.as_deref())
        .bind(action)
        .bind(serde_json::json!({ "target": target }).to_string())
        .execute(&mut **tx)
        .await
        .map_err(store)?;
    Ok(())
}

/// Lower-case hex of `bytes`.
fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

/// 32 bytes from 64 hex digits.
fn unhex32(s: &str) -> Option<[u8; 32]> {
    if s.len() != 64 {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, o) in out.iter_mut().enumerate() {
        *o = u8::from_str_radix(s.get(2 * i..2 * i + 2)?, 16).ok()?;
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn problem_keys_become_json_pointers() {
        assert_eq!(pointer_of("issuer"), "/issuer");
        assert_eq!(pointer_of("claims.subject"), "/claims/subject");
        assert_eq!(pointer_of("domains[0]"), "/domains/0");
        assert_eq!(pointer_of("extra_params.a/b"), "/extra_params/a~1b");
        assert_eq!(pointer_of("-"), "");
    }

    #[test]
    fn hex_round_trips() {
        let b = [7u8; 32];
        assert_eq!(unhex32(&hex(&b)), Some(b));
        assert_eq!(unhex32("zz"), None);
    }
}
