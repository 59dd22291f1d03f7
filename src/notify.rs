//! Webhook notifications: the durable outbox and its delivery worker.
// TEMPORARY: the outbox writer only; the delivery worker arrives on merge.

use crate::clock::UnixMillis;

/// Write one event into the outbox, inside the caller's transaction.
pub async fn enqueue(conn: &mut sqlx::AnyConnection, event: &serde_json::Value, now: UnixMillis) -> Result<(), sqlx::Error> {
    let id = event.get("id").and_then(serde_json::Value::as_str).unwrap_or_default().to_owned();
    sqlx::query("INSERT INTO webhook_outbox (event_id, created_at, payload, next_attempt_at) VALUES ($1, $2, $3, $2)")
        .bind(id)
        .bind(now)
        .bind(event.to_string())
        .execute(conn)
        .await
        .map(|_| ())
}
