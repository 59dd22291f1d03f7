//! Redis `SessionStore` for production and replicas.
// TEMPORARY STUB (replaced by the real implementation on merge).
use super::*;
/// stub
pub struct RedisSessionStore;
impl RedisSessionStore { /// stub
pub async fn connect(_u: &str, _p: &str, _t: Duration) -> Result<MemorySessionStore, StoreError> { Err(StoreError::Unavailable("stub".into())) } }
