//! Admin lookups over SQL: accounts by email, issuer or subject (paged by account id), and the
//! audit log newest first (paged by event id), each driven by an index.

use sqlx::Row as _;

use super::sql::{SqlAccountStore, account_from_row, corrupt, unavailable};
use super::{Account, AccountError, AuditEvent};

/// What to look accounts up by; every given field must match (empty: every account).
#[derive(Debug, Clone, Default)]
pub struct AccountQuery {
    /// An email of one of the account's identities (any case; verified or not).
    pub email: Option<String>,
    /// The issuer of one of its identities.
    pub issuer: Option<String>,
    /// The subject of that identity (with `issuer`) or of any identity.
    pub subject: Option<String>,
}

/// Which audit events to list.
#[derive(Debug, Clone, Default)]
pub struct AuditQuery {
    /// Events concerning this account (as the account or the other account).
    pub account: Option<String>,
    /// Events of this action, e.g. `identity.linked`.
    pub action: Option<String>,
}

impl SqlAccountStore {
    /// Up to `limit` accounts matching `q` with ids after `after`, in id order.
    pub(super) async fn search_impl(
        &self,
        q: &AccountQuery,
        after: Option<&str>,
        limit: u32,
    ) -> Result<Vec<Account>, AccountError> {
        let after = after.unwrap_or("");
        let by_identity = q.email.is_some() || q.issuer.is_some() || q.subject.is_some();
        let rows = if by_identity {
            // Driven by the identities' indexes (issuer and subject, lower(email)).
            let mut sql = String::from(
                "SELECT a.id, a.status, a.primary_identity, a.created_at, a.sessions_valid_after FROM identities i \
                 JOIN accounts a ON a.id = i.account_id WHERE i.account_id > $1",
            );
            let mut binds: Vec<String> = vec![after.to_owned()];
            let mut add = |clause: &str, value: &str| {
                binds.push(value.to_owned());
                sql.push_str(&clause.replace('?', &format!("${}", binds.len())));
            };
            if let Some(e) = &q.email {
                add(" AND lower(i.email) = lower(?)", e);
            }
            if let Some(i) = &q.issuer {
                add(" AND i.issuer = ?", i);
            }
            if let Some(s) = &q.subject {
                add(" AND i.subject = ?", s);
            }
            sql.push_str(&format!(
                " GROUP BY a.id, a.status, a.primary_identity, a.created_at, a.sessions_valid_after ORDER BY a.id LIMIT {}",
                limit.max(1)
            ));
            let mut query = sqlx::query(&sql);
            for b in &binds {
                query = query.bind(b.clone());
            }
            query.fetch_all(&self.db().pool).await.map_err(unavailable)?
        } else {
            sqlx::query(
                "SELECT id, status, primary_identity, created_at, sessions_valid_after FROM accounts WHERE id > $1 ORDER BY id LIMIT $2",
            )
            .bind(after)
            .bind(i64::from(limit.max(1)))
            .fetch_all(&self.db().pool)
            .await
            .map_err(unavailable)?
        };
        rows.iter().map(account_from_row).collect()
    }

    /// Up to `limit` audit events matching `q` with ids below `before`, newest first.
    pub(super) async fn audit_page_impl(
        &self,
        q: &AuditQuery,
        before: Option<i64>,
        limit: u32,
    ) -> Result<Vec<AuditEvent>, AccountError> {
        let mut sql = String::from(
            "SELECT id, at, actor, ip, action, account_id, other_account_id, issuer, subject, detail FROM audit_events \
             WHERE id < $1",
        );
        let mut n = 1;
        if q.account.is_some() {
            n += 1;
            sql.push_str(&format!(" AND (account_id = ${n} OR other_account_id = ${n})"));
        }
        if q.action.is_some() {
            n += 1;
            sql.push_str(&format!(" AND action = ${n}"));
        }
        sql.push_str(&format!(" ORDER BY id DESC LIMIT {}", limit.max(1)));
        let mut query = sqlx::query(&sql).bind(before.unwrap_or(i64::MAX));
        if let Some(a) = &q.account {
            query = query.bind(a.clone());
        }
        if let Some(a) = &q.action {
            query = query.bind(a.clone());
        }
        let rows = query.fetch_all(&self.db().pool).await.map_err(unavailable)?;
        rows.iter()
            .map(|r| {
                Ok(AuditEvent {
                    id: r.try_get("id").map_err(corrupt)?,
                    at: r.try_get("at").map_err(corrupt)?,
                    actor: r.try_get("actor").map_err(corrupt)?,
                    ip: r.try_get("ip").map_err(corrupt)?,
                    action: r.try_get("action").map_err(corrupt)?,
                    account_id: r.try_get("account_id").map_err(corrupt)?,
                    other_account_id: r.try_get("other_account_id").map_err(corrupt)?,
                    issuer: r.try_get("issuer").map_err(corrupt)?,
                    subject: r.try_get("subject").map_err(corrupt)?,
                    target: super::audit_target(&r.try_get::<String, _>("detail").map_err(corrupt)?),
                })
            })
            .collect()
    }
}
