//! SQL `AccountStore` over SQLite and PostgreSQL.

/// Placeholder until implemented.
pub struct SqlAccountStore;
