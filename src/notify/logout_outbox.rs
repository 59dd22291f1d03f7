//! The back-channel logout outbox: one `logout_outbox` row per logout token to send to an
//! application (OIDC Back-Channel Logout 1.0), written by [`enqueue`] in the same SQL
//! transaction that revokes the grants of the session or account that ended, and the
//! [`LogoutNotifier`] that POSTs them.
//!
//! It follows the webhook outbox (see [`super`]): a row exists exactly when its revocation was
//! committed, so nothing is lost across a restart and the person's request never waits for an
//! application; replicas claim a row with one conditional `UPDATE` before sending it. The token
//! is signed at every attempt with braid's current key (fresh `iat`/`exp`, the row's `jti`).
//! An answer of 200 or 204 delivers the row; anything else is retried after 2, 4, 8, … seconds
//! (at most an hour) up to `notify.max_attempts` attempts, then kept undelivered for an operator.
//! Rows for a client that has no `backchannel_logout_uri` (any more) are closed unsent.

use std::sync::Arc;
use std::time::Duration;

use sqlx::Row;

use super::{LEASE_MS, MAX_ERROR_CHARS, RETENTION_MS, backoff_ms};
use crate::accounts::AccountId;
use crate::clock::{SharedClock, UnixMillis};
use crate::config::NotifySettings;
use crate::db::Db;
use crate::issuer::app_logout;
use crate::issuer::clients::LiveClients;
use crate::issuer::keyring::KeyRing;

/// What ended.
#[derive(Debug, Clone, Copy)]
pub enum Ended<'a> {
    /// One browser session, by its public id (the `sid` claim).
    Session(&'a str),
    /// Every session of an account (the account stays): one token per client and session.
    Sessions(&'a AccountId),
    /// The account itself (disabled, merged away, deleted): one token per client with `sub`
    /// only, or per session for a client that requires `sid`.
    Account(&'a AccountId),
}

/// Write the logout tokens owed for `ended` into the outbox, as part of the caller's transaction
/// (pass `&mut *tx`), before its grants are revoked: one per client holding a live grant of the
/// session or account. Returns how many rows were written.
pub async fn enqueue(conn: &mut sqlx::AnyConnection, ended: Ended<'_>, now: UnixMillis) -> Result<usize, sqlx::Error> {
    let (filter, value) = match ended {
        Ended::Session(sid) => ("sid", sid),
        Ended::Sessions(a) | Ended::Account(a) => ("account_id", a.as_str()),
    };
    let rows = sqlx::query(&format!(
        "SELECT DISTINCT client_id, account_id, sid FROM grants \
         WHERE {filter} = $1 AND revoked_at IS NULL AND expires_at > $2 ORDER BY client_id, sid"
    ))
    .bind(value)
    .bind(now)
    .fetch_all(&mut *conn)
    .await?;
    let mut owed: Vec<(String, String, Option<String>, &str)> = Vec::with_capacity(rows.len() * 2);
    for r in &rows {
        let (client, account, sid): (String, String, String) =
            (r.try_get("client_id")?, r.try_get("account_id")?, r.try_get("sid")?);
        if matches!(ended, Ended::Account(_)) {
            if !owed.iter().any(|(c, a, s, _)| *c == client && *a == account && s.is_none()) {
                owed.push((client.clone(), account.clone(), None, "account"));
            }
            owed.push((client, account, Some(sid), "account_session"));
        } else {
            owed.push((client, account, Some(sid), "session"));
        }
    }
    for (client, account, sid, kind) in &owed {
        sqlx::query(
            "INSERT INTO logout_outbox (jti, client_id, account_id, sid, kind, created_at, attempts, next_attempt_at) \
             VALUES ($1, $2, $3, $4, $5, $6, 0, $6)",
        )
        .bind(crate::ids::random_token(16))
        .bind(client)
        .bind(account)
        .bind(sid.as_deref())
        .bind(*kind)
        .bind(now)
        .execute(&mut *conn)
        .await?;
    }
    Ok(owed.len())
}

/// The worker that delivers logout tokens.
pub struct LogoutNotifier {
    db: Db,
    http: reqwest::Client,
    clients: Arc<LiveClients>,
    keys: Arc<KeyRing>,
    issuer: Arc<str>,
    clock: SharedClock,
    max_attempts: i64,
    timeout: Duration,
    poll_interval: Duration,
}

/// One claimed row.
struct Claimed {
    jti: String,
    client_id: String,
    account_id: String,
    sid: Option<String>,
    kind: String,
    attempts: i64,
}

impl LogoutNotifier {
    /// A notifier over `db`, signing as `issuer` with `keys`, with the limits of `[notify]`.
    pub fn new(
        db: Db,
        clients: Arc<LiveClients>,
        keys: Arc<KeyRing>,
        issuer: Arc<str>,
        clock: SharedClock,
        settings: &NotifySettings,
    ) -> Result<Self, String> {
        let timeout = Duration::from_millis(settings.timeout_ms.max(1));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout)
            .timeout(timeout)
            .user_agent(concat!("braid/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("logout HTTP client: {e}"))?;
        Ok(Self {
            db,
            http,
            clients,
            keys,
            issuer,
            clock,
            max_attempts: i64::try_from(settings.max_attempts).unwrap_or(i64::MAX),
            timeout,
            poll_interval: Duration::from_millis(settings.poll_interval_ms.max(1)),
        })
    }

    /// How many rows are not delivered (due, waiting for a retry, or given up).
    pub async fn queue_depth(&self) -> Result<i64, sqlx::Error> {
        sqlx::query("SELECT COUNT(*) AS n FROM logout_outbox WHERE delivered_at IS NULL")
            .fetch_one(&self.db.pool)
            .await?
            .try_get("n")
    }

    /// Deliver every due row once; returns how many were delivered or closed. A failing client is
    /// recorded on its row; `Err` means the database failed.
    pub async fn run_once(&self) -> Result<usize, sqlx::Error> {
        super::drain(&self.db, "logout_outbox", self.clock.now_ms(), self.max_attempts, |id| self.deliver(id)).await
    }

    /// Read the outbox every `notify.poll_interval_ms` until the handle is aborted.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(self.poll_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_prune = i64::MIN;
            loop {
                tick.tick().await;
                match self.run_once().await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(delivered = n, "logout tokens delivered"),
                    Err(e) => {
                        crate::metrics::store_error("sql");
                        tracing::warn!(error = %e, "logout outbox could not be read or updated");
                    }
                }
                let now = self.clock.now_ms();
                if now.saturating_sub(last_prune) >= 3_600_000 {
                    last_prune = now;
                    let cutoff = now.saturating_sub(RETENTION_MS);
                    if let Err(e) =
                        sqlx::query("DELETE FROM logout_outbox WHERE delivered_at IS NOT NULL AND delivered_at < $1")
                            .bind(cutoff)
                            .execute(&self.db.pool)
                            .await
                    {
                        tracing::warn!(error = %e, "logout outbox could not be pruned");
                    }
                }
            }
        })
    }

    async fn claim(&self, id: i64) -> Result<Option<Claimed>, sqlx::Error> {
        let now = self.clock.now_ms();
        let lease = LEASE_MS.saturating_add(i64::try_from(self.timeout.as_millis()).unwrap_or(i64::MAX));
        let row = sqlx::query(
            "UPDATE logout_outbox SET next_attempt_at = $1 \
             WHERE id = $2 AND delivered_at IS NULL AND next_attempt_at <= $3 AND attempts < $4 \
             RETURNING jti, client_id, account_id, sid, kind, attempts",
        )
        .bind(now.saturating_add(lease))
        .bind(id)
        .bind(now)
        .bind(self.max_attempts)
        .fetch_optional(&self.db.pool)
        .await?;
        let Some(r) = row else { return Ok(None) };
        Ok(Some(Claimed {
            jti: r.try_get("jti")?,
            client_id: r.try_get("client_id")?,
            account_id: r.try_get("account_id")?,
            sid: r.try_get("sid")?,
            kind: r.try_get("kind")?,
            attempts: r.try_get("attempts")?,
        }))
    }

    /// Claim row `id`, send its token and record the outcome; `true` if delivered or closed.
    async fn deliver(&self, id: i64) -> Result<bool, sqlx::Error> {
        // No row: another replica claimed it (or finished it) first.
        let Some(row) = self.claim(id).await? else { return Ok(false) };
        let client = self.clients.get(&row.client_id);
        let uri = client.as_ref().and_then(|c| c.logout.backchannel_logout_uri.clone());
        let (Some(client), Some(uri)) = (client, uri) else {
            return self.close(id, "not sent: the client has no backchannel_logout_uri").await;
        };
        let wants_sid = client.logout.backchannel_logout_session_required;
        match row.kind.as_str() {
            "account" if wants_sid => {
                return self.close(id, "not sent: the client requires sid (sent per session)").await;
            }
            "account_session" if !wants_sid => {
                return self.close(id, "not sent: the token with sub only covers it").await;
            }
            _ => {}
        }
        let sub = app_logout::subject_for(&self.keys, &client, &AccountId(row.account_id.clone()));
        let sid = if row.kind == "account" { None } else { row.sid.as_deref() };
        let claims = app_logout::claims(&self.issuer, &client.id, &sub, sid, &row.jti, self.clock.now_secs());
        // Signed as the client's ID tokens are: that is the key and algorithm it verifies.
        let keys = self.keys.snapshot();
        let alg = client.token_shape.id_token_alg.unwrap_or(keys.set.default_alg());
        let outcome = match keys.set.current_for(alg) {
            None => Err(format!("no {} signing key", alg.as_str())),
            Some(key) => match app_logout::sign(key, &claims) {
                Ok(token) => self.send(&uri, &token).await,
                Err(e) => Err(format!("signing failed: {e}")),
            },
        };
        let now = self.clock.now_ms();
        if outcome.is_ok() {
            sqlx::query("UPDATE logout_outbox SET delivered_at = $1 WHERE id = $2 AND delivered_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&self.db.pool)
                .await?;
            return Ok(true);
        }
        let reason: String = outcome.err().unwrap_or_default().chars().take(MAX_ERROR_CHARS).collect();
        let attempts = row.attempts.saturating_add(1);
        sqlx::query(
            "UPDATE logout_outbox SET attempts = $1, last_error = $2, next_attempt_at = $3 \
             WHERE id = $4 AND delivered_at IS NULL",
        )
        .bind(attempts)
        .bind(&reason)
        .bind(now.saturating_add(backoff_ms(attempts)))
        .bind(id)
        .execute(&self.db.pool)
        .await?;
        if attempts >= self.max_attempts {
            tracing::error!(client = %row.client_id, jti = %row.jti, attempts, error = %reason, "logout token given up");
        } else {
            tracing::warn!(client = %row.client_id, jti = %row.jti, attempts, error = %reason, "logout token not delivered; will retry");
        }
        Ok(false)
    }

    /// Mark row `id` done without sending, saying why.
    async fn close(&self, id: i64, why: &str) -> Result<bool, sqlx::Error> {
        sqlx::query(
            "UPDATE logout_outbox SET delivered_at = $1, last_error = $2 WHERE id = $3 AND delivered_at IS NULL",
        )
        .bind(self.clock.now_ms())
        .bind(why)
        .bind(id)
        .execute(&self.db.pool)
        .await?;
        Ok(true)
    }

    /// POST the token as a form (Back-Channel Logout 1.0 §2.5); 200 or 204 is success.
    async fn send(&self, uri: &str, token: &str) -> Result<(), String> {
        let resp = self.http.post(uri).form(&[("logout_token", token)]).send().await.map_err(super::describe)?;
        match resp.status().as_u16() {
            200 | 204 => Ok(()),
            s => Err(format!("HTTP {s}")),
        }
    }
}
