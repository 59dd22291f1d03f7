//! Conformance suite for the refresh-token families (`GrantStore`), on SQLite and a real
//! PostgreSQL: rotation, replay revoking the family, other clients, expiry, concurrency.

use std::sync::Arc;

use braid::accounts::{AccountId, AccountStore, ExternalIdentity, SqlAccountStore};
use braid::db::Db;
use braid::issuer::grants::{Grant, GrantStore, Rotation, SqlGrantStore};

use crate::support;

const T0: i64 = 1_700_000_000_000;

struct Fixture {
    grants: Arc<dyn GrantStore>,
    db: Db,
    account: AccountId,
    _dir: Option<tempfile::TempDir>,
}

async fn fixture(url: String, dir: Option<tempfile::TempDir>) -> Fixture {
    let db = Db::connect(&url).await.expect("connect and migrate");
    let accounts = SqlAccountStore::new(db.clone());
    let ext = ExternalIdentity {
        issuer: "https://idp.example".into(),
        subject: "s1".into(),
        email: None,
        email_verified: false,
        name: None,
        claims: Default::default(),
    };
    let account = accounts.resolve_or_create("idp", &ext, T0).await.unwrap().account.id;
    Fixture { grants: Arc::new(SqlGrantStore::new(db.clone())), db, account, _dir: dir }
}

async fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().unwrap();
    let url = support::sqlite_url(&dir);
    fixture(url, Some(dir)).await
}

async fn postgres() -> Fixture {
    fixture(support::fresh_pg_url().await, None).await
}

fn grant(f: &Fixture, id: &str) -> Grant {
    Grant {
        id: id.into(),
        account_id: f.account.clone(),
        client_id: "app".into(),
        scope: "openid email".into(),
        auth_time: Some(T0 / 1000),
        idp: "https://idp.example".into(),
        amr: "pwd".into(),
        sid: "sid1".into(),
        created_at: T0,
        expires_at: T0 + 3_600_000,
        revoked_at: None,
        identity_id: Some(7),
        provider_id: Some("corp".into()),
        session_key: Some("sess:abc".into()),
        acr: Some("urn:example:loa:2".into()),
        claims: braid::issuer::claims_request::ClaimsRequest { id_token: vec!["email".into()], userinfo: vec![] },
    }
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite_grants { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() { super::$case(super::sqlite().await).await; }
        )* }
        mod postgres_grants { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() { super::$case(super::postgres().await).await; }
        )* }
    };
}

conformance!(
    rotation_spends_the_old_token_and_a_replay_revokes_the_family,
    another_client_cannot_rotate_and_spends_nothing,
    an_expired_or_revoked_family_is_dead,
    a_rotation_whose_answer_was_lost_may_be_retried_once_within_the_grace,
    concurrent_rotations_of_one_token_let_exactly_one_through,
    concurrent_rotations_of_many_tokens_each_complete_or_change_nothing,
    revoking_an_account_revokes_all_its_grants,
    a_grant_and_its_first_token_are_stored_together_or_not_at_all,
);

async fn rotation_spends_the_old_token_and_a_replay_revokes_the_family(f: Fixture) {
    f.grants.create(&grant(&f, "g1"), "h1").await.unwrap();
    assert_eq!(f.grants.get("g1").await.unwrap(), Some(grant(&f, "g1")));
    assert_eq!(f.grants.by_token("h1").await.unwrap().map(|g| g.id), Some("g1".into()));
    assert!(
        matches!(f.grants.rotate("h1", "h2", "app", T0 + 1, 0).await.unwrap(), Rotation::Rotated(g) if g.id == "g1")
    );
    assert!(matches!(f.grants.rotate("h2", "h3", "app", T0 + 2, 0).await.unwrap(), Rotation::Rotated(_)));
    assert!(matches!(f.grants.rotate("h1", "h4", "app", T0 + 3, 0).await.unwrap(), Rotation::Replayed(_)));
    assert_eq!(f.grants.get("g1").await.unwrap().unwrap().revoked_at, Some(T0 + 3));
    assert!(
        matches!(f.grants.rotate("h3", "h5", "app", T0 + 4, 0).await.unwrap(), Rotation::Dead(_)),
        "newest token dead too"
    );
    assert_eq!(f.grants.rotate("nope", "h6", "app", T0, 0).await.unwrap(), Rotation::Unknown);
    assert!(f.grants.by_token("h4").await.unwrap().is_none(), "no token stored on replay");
}

async fn a_rotation_whose_answer_was_lost_may_be_retried_once_within_the_grace(f: Fixture) {
    const GRACE: i64 = 10_000;
    f.grants.create(&grant(&f, "g1"), "h1").await.unwrap();
    assert!(matches!(f.grants.rotate("h1", "h2", "app", T0 + 1, GRACE).await.unwrap(), Rotation::Rotated(_)));
    // The client never saw h2 and presents h1 again: h2 is spent and h3 takes its place.
    assert!(matches!(f.grants.rotate("h1", "h3", "app", T0 + 2, GRACE).await.unwrap(), Rotation::Rotated(_)));
    assert!(matches!(f.grants.rotate("h3", "h4", "app", T0 + 3, GRACE).await.unwrap(), Rotation::Rotated(_)));
    // h1 once more: its successor was used meanwhile, so this is a replay; the family is revoked.
    assert!(matches!(f.grants.rotate("h1", "h5", "app", T0 + 4, GRACE).await.unwrap(), Rotation::Replayed(_)));
    assert!(matches!(f.grants.rotate("h4", "h6", "app", T0 + 5, GRACE).await.unwrap(), Rotation::Dead(_)));

    // Past the grace, a spent token is a replay even if its successor was never used.
    f.grants.create(&grant(&f, "g2"), "k1").await.unwrap();
    assert!(matches!(f.grants.rotate("k1", "k2", "app", T0 + 1, GRACE).await.unwrap(), Rotation::Rotated(_)));
    assert!(matches!(f.grants.rotate("k1", "k3", "app", T0 + 2 + GRACE, GRACE).await.unwrap(), Rotation::Replayed(_)));
    // Retries within the grace, all at one instant: each spends the unused successor before it.
    f.grants.create(&grant(&f, "g3"), "m1").await.unwrap();
    for next in ["m2", "m3", "m4"] {
        assert!(matches!(f.grants.rotate("m1", next, "app", T0 + 1, GRACE).await.unwrap(), Rotation::Rotated(_)));
    }
    for spent in ["m2", "m3"] {
        assert!(matches!(f.grants.rotate(spent, "x", "app", T0 + 1, 0).await.unwrap(), Rotation::Replayed(_)));
    }
}

async fn another_client_cannot_rotate_and_spends_nothing(f: Fixture) {
    f.grants.create(&grant(&f, "g1"), "h1").await.unwrap();
    assert_eq!(f.grants.rotate("h1", "h2", "other", T0 + 1, 0).await.unwrap(), Rotation::WrongClient);
    assert!(f.grants.by_token("h2").await.unwrap().is_none());
    assert!(matches!(f.grants.rotate("h1", "h2", "app", T0 + 2, 0).await.unwrap(), Rotation::Rotated(_)));
}

async fn an_expired_or_revoked_family_is_dead(f: Fixture) {
    f.grants.create(&grant(&f, "g1"), "h1").await.unwrap();
    assert!(matches!(f.grants.rotate("h1", "h2", "app", T0 + 3_600_000, 0).await.unwrap(), Rotation::Dead(_)));
    f.grants.create(&grant(&f, "g2"), "k1").await.unwrap();
    f.grants.revoke("g2", T0 + 5).await.unwrap();
    assert!(matches!(f.grants.rotate("k1", "k2", "app", T0 + 6, 0).await.unwrap(), Rotation::Dead(_)));
}

async fn concurrent_rotations_of_one_token_let_exactly_one_through(f: Fixture) {
    f.grants.create(&grant(&f, "g1"), "h1").await.unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(10));
    let tasks: Vec<_> = (0..10)
        .map(|i| {
            let (g, b) = (f.grants.clone(), barrier.clone());
            tokio::spawn(async move {
                b.wait().await;
                g.rotate("h1", &format!("n{i}"), "app", T0 + 1, 0).await.unwrap()
            })
        })
        .collect();
    let mut rotated = 0;
    for t in tasks {
        match t.await.unwrap() {
            Rotation::Rotated(_) => rotated += 1,
            Rotation::Replayed(_) => {}
            other => panic!("unexpected {other:?}"),
        }
    }
    assert_eq!(rotated, 1, "exactly one concurrent use wins");
    assert!(f.grants.get("g1").await.unwrap().unwrap().revoked_at.is_some(), "the others count as replay");
}

/// Many clients rotate at once (on SQLite the rotations are committed in groups by one writer
/// task), and one grant among them is unreadable, so its rotation fails: every rotation either
/// completes (its token spent, its successor live) or changes nothing (its token still rotates
/// afterwards). Never half done, whichever group the failure lands in.
async fn concurrent_rotations_of_many_tokens_each_complete_or_change_nothing(f: Fixture) {
    const N: usize = 40;
    for i in 0..N {
        f.grants.create(&grant(&f, &format!("g{i}")), &format!("old{i}")).await.unwrap();
    }
    sqlx::query("UPDATE grants SET request_claims = 'not json' WHERE id = 'g7'").execute(&f.db.pool).await.unwrap();
    let barrier = Arc::new(tokio::sync::Barrier::new(N));
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let (g, b) = (f.grants.clone(), barrier.clone());
            tokio::spawn(async move {
                b.wait().await;
                g.rotate(&format!("old{i}"), &format!("new{i}"), "app", T0 + 1, 0).await
            })
        })
        .collect();
    let mut completed = 0;
    for (i, t) in tasks.into_iter().enumerate() {
        match t.await.unwrap() {
            Ok(Rotation::Rotated(g)) => {
                assert_eq!(g.id, format!("g{i}"));
                completed += 1;
                let next = f.grants.rotate(&format!("new{i}"), &format!("next{i}"), "app", T0 + 2, 0).await.unwrap();
                assert!(matches!(next, Rotation::Rotated(_)), "g{i}: the successor is live: {next:?}");
            }
            Ok(other) => panic!("g{i}: unexpected {other:?}"),
            Err(e) => {
                assert!(
                    matches!(
                        e,
                        braid::accounts::AccountError::Unavailable(_) | braid::accounts::AccountError::Corrupt(_)
                    ),
                    "g{i}: {e:?}"
                );
                assert!(
                    f.grants.by_token(&format!("new{i}")).await.unwrap().is_none(),
                    "g{i}: no successor was stored"
                );
                if i != 7 {
                    let again =
                        f.grants.rotate(&format!("old{i}"), &format!("new{i}"), "app", T0 + 2, 0).await.unwrap();
                    assert!(matches!(again, Rotation::Rotated(_)), "g{i}: nothing was spent: {again:?}");
                    completed += 1;
                }
            }
        }
    }
    assert_eq!(completed, N - 1, "every readable grant rotates, at once or when presented again");
    assert!(f.grants.rotate("old7", "new7", "app", T0 + 3, 0).await.is_err(), "the unreadable grant keeps failing");
}

async fn revoking_an_account_revokes_all_its_grants(f: Fixture) {
    f.grants.create(&grant(&f, "g1"), "h1").await.unwrap();
    f.grants.create(&grant(&f, "g2"), "h2").await.unwrap();
    assert_eq!(f.grants.revoke_account(&f.account, T0 + 1).await.unwrap(), 2);
    assert_eq!(f.grants.revoke_account(&f.account, T0 + 2).await.unwrap(), 0);
    assert!(matches!(f.grants.rotate("h2", "h3", "app", T0 + 3, 0).await.unwrap(), Rotation::Dead(_)));
}

/// The query plan of `sql` on SQLite, one line per step.
async fn sqlite_plan(db: &Db, sql: &str) -> String {
    use sqlx::Row as _;
    let rows = sqlx::query(&format!("EXPLAIN QUERY PLAN {sql}")).fetch_all(&db.pool).await.unwrap();
    rows.iter().map(|r| r.try_get::<String, _>("detail").unwrap_or_default()).collect::<Vec<_>>().join("\n")
}

#[tokio::test]
async fn spending_a_refresh_token_probes_indexes_and_never_scans_the_grants() {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&support::sqlite_url(&dir)).await.unwrap();
    let plan = sqlite_plan(&db, braid::issuer::grants::ROTATE_SPEND).await;
    assert!(!plan.contains("SCAN"), "a full scan in the rotation's hot statement:\n{plan}");
    assert!(plan.contains("SEARCH refresh_tokens USING") && plan.contains("SEARCH g USING"), "{plan}");
    // And on PostgreSQL, with enough rows that the planner would rather scan if it could.
    let pg = Db::connect(&support::fresh_pg_url().await).await.unwrap();
    let sql = braid::issuer::grants::ROTATE_SPEND.replace("$1", "1").replace("$2", "'h'").replace("$3", "'app'");
    use sqlx::Row as _;
    sqlx::query("INSERT INTO accounts (id, status, created_at, updated_at) VALUES ('a', 'active', 0, 0)")
        .execute(&pg.pool)
        .await
        .unwrap();
    for stmt in [
        "INSERT INTO grants (id, account_id, client_id, scope, auth_time, idp, amr, sid, created_at, expires_at) \
         SELECT 'g' || i, 'a', 'app', 'openid', 0, 'i', 'x', 's', 0, 1 FROM generate_series(1, 20000) AS i",
        "INSERT INTO refresh_tokens (hash, grant_id, created_at) SELECT 'h' || i, 'g' || i, 0 FROM generate_series(1, 20000) AS i",
        "ANALYZE",
    ] {
        sqlx::query(stmt).execute(&pg.pool).await.unwrap();
    }
    let rows = sqlx::query(&format!("EXPLAIN {sql}")).fetch_all(&pg.pool).await.unwrap();
    let plan: String =
        rows.iter().map(|r| r.try_get::<String, _>(0).unwrap_or_default()).collect::<Vec<_>>().join("\n");
    assert!(!plan.contains("Seq Scan"), "a sequential scan in the rotation's hot statement:\n{plan}");
}

async fn a_grant_and_its_first_token_are_stored_together_or_not_at_all(f: Fixture) {
    // A grant without acr or requested claims reads back as it was stored.
    let plain = Grant { acr: None, claims: Default::default(), ..grant(&f, "g1") };
    f.grants.create(&plain, "h1").await.unwrap();
    assert_eq!(f.grants.get("g1").await.unwrap(), Some(plain.clone()));
    assert_eq!(f.grants.by_token("h1").await.unwrap(), Some(plain));
    // A grant that cannot be stored (its id is taken) leaves no token behind.
    assert!(f.grants.create(&grant(&f, "g1"), "h2").await.is_err());
    assert_eq!(f.grants.by_token("h2").await.unwrap(), None);
    // One that can is stored with its acr, its claims and its token.
    f.grants.create(&grant(&f, "g2"), "h3").await.unwrap();
    assert_eq!(f.grants.by_token("h3").await.unwrap(), Some(grant(&f, "g2")));
}
