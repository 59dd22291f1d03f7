//! SQL `AccountStore` over SQLite and PostgreSQL.
// TEMPORARY STUB (replaced by the real implementation on merge).
use super::*;
use crate::db::Db;
/// stub
pub struct SqlAccountStore;
impl SqlAccountStore { /// stub
pub fn new(_d: Db) -> Self { Self } }
#[async_trait]
impl AccountStore for SqlAccountStore {
    async fn find_identity(&self, _: &str, _: &str) -> Result<Option<Identity>, AccountError> { Ok(None) }
    async fn resolve_or_create(&self, _: &str, _: &ExternalIdentity, _: UnixMillis) -> Result<Resolved, AccountError> { Err(AccountError::Unavailable("stub".into())) }
    async fn account(&self, _: &AccountId) -> Result<Option<Account>, AccountError> { Ok(None) }
    async fn identities(&self, _: &AccountId) -> Result<Vec<Identity>, AccountError> { Ok(vec![]) }
    async fn ping(&self) -> Result<(), AccountError> { Ok(()) }
}
