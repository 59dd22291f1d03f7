//! In-memory `SessionStore` for a single process (the default); expiry follows the `Clock`.
// TEMPORARY STUB (replaced by the real implementation on merge).
use super::*;
use crate::clock::SharedClock;
/// stub
pub struct MemorySessionStore;
impl MemorySessionStore { /// stub
pub fn new(_c: SharedClock) -> Self { Self } }
#[async_trait]
impl SessionStore for MemorySessionStore {
    async fn put(&self, _: &str, _: &[u8], _: Duration) -> Result<(), StoreError> { Ok(()) }
    async fn put_new(&self, _: &str, _: &[u8], _: Duration) -> Result<bool, StoreError> { Ok(true) }
    async fn get(&self, _: &str) -> Result<Option<Vec<u8>>, StoreError> { Ok(None) }
    async fn take(&self, _: &str) -> Result<Option<Vec<u8>>, StoreError> { Ok(None) }
    async fn delete(&self, _: &str) -> Result<(), StoreError> { Ok(()) }
    async fn index_add(&self, _: &str, _: &str, _: Duration) -> Result<(), StoreError> { Ok(()) }
    async fn index_remove(&self, _: &str, _: &str) -> Result<(), StoreError> { Ok(()) }
    async fn end_all(&self, _: &str, _: Option<&str>) -> Result<usize, StoreError> { Ok(0) }
    async fn ping(&self) -> Result<(), StoreError> { Ok(()) }
}
