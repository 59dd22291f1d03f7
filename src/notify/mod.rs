//! Notifications of account changes, from durable outboxes written in the change's own
//! transaction: webhooks (this module) and emails to the person ([`email`], [`email_outbox`],
//! [`message`]).
//!
//! Webhooks: every change to an account or a link writes one row into `webhook_outbox` with [`enqueue`],
//! in the same SQL transaction as the change itself: a notification exists exactly when the
//! change was committed, and a rolled-back change never notifies anyone. A [`Notifier`] (one
//! per braid replica, started with [`Notifier::spawn`]) then POSTs each due row to every
//! configured `[[webhooks]]` URL:
//!
//! - the body is the event JSON, byte for byte as stored, with `Content-Type: application/json`;
//! - `X-Braid-Event-Id` is the event's `id`, `X-Braid-Timestamp` the send time in Unix seconds;
//! - `X-Braid-Signature: v1=<hex>` is the lowercase hex HMAC-SHA256, keyed with the webhook's
//!   secret, of `<timestamp>.<body>` (see [`signature`]). Receivers recompute it, compare in
//!   constant time, and may refuse timestamps too far from their own clock.
//!
//! A row is delivered when every webhook answers 2xx. Otherwise its `attempts` grows,
//! `last_error` says why (never a secret), and it is tried again after 2, 4, 8, … seconds (at
//! most an hour) until `notify.max_attempts` attempts were made; then it stays in the table,
//! undelivered, for an operator to inspect. With no webhook configured, due rows are marked
//! delivered without sending anything.
//!
//! Replicas share the outbox. Before sending a row, a replica claims it with one conditional
//! `UPDATE` that moves `next_attempt_at` a lease ahead only while the row is still due; the
//! replica whose `UPDATE` changed the row sends it, the others skip it. No transaction is held
//! open across an HTTP call.
//!
//! Delivery is **at least once**: a crash between the POST and the bookkeeping, a send that
//! outlasts its lease, or a retry after one of several webhooks failed (the retry goes to every
//! webhook again) repeats a notification. Receivers must dedupe by `X-Braid-Event-Id`. Order
//! across events is not guaranteed either.

pub mod email;
pub mod email_outbox;
pub mod logout_outbox;
pub mod message;

use std::time::Duration;

use aws_lc_rs::hmac;
use secrecy::{ExposeSecret, SecretString};
use sqlx::Row;

use crate::clock::{SharedClock, UnixMillis};
use crate::config::{NotifySettings, Settings, resolve_secret};
use crate::db::Db;

/// How long a claimed row is reserved for the replica sending it, beyond the request timeouts.
pub(crate) const LEASE_MS: i64 = 60_000;
/// How long delivered rows are kept (7 days).
pub const RETENTION_MS: i64 = 7 * 24 * 3_600_000;
/// The longest wait between two attempts, in seconds.
const MAX_BACKOFF_SECS: i64 = 3600;
/// Due rows read per query.
pub(crate) const BATCH: i64 = 100;

/// Offer every due row of outbox `table` (undelivered, due at `now`, under `max_attempts`) to
/// `deliver`, a batch at a time, oldest first; returns how many `deliver` said were done. Every
/// row read is delivered, rescheduled or claimed by another replica by the time `deliver`
/// returns, so a full batch means more rows may be due, never the same ones again.
pub(crate) async fn drain<F, Fut>(
    db: &Db,
    table: &'static str,
    now: i64,
    max_attempts: i64,
    deliver: F,
) -> Result<usize, sqlx::Error>
where
    F: Fn(i64) -> Fut,
    Fut: std::future::Future<Output = Result<bool, sqlx::Error>>,
{
    let select = format!(
        "SELECT id FROM {table} WHERE delivered_at IS NULL AND next_attempt_at <= $1 AND attempts < $2 \
         ORDER BY id LIMIT $3"
    );
    let mut done = 0;
    loop {
        let rows = sqlx::query(&select).bind(now).bind(max_attempts).bind(BATCH).fetch_all(&db.pool).await?;
        for row in &rows {
            if deliver(row.try_get("id")?).await? {
                done += 1;
            }
        }
        if rows.len() < usize::try_from(BATCH).unwrap_or(usize::MAX) {
            return Ok(done);
        }
    }
}
/// The longest `last_error` kept, in characters.
pub(crate) const MAX_ERROR_CHARS: usize = 500;

/// Write `event` into the outbox as part of the caller's transaction (pass `&mut *tx`).
///
/// `event["id"]` (a non-empty string) is the event id receivers dedupe by; the payload is the
/// event as JSON; the row is due at `now`. Enqueuing an event id that is already in the outbox
/// changes nothing.
pub async fn enqueue(
    conn: &mut sqlx::AnyConnection,
    event: &serde_json::Value,
    now: UnixMillis,
) -> Result<(), sqlx::Error> {
    let event_id = match event.get("id").and_then(serde_json::Value::as_str) {
        Some(id) if !id.is_empty() => id,
        _ => return Err(sqlx::Error::Encode("webhook event needs a non-empty string `id`".into())),
    };
    let payload = serde_json::to_string(event).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    sqlx::query(
        "INSERT INTO webhook_outbox (event_id, created_at, payload, attempts, next_attempt_at) \
         VALUES ($1, $2, $3, 0, $2) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(event_id)
    .bind(now)
    .bind(payload)
    .execute(conn)
    .await?;
    Ok(())
}

/// The `X-Braid-Signature` value: `v1=` and the lowercase hex HMAC-SHA256 of
/// `<timestamp>.<body>` keyed with `secret`.
pub fn signature(secret: &[u8], timestamp: i64, body: &[u8]) -> String {
    const HEX: &[u8; 16] = b"0123456789abcdef";
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret);
    let mut ctx = hmac::Context::with_key(&key);
    ctx.update(timestamp.to_string().as_bytes());
    ctx.update(b".");
    ctx.update(body);
    let tag = ctx.sign();
    let mut out = String::with_capacity(3 + 2 * tag.as_ref().len());
    out.push_str("v1=");
    for b in tag.as_ref() {
        out.push(char::from(HEX[usize::from(b >> 4)]));
        out.push(char::from(HEX[usize::from(b & 0x0f)]));
    }
    out
}

/// The wait after the `attempts`-th failed attempt: 2^attempts seconds, at most an hour.
pub(crate) fn backoff_ms(attempts: i64) -> i64 {
    let secs = if (0..12).contains(&attempts) { (1_i64 << attempts).min(MAX_BACKOFF_SECS) } else { MAX_BACKOFF_SECS };
    secs * 1000
}

/// A receiver of notifications.
#[derive(Debug, Clone)]
pub struct Webhook {
    /// Where notifications are POSTed.
    pub url: String,
    /// The key of the `X-Braid-Signature` HMAC.
    pub secret: SecretString,
}

impl Webhook {
    /// The `[[webhooks]]` of `settings`, secrets resolved (`${ENV}` references, `secret_file`).
    pub fn from_settings(settings: &Settings) -> Result<Vec<Webhook>, String> {
        let mut hooks = Vec::with_capacity(settings.webhooks.len());
        for (i, w) in settings.webhooks.iter().enumerate() {
            let key = format!("webhooks[{i}].secret");
            let secret = resolve_secret(w.secret.as_ref(), w.secret_file.as_deref(), &key)?
                .ok_or_else(|| format!("key `{key}`: a signing secret is needed"))?;
            if secret.expose_secret().is_empty() {
                return Err(format!("key `{key}`: the signing secret is empty"));
            }
            hooks.push(Webhook { url: w.url.clone(), secret });
        }
        Ok(hooks)
    }
}

/// The worker that delivers the outbox to the webhooks.
pub struct Notifier {
    db: Db,
    http: reqwest::Client,
    hooks: Vec<Webhook>,
    clock: SharedClock,
    max_attempts: i64,
    timeout: Duration,
    poll_interval: Duration,
    /// Read the queue depth for `braid_webhook_queue_depth` after every round.
    report_depth: bool,
}

impl Notifier {
    /// A notifier over `db` sending to `hooks`, with the limits of `[notify]`.
    pub fn new(db: Db, hooks: Vec<Webhook>, clock: SharedClock, settings: &NotifySettings) -> Result<Self, String> {
        let timeout = Duration::from_millis(settings.timeout_ms.max(1));
        let http = reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .connect_timeout(timeout)
            .timeout(timeout)
            .user_agent(concat!("braid/", env!("CARGO_PKG_VERSION")))
            .build()
            .map_err(|e| format!("webhook HTTP client: {e}"))?;
        Ok(Self {
            db,
            http,
            hooks,
            clock,
            max_attempts: i64::try_from(settings.max_attempts).unwrap_or(i64::MAX),
            timeout,
            poll_interval: Duration::from_millis(settings.poll_interval_ms.max(1)),
            report_depth: false,
        })
    }

    /// A notifier for the `[[webhooks]]` and `[notify]` of `settings`.
    pub fn from_settings(db: Db, settings: &Settings, clock: SharedClock) -> Result<Self, String> {
        let mut notifier = Self::new(db, Webhook::from_settings(settings)?, clock, &settings.notify)?;
        notifier.report_depth = settings.metrics.enabled;
        Ok(notifier)
    }

    /// How many rows of the outbox are not delivered (due, waiting for a retry, or given up).
    pub async fn queue_depth(&self) -> Result<i64, sqlx::Error> {
        let row = sqlx::query("SELECT COUNT(*) AS n FROM webhook_outbox WHERE delivered_at IS NULL")
            .fetch_one(&self.db.pool)
            .await?;
        row.try_get("n")
    }

    /// Deliver every due row once (claiming each first, see the module doc); returns how many
    /// rows were marked delivered. A failing or unreachable webhook is recorded on its row, not
    /// returned; an `Err` means the database failed.
    pub async fn run_once(&self) -> Result<usize, sqlx::Error> {
        if self.hooks.is_empty() {
            let done = sqlx::query(
                "UPDATE webhook_outbox SET delivered_at = $1 \
                 WHERE delivered_at IS NULL AND next_attempt_at <= $1 AND attempts < $2",
            )
            .bind(self.clock.now_ms())
            .bind(self.max_attempts)
            .execute(&self.db.pool)
            .await?;
            return Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX));
        }
        drain(&self.db, "webhook_outbox", self.clock.now_ms(), self.max_attempts, |id| self.deliver(id)).await
    }

    /// Read the outbox every `notify.poll_interval_ms` in a task of its own until the runtime
    /// stops (or the handle is aborted); errors are logged and the next round tries again.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(self.poll_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_prune = i64::MIN;
            loop {
                tick.tick().await;
                match self.run_once().await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(delivered = n, "webhook notifications delivered"),
                    Err(e) => {
                        crate::metrics::store_error("sql");
                        tracing::warn!(error = %e, "webhook outbox could not be read or updated");
                    }
                }
                if self.report_depth {
                    match self.queue_depth().await {
                        Ok(n) => crate::metrics::webhook_queue_depth(n),
                        Err(e) => tracing::warn!(error = %e, "webhook outbox depth could not be read"),
                    }
                }
                let now = self.clock.now_ms();
                if now.saturating_sub(last_prune) >= 3_600_000 {
                    last_prune = now;
                    if let Err(e) = self.prune().await {
                        tracing::warn!(error = %e, "webhook outbox could not be pruned");
                    }
                }
            }
        })
    }

    /// Delete delivered rows older than [`RETENTION_MS`]; undelivered rows stay for inspection.
    pub async fn prune(&self) -> Result<u64, sqlx::Error> {
        let cutoff = self.clock.now_ms().saturating_sub(RETENTION_MS);
        let done = sqlx::query("DELETE FROM webhook_outbox WHERE delivered_at IS NOT NULL AND delivered_at < $1")
            .bind(cutoff)
            .execute(&self.db.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// How long a claim lasts: the lease plus time for every webhook to time out in turn.
    fn lease_ms(&self) -> i64 {
        let per_hook = i64::try_from(self.timeout.as_millis()).unwrap_or(i64::MAX);
        let hooks = i64::try_from(self.hooks.len()).unwrap_or(i64::MAX);
        LEASE_MS.saturating_add(per_hook.saturating_mul(hooks))
    }

    /// Claim row `id`, send it to every webhook and record the outcome; `true` if delivered.
    async fn deliver(&self, id: i64) -> Result<bool, sqlx::Error> {
        let now = self.clock.now_ms();
        let claimed = sqlx::query(
            "UPDATE webhook_outbox SET next_attempt_at = $1 \
             WHERE id = $2 AND delivered_at IS NULL AND next_attempt_at <= $3 AND attempts < $4 \
             RETURNING event_id, payload, attempts",
        )
        .bind(now.saturating_add(self.lease_ms()))
        .bind(id)
        .bind(now)
        .bind(self.max_attempts)
        .fetch_optional(&self.db.pool)
        .await?;
        // No row: another replica claimed it (or finished it) first.
        let Some(row) = claimed else { return Ok(false) };
        let event_id: String = row.try_get("event_id")?;
        let payload: String = row.try_get("payload")?;
        let attempts: i64 = row.try_get("attempts")?;

        let timestamp = self.clock.now_secs();
        let mut failures = Vec::new();
        for (i, hook) in self.hooks.iter().enumerate() {
            if let Err(reason) = self.send(hook, &event_id, timestamp, payload.as_bytes()).await {
                failures.push(format!("webhooks[{i}]: {reason}"));
            }
        }

        let now = self.clock.now_ms();
        if failures.is_empty() {
            sqlx::query("UPDATE webhook_outbox SET delivered_at = $1 WHERE id = $2 AND delivered_at IS NULL")
                .bind(now)
                .bind(id)
                .execute(&self.db.pool)
                .await?;
            return Ok(true);
        }
        let attempts = attempts.saturating_add(1);
        let reason: String = failures.join("; ").chars().take(MAX_ERROR_CHARS).collect();
        sqlx::query(
            "UPDATE webhook_outbox SET attempts = attempts + 1, last_error = $1, next_attempt_at = $2 \
             WHERE id = $3 AND delivered_at IS NULL",
        )
        .bind(&reason)
        .bind(now.saturating_add(backoff_ms(attempts)))
        .bind(id)
        .execute(&self.db.pool)
        .await?;
        if attempts >= self.max_attempts {
            tracing::error!(event_id, attempts, error = %reason, "webhook notification given up");
        } else {
            tracing::warn!(event_id, attempts, error = %reason, "webhook notification failed; will retry");
        }
        Ok(false)
    }

    /// POST `body` to one webhook; `Err` is a short reason for `last_error`.
    async fn send(&self, hook: &Webhook, event_id: &str, timestamp: i64, body: &[u8]) -> Result<(), String> {
        let resp = self
            .http
            .post(hook.url.as_str())
            .header(reqwest::header::CONTENT_TYPE, "application/json")
            .header("X-Braid-Event-Id", event_id)
            .header("X-Braid-Timestamp", timestamp.to_string())
            .header("X-Braid-Signature", signature(hook.secret.expose_secret().as_bytes(), timestamp, body))
            .body(body.to_vec())
            .send()
            .await
            .map_err(describe)?;
        let status = resp.status();
        if status.is_success() { Ok(()) } else { Err(format!("HTTP {}", status.as_u16())) }
    }
}

/// A short description of a failed request, without the URL (it may carry credentials).
fn describe(e: reqwest::Error) -> String {
    let what = if e.is_timeout() {
        "timed out"
    } else if e.is_connect() {
        "unreachable"
    } else if e.is_builder() {
        "bad request"
    } else {
        "request failed"
    };
    let e = e.without_url();
    let mut detail = Vec::new();
    let mut source = std::error::Error::source(&e);
    while let Some(s) = source {
        detail.push(s.to_string());
        source = s.source();
    }
    if detail.is_empty() { format!("{what}: {e}") } else { format!("{what}: {}", detail.join(": ")) }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_signature_is_v1_and_the_hex_hmac_of_timestamp_dot_body() {
        // python3 -c 'import hmac,hashlib;print(hmac.new(b"whsec_test",
        //   b"1700000000.{\"id\":\"evt_1\"}",hashlib.sha256).hexdigest())'
        assert_eq!(
            signature(b"whsec_test", 1_700_000_000, br#"{"id":"evt_1"}"#),
            "v1=c89214b5b5da833daed6f0b8c5bb6bd58cea9022bd80ccc78230f3942d632925"
        );
    }

    #[test]
    fn the_backoff_doubles_from_two_seconds_up_to_an_hour() {
        assert_eq!(backoff_ms(1), 2_000);
        assert_eq!(backoff_ms(2), 4_000);
        assert_eq!(backoff_ms(3), 8_000);
        assert_eq!(backoff_ms(11), 2_048_000);
        assert_eq!(backoff_ms(12), 3_600_000);
        assert_eq!(backoff_ms(500), 3_600_000);
    }
}
