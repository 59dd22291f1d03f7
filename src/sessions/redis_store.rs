//! Redis `SessionStore` for production and replicas.

/// Placeholder until implemented.
pub struct RedisSessionStore;
