//! Webhook notifications: the durable outbox and its delivery worker.
