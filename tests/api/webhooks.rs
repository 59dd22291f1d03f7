//! Webhook delivery from the durable outbox.
