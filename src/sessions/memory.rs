//! In-memory `SessionStore` for a single process (the default); expiry follows the `Clock`.

/// Placeholder until implemented.
pub struct MemorySessionStore;
