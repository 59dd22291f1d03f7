//! The email outbox: one `email_outbox` row per message (one change, one recipient), written by
//! [`enqueue`] in the same SQL transaction as the change, and the [`EmailNotifier`] that sends
//! the due rows through the `[notify.email]` SMTP server.
//!
//! It follows the webhook outbox (see [`super`]): a row exists exactly when its change was
//! committed, so nothing is lost across a restart; the person's request never waits for SMTP;
//! a failed send is retried after 2, 4, 8, … seconds (at most an hour) up to
//! `notify.max_attempts` times, and then stays undelivered for an operator to inspect.
//!
//! Replicas share the outbox. A replica claims a row with one conditional `UPDATE` that moves
//! `next_attempt_at` a lease ahead only while the row is still due (atomic on SQLite and on
//! PostgreSQL, where the second `UPDATE` waits for the first and then finds the row no longer
//! due); only the replica whose `UPDATE` changed the row sends it. A send is cut off well within
//! its lease, so no other replica can claim a row while it is being sent. Only a crash between
//! the SMTP server's acceptance and the bookkeeping repeats a message, with the same
//! Message-ID.
//!
//! Without `[notify.email]`, due rows are marked delivered without sending anything (`last_error`
//! says so), as the webhook outbox does without webhooks.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sqlx::Row;

use super::email::{Mailer, SendError};
use super::message::{ChangeFacts, render};
use super::{LEASE_MS, MAX_ERROR_CHARS, RETENTION_MS, backoff_ms};
use crate::clock::{SharedClock, UnixMillis};
use crate::config::{NotifySettings, Settings};
use crate::db::Db;

/// SMTP exchanges (connect, EHLO, STARTTLS, AUTH, MAIL, RCPT, DATA, QUIT) one send may take, each
/// within `notify.timeout_ms`: the send is cut off after that many timeouts.
const EXCHANGES_PER_SEND: u32 = 10;
/// What `last_error` says of rows discarded because no SMTP server is configured.
const NOT_CONFIGURED: &str = "not sent: no [notify.email]";

/// Write one message per address of `recipients` into the outbox, as part of the caller's
/// transaction (pass `&mut *tx`). Addresses are trimmed and deduplicated without regard to case
/// (the first spelling is kept); empty ones are skipped. Each row gets a fresh random message
/// id and is due at `now`.
pub async fn enqueue(
    conn: &mut sqlx::AnyConnection,
    event_id: &str,
    facts: &ChangeFacts,
    recipients: &[String],
    now: UnixMillis,
) -> Result<usize, sqlx::Error> {
    let payload = serde_json::to_string(facts).map_err(|e| sqlx::Error::Encode(Box::new(e)))?;
    let mut seen = HashSet::new();
    let mut written = 0;
    for address in recipients.iter().map(|a| a.trim()).filter(|a| !a.is_empty()) {
        if !seen.insert(address.to_lowercase()) {
            continue;
        }
        sqlx::query(
            "INSERT INTO email_outbox (message_id, event_id, recipient, created_at, payload, attempts, \
             next_attempt_at) VALUES ($1, $2, $3, $4, $5, 0, $4)",
        )
        .bind(crate::ids::random_token(16))
        .bind(event_id)
        .bind(address)
        .bind(now)
        .bind(&payload)
        .execute(&mut *conn)
        .await?;
        written += 1;
    }
    Ok(written)
}

/// The worker that sends the email outbox.
pub struct EmailNotifier {
    db: Db,
    mailer: Option<Mailer>,
    clock: SharedClock,
    public_url: String,
    max_attempts: i64,
    send_budget: Duration,
    poll_interval: Duration,
}

impl EmailNotifier {
    /// A notifier over `db` sending with `mailer` (none: discard), with the limits of
    /// `[notify]`; `public_url` is braid's, for the links in the messages.
    pub fn new(
        db: Db,
        mailer: Option<Mailer>,
        clock: SharedClock,
        public_url: &str,
        settings: &NotifySettings,
    ) -> Self {
        let timeout = Duration::from_millis(settings.timeout_ms.max(1));
        Self {
            db,
            mailer,
            clock,
            public_url: public_url.trim_end_matches('/').to_owned(),
            max_attempts: i64::try_from(settings.max_attempts).unwrap_or(i64::MAX),
            send_budget: timeout.saturating_mul(EXCHANGES_PER_SEND),
            poll_interval: Duration::from_millis(settings.poll_interval_ms.max(1)),
        }
    }

    /// A notifier for the `[notify]` and `[notify.email]` of `settings`.
    pub fn from_settings(db: Db, settings: &Settings, clock: SharedClock) -> Result<Self, String> {
        let timeout = Duration::from_millis(settings.notify.timeout_ms.max(1));
        let public_url = settings.public_url();
        let mailer = match &settings.notify.email {
            Some(email) => Some(Mailer::from_settings(email, &public_url, timeout)?),
            None => None,
        };
        Ok(Self::new(db, mailer, clock, &public_url, &settings.notify))
    }

    /// Send every due row once (claiming each first); returns how many were delivered (or, with
    /// no mailer, discarded). A failing SMTP server is recorded on the row; `Err` means the
    /// database failed.
    pub async fn run_once(&self) -> Result<usize, sqlx::Error> {
        if self.mailer.is_none() {
            let done = sqlx::query(
                "UPDATE email_outbox SET delivered_at = $1, last_error = $2 \
                 WHERE delivered_at IS NULL AND next_attempt_at <= $1 AND attempts < $3",
            )
            .bind(self.clock.now_ms())
            .bind(NOT_CONFIGURED)
            .bind(self.max_attempts)
            .execute(&self.db.pool)
            .await?;
            return Ok(usize::try_from(done.rows_affected()).unwrap_or(usize::MAX));
        }
        super::drain(&self.db, "email_outbox", self.clock.now_ms(), self.max_attempts, |id| self.deliver(id)).await
    }

    /// Read the outbox every `notify.poll_interval_ms` in a task of its own until the handle is
    /// aborted; errors are logged and the next round tries again.
    pub fn spawn(self) -> tokio::task::JoinHandle<()> {
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(self.poll_interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut last_prune = i64::MIN;
            loop {
                tick.tick().await;
                match self.run_once().await {
                    Ok(0) => {}
                    Ok(n) => tracing::debug!(delivered = n, "emails sent"),
                    Err(e) => tracing::warn!(error = %e, "email outbox could not be read or updated"),
                }
                let now = self.clock.now_ms();
                if now.saturating_sub(last_prune) >= 3_600_000 {
                    last_prune = now;
                    if let Err(e) = self.prune().await {
                        tracing::warn!(error = %e, "email outbox could not be pruned");
                    }
                }
            }
        })
    }

    /// Delete delivered rows older than [`RETENTION_MS`]; undelivered rows stay for inspection.
    pub async fn prune(&self) -> Result<u64, sqlx::Error> {
        let cutoff = self.clock.now_ms().saturating_sub(RETENTION_MS);
        let done = sqlx::query("DELETE FROM email_outbox WHERE delivered_at IS NOT NULL AND delivered_at < $1")
            .bind(cutoff)
            .execute(&self.db.pool)
            .await?;
        Ok(done.rows_affected())
    }

    /// How long a claim lasts: longer than a send may take, with a margin.
    fn lease_ms(&self) -> i64 {
        LEASE_MS.saturating_add(i64::try_from(self.send_budget.as_millis()).unwrap_or(i64::MAX))
    }

    /// Claim row `id`, send it and record the outcome; `true` if delivered.
    async fn deliver(&self, id: i64) -> Result<bool, sqlx::Error> {
        let Some(mailer) = &self.mailer else { return Ok(false) };
        let now = self.clock.now_ms();
        let claimed = sqlx::query(
            "UPDATE email_outbox SET next_attempt_at = $1 \
             WHERE id = $2 AND delivered_at IS NULL AND next_attempt_at <= $3 AND attempts < $4 \
             RETURNING message_id, recipient, payload, attempts",
        )
        .bind(now.saturating_add(self.lease_ms()))
        .bind(id)
        .bind(now)
        .bind(self.max_attempts)
        .fetch_optional(&self.db.pool)
        .await?;
        // No row: another replica claimed it (or finished it) first.
        let Some(row) = claimed else { return Ok(false) };
        let message_id: String = row.try_get("message_id")?;
        let recipient: String = row.try_get("recipient")?;
        let payload: String = row.try_get("payload")?;
        let attempts: i64 = row.try_get("attempts")?;

        let outcome = match serde_json::from_str::<ChangeFacts>(&payload) {
            Err(e) => Err(SendError::Permanent(format!("unreadable payload: {e}"))),
            Ok(facts) => match render(&facts, &recipient, &self.public_url) {
                None => Err(SendError::Permanent(format!("no message for `{}`", facts.action))),
                Some(message) => {
                    let send = mailer.send(&recipient, &message_id, message, system_time(now));
                    match tokio::time::timeout(self.send_budget, send).await {
                        Ok(result) => result,
                        Err(_) => Err(SendError::Retry("timed out".into())),
                    }
                }
            },
        };

        let now = self.clock.now_ms();
        let (reason, attempts, next) = match outcome {
            Ok(()) => {
                sqlx::query("UPDATE email_outbox SET delivered_at = $1 WHERE id = $2 AND delivered_at IS NULL")
                    .bind(now)
                    .bind(id)
                    .execute(&self.db.pool)
                    .await?;
                return Ok(true);
            }
            // Retrying cannot help: the row is given up at once.
            Err(SendError::Permanent(reason)) => (reason, self.max_attempts.max(attempts.saturating_add(1)), now),
            Err(SendError::Retry(reason)) => {
                let attempts = attempts.saturating_add(1);
                (reason, attempts, now.saturating_add(backoff_ms(attempts)))
            }
        };
        let reason: String = reason.chars().take(MAX_ERROR_CHARS).collect();
        sqlx::query(
            "UPDATE email_outbox SET attempts = $1, last_error = $2, next_attempt_at = $3 \
             WHERE id = $4 AND delivered_at IS NULL",
        )
        .bind(attempts)
        .bind(&reason)
        .bind(next)
        .bind(id)
        .execute(&self.db.pool)
        .await?;
        if attempts >= self.max_attempts {
            tracing::error!(message_id, attempts, error = %reason, "email given up");
        } else {
            tracing::warn!(message_id, attempts, error = %reason, "email not sent; will retry");
        }
        Ok(false)
    }
}

/// `SystemTime` of a Unix millisecond timestamp (the epoch for a negative one).
pub fn system_time(at: UnixMillis) -> SystemTime {
    UNIX_EPOCH + Duration::from_millis(u64::try_from(at).unwrap_or(0))
}
