//! Conformance suite for `AccountStore`: every case runs against SQLite (a temp file) and a real
//! PostgreSQL (a fresh database). PostgreSQL must be reachable; nothing is skipped.

use std::sync::Arc;

use braid::accounts::{AccountId, AccountStatus, AccountStore, ExternalIdentity, Resolved, SqlAccountStore};
use braid::db::Db;
use serde_json::json;
use sqlx::Row;
use tokio::sync::Barrier;

use crate::support;

const T0: i64 = 1_700_000_000_000;
const ISSUER: &str = "https://idp.example.com";

/// One backend under test: the store as the rest of braid sees it, plus the database under it
/// so cases can check what was really written.
struct Fixture {
    store: Arc<dyn AccountStore>,
    db: Db,
    url: String,
    _dir: Option<tempfile::TempDir>,
}

async fn fixture(url: String, dir: Option<tempfile::TempDir>) -> Fixture {
    let db = Db::connect(&url).await.expect("connect and migrate");
    Fixture { store: Arc::new(SqlAccountStore::new(db.clone())), db, url, _dir: dir }
}

async fn sqlite() -> Fixture {
    let dir = tempfile::tempdir().expect("temp dir");
    let url = support::sqlite_url(&dir);
    fixture(url, Some(dir)).await
}

async fn postgres() -> Fixture {
    fixture(support::fresh_pg_url().await, None).await
}

/// Each case once per backend, as tests named `sqlite_<case>` and `postgres_<case>`.
macro_rules! conformance {
    ($($case:ident: $sqlite:ident, $postgres:ident;)*) => {$(
        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $sqlite() {
            $case(sqlite().await).await;
        }

        #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
        async fn $postgres() {
            $case(postgres().await).await;
        }
    )*};
}

conformance! {
    first_sign_in_creates_one_account:
        sqlite_first_sign_in_creates_one_account,
        postgres_first_sign_in_creates_one_account;
    same_identity_again_gives_the_same_account_and_records_the_login:
        sqlite_same_identity_again_gives_the_same_account_and_records_the_login,
        postgres_same_identity_again_gives_the_same_account_and_records_the_login;
    another_subject_gets_another_account:
        sqlite_another_subject_gets_another_account,
        postgres_another_subject_gets_another_account;
    same_subject_under_two_issuers_is_two_identities_on_two_accounts:
        sqlite_same_subject_under_two_issuers_is_two_identities_on_two_accounts,
        postgres_same_subject_under_two_issuers_is_two_identities_on_two_accounts;
    identities_lists_an_accounts_identities_oldest_link_first:
        sqlite_identities_lists_an_accounts_identities_oldest_link_first,
        postgres_identities_lists_an_accounts_identities_oldest_link_first;
    unknown_account_is_none:
        sqlite_unknown_account_is_none,
        postgres_unknown_account_is_none;
    find_identity_matches_issuer_and_subject_exactly:
        sqlite_find_identity_matches_issuer_and_subject_exactly,
        postgres_find_identity_matches_issuer_and_subject_exactly;
    identity_without_email_or_name_round_trips:
        sqlite_identity_without_email_or_name_round_trips,
        postgres_identity_without_email_or_name_round_trips;
    twenty_concurrent_first_sign_ins_make_one_account:
        sqlite_twenty_concurrent_first_sign_ins_make_one_account,
        postgres_twenty_concurrent_first_sign_ins_make_one_account;
    migrations_run_twice_and_keep_the_data:
        sqlite_migrations_run_twice_and_keep_the_data,
        postgres_migrations_run_twice_and_keep_the_data;
    ping_answers:
        sqlite_ping_answers,
        postgres_ping_answers;
    an_allowed_sign_in_is_audited_with_its_login_and_a_refused_one_never:
        sqlite_an_allowed_sign_in_is_audited_with_its_login_and_a_refused_one_never,
        postgres_an_allowed_sign_in_is_audited_with_its_login_and_a_refused_one_never;
    an_account_is_read_with_all_its_identities_at_once:
        sqlite_an_account_is_read_with_all_its_identities_at_once,
        postgres_an_account_is_read_with_all_its_identities_at_once;
}

fn ext(issuer: &str, subject: &str) -> ExternalIdentity {
    let claims = json!({
        "sub": subject,
        "email": format!("{subject}@example.com"),
        "groups": ["staff", "ops"],
        "nested": {"n": 1, "ok": true},
    });
    ExternalIdentity {
        issuer: issuer.into(),
        subject: subject.into(),
        email: Some(format!("{subject}@example.com")),
        email_verified: true,
        name: Some(format!("User {subject}")),
        claims: claims.as_object().cloned().expect("object"),
    }
}

async fn count(db: &Db, table: &str) -> i64 {
    sqlx::query(&format!("SELECT COUNT(*) AS n FROM {table}"))
        .fetch_one(&db.pool)
        .await
        .expect("count")
        .try_get("n")
        .expect("count column")
}

async fn first_sign_in_creates_one_account(f: Fixture) {
    let e = ext(ISSUER, "alice");
    let r = f.store.resolve_or_create("corp", &e, T0).await.expect("resolve");
    assert!(r.created);
    assert_eq!(r.account.status, AccountStatus::Active);
    assert_eq!(r.account.primary_identity, Some(r.identity.id));
    assert_eq!(r.account.created_at, T0);
    assert_eq!(r.identity.account_id, r.account.id);
    assert_eq!((r.identity.issuer.as_str(), r.identity.subject.as_str()), (ISSUER, "alice"));
    assert_eq!(r.identity.provider_id, "corp");
    assert_eq!(r.identity.email.as_deref(), Some("alice@example.com"));
    assert!(r.identity.email_verified);
    assert_eq!(r.identity.name.as_deref(), Some("User alice"));
    assert!(r.identity.can_sign_in);
    assert_eq!(r.identity.linked_at, T0);
    assert_eq!(r.identity.last_login_at, Some(T0));
    assert_eq!(r.identity.last_claims, serde_json::Value::Object(e.claims.clone()));

    // What was returned is what was stored.
    let stored = f.store.account(&r.account.id).await.expect("account");
    assert_eq!(stored.as_ref(), Some(&r.account));
    let found = f.store.find_identity(ISSUER, "alice").await.expect("find");
    assert_eq!(found.as_ref(), Some(&r.identity));
    let both = f.store.account_by_identity(ISSUER, "alice").await.expect("by identity");
    assert_eq!(both, Some((r.account.clone(), r.identity.clone())));
    assert_eq!(count(&f.db, "accounts").await, 1);
    assert_eq!(count(&f.db, "identities").await, 1);
}

async fn same_identity_again_gives_the_same_account_and_records_the_login(f: Fixture) {
    let first = f.store.resolve_or_create("corp", &ext(ISSUER, "bob"), T0).await.expect("1st");
    let mut again = ext(ISSUER, "bob");
    again.email = Some("robert@example.com".into());
    again.email_verified = false;
    again.name = Some("Robert".into());
    again.claims = json!({"sub": "bob", "login": 2}).as_object().cloned().expect("object");
    let later = T0 + 60_000;
    let second = f.store.resolve_or_create("corp-renamed", &again, later).await.expect("2nd");

    assert!(!second.created);
    assert_eq!(second.account, first.account);
    assert_eq!(second.identity.id, first.identity.id);
    assert_eq!(second.identity.linked_at, T0);
    assert_eq!(second.identity.last_login_at, Some(later));
    assert_eq!(second.identity.last_claims, json!({"sub": "bob", "login": 2}));
    assert_eq!(second.identity.email.as_deref(), Some("robert@example.com"));
    assert!(!second.identity.email_verified);
    assert_eq!(second.identity.name.as_deref(), Some("Robert"));
    assert_eq!(second.identity.provider_id, "corp-renamed");
    assert!(second.identity.can_sign_in);

    let stored = f.store.find_identity(ISSUER, "bob").await.expect("find");
    assert_eq!(stored.as_ref(), Some(&second.identity));
    assert_eq!(count(&f.db, "accounts").await, 1);
    assert_eq!(count(&f.db, "identities").await, 1);
}

async fn another_subject_gets_another_account(f: Fixture) {
    let a = f.store.resolve_or_create("corp", &ext(ISSUER, "carol"), T0).await.expect("a");
    let b = f.store.resolve_or_create("corp", &ext(ISSUER, "dave"), T0).await.expect("b");
    assert!(a.created && b.created);
    assert_ne!(a.account.id, b.account.id);
    assert_ne!(a.identity.id, b.identity.id);
    assert_eq!(b.account.primary_identity, Some(b.identity.id));
    assert_eq!(count(&f.db, "accounts").await, 2);
    assert_eq!(count(&f.db, "identities").await, 2);
}

async fn same_subject_under_two_issuers_is_two_identities_on_two_accounts(f: Fixture) {
    let other = "https://other-idp.example.org";
    let a = f.store.resolve_or_create("corp", &ext(ISSUER, "1234"), T0).await.expect("a");
    let b = f.store.resolve_or_create("other", &ext(other, "1234"), T0).await.expect("b");
    assert!(a.created && b.created);
    assert_ne!(a.account.id, b.account.id);
    assert_ne!(a.identity.id, b.identity.id);
    let found_a = f.store.find_identity(ISSUER, "1234").await.expect("find a").expect("a");
    let found_b = f.store.find_identity(other, "1234").await.expect("find b").expect("b");
    assert_eq!(found_a.account_id, a.account.id);
    assert_eq!(found_b.account_id, b.account.id);
    assert_eq!(found_b.provider_id, "other");
    assert_eq!(count(&f.db, "identities").await, 2);
}

/// Put a GitHub identity `subject`, linked before `T0`, without email, name or sign-in, on
/// `account` by hand.
async fn link_older_by_hand(f: &Fixture, account: &AccountId, subject: &str) {
    sqlx::query(
        "INSERT INTO identities (issuer, subject, provider_id, account_id, email, \
         email_verified, name, can_sign_in, linked_at, last_login_at, last_claims) \
         VALUES ($1, $2, $3, $4, NULL, 0, NULL, 0, $5, NULL, $6)",
    )
    .bind("https://github.com")
    .bind(subject)
    .bind("github")
    .bind(account.as_str())
    .bind(T0 - 1_000)
    .bind("{}")
    .execute(&f.db.pool)
    .await
    .expect("insert an older identity");
}

async fn identities_lists_an_accounts_identities_oldest_link_first(f: Fixture) {
    let a = f.store.resolve_or_create("corp", &ext(ISSUER, "erin"), T0).await.expect("a");
    let b = f.store.resolve_or_create("corp", &ext(ISSUER, "frank"), T0).await.expect("b");
    // Linking is not this store's job yet: put a second, older link on erin's account by hand.
    link_older_by_hand(&f, &a.account.id, "98765").await;

    let listed = f.store.identities(&a.account.id).await.expect("identities");
    let keys: Vec<_> = listed.iter().map(|i| (i.issuer.as_str(), i.subject.as_str())).collect();
    assert_eq!(keys, [("https://github.com", "98765"), (ISSUER, "erin")]);
    assert_eq!(listed[1], a.identity);
    assert!(!listed[0].can_sign_in);
    assert!(!listed[0].email_verified);
    assert_eq!(listed[0].email, None);
    assert_eq!(listed[0].last_login_at, None);
    assert_eq!(listed[0].last_claims, json!({}));

    assert_eq!(f.store.identities(&b.account.id).await.expect("b"), [b.identity]);
    let nobody = AccountId::generate();
    assert!(f.store.identities(&nobody).await.expect("nobody").is_empty());
}

async fn an_account_is_read_with_all_its_identities_at_once(f: Fixture) {
    let a = f.store.resolve_or_create("corp", &ext(ISSUER, "ivy"), T0).await.expect("a");
    let b = f.store.resolve_or_create("corp", &ext(ISSUER, "jon"), T0 + 5).await.expect("b");
    link_older_by_hand(&f, &a.account.id, "4242").await;
    // The same account and the same identities, in the same order, as the two reads give.
    let (account, identities) = f.store.account_with_identities(&a.account.id).await.expect("read").expect("some");
    assert_eq!(Some(account), f.store.account(&a.account.id).await.expect("account"));
    assert_eq!(identities, f.store.identities(&a.account.id).await.expect("identities"));
    assert_eq!(identities.len(), 2);
    assert_eq!(identities[1], a.identity);
    let (account_b, identities_b) = f.store.account_with_identities(&b.account.id).await.expect("b").expect("some");
    assert_eq!(account_b, b.account);
    assert_eq!(identities_b, [b.identity]);
    // An account without identities is still read; an unknown one is none.
    sqlx::query("DELETE FROM identities WHERE account_id = $1")
        .bind(b.account.id.as_str())
        .execute(&f.db.pool)
        .await
        .expect("delete");
    let (alone, none) = f.store.account_with_identities(&b.account.id).await.expect("alone").expect("some");
    assert_eq!(alone.id, b.account.id);
    assert!(none.is_empty());
    assert_eq!(f.store.account_with_identities(&AccountId::generate()).await.expect("unknown"), None);
}

async fn unknown_account_is_none(f: Fixture) {
    f.store.resolve_or_create("corp", &ext(ISSUER, "gina"), T0).await.expect("resolve");
    assert_eq!(f.store.account(&AccountId::generate()).await.expect("account"), None);
    assert_eq!(f.store.account(&AccountId(String::new())).await.expect("empty id"), None);
}

async fn find_identity_matches_issuer_and_subject_exactly(f: Fixture) {
    assert_eq!(f.store.find_identity(ISSUER, "Hank").await.expect("before"), None);
    assert_eq!(f.store.account_by_identity(ISSUER, "Hank").await.expect("before"), None);
    let r = f.store.resolve_or_create("corp", &ext(ISSUER, "Hank"), T0).await.expect("resolve");
    let found = f.store.find_identity(ISSUER, "Hank").await.expect("find").expect("found");
    assert_eq!(found, r.identity);
    assert_eq!(f.store.find_identity(ISSUER, "hank").await.expect("case"), None);
    assert_eq!(f.store.find_identity("https://idp.example.com/", "Hank").await.expect("iss"), None);
    assert_eq!(f.store.find_identity("", "").await.expect("empty"), None);
}

async fn identity_without_email_or_name_round_trips(f: Fixture) {
    let e = ExternalIdentity {
        issuer: ISSUER.into(),
        subject: "ivy".into(),
        email: None,
        email_verified: false,
        name: None,
        claims: serde_json::Map::new(),
    };
    let r = f.store.resolve_or_create("corp", &e, T0).await.expect("resolve");
    assert!(r.created);
    let found = f.store.find_identity(ISSUER, "ivy").await.expect("find").expect("found");
    assert_eq!(found, r.identity);
    assert_eq!(found.email, None);
    assert_eq!(found.name, None);
    assert!(!found.email_verified);
    assert_eq!(found.last_claims, json!({}));
}

async fn twenty_concurrent_first_sign_ins_make_one_account(f: Fixture) {
    const N: usize = 20;
    let barrier = Arc::new(Barrier::new(N));
    let tasks: Vec<_> = (0..N)
        .map(|i| {
            let store = Arc::clone(&f.store);
            let barrier = Arc::clone(&barrier);
            tokio::spawn(async move {
                barrier.wait().await;
                store.resolve_or_create("corp", &ext(ISSUER, "jack"), T0 + i as i64).await
            })
        })
        .collect();
    let mut results: Vec<Resolved> = Vec::with_capacity(N);
    for task in tasks {
        results.push(task.await.expect("task").expect("resolve"));
    }

    let account = results[0].account.id.clone();
    assert!(results.iter().all(|r| r.account.id == account), "one account for all");
    assert!(results.iter().all(|r| r.identity.id == results[0].identity.id));
    assert_eq!(results.iter().filter(|r| r.created).count(), 1, "exactly one creator");
    assert_eq!(count(&f.db, "accounts").await, 1);
    assert_eq!(count(&f.db, "identities").await, 1);
    let stored = f.store.account(&account).await.expect("account").expect("exists");
    assert_eq!(stored.primary_identity, Some(results[0].identity.id));
}

async fn migrations_run_twice_and_keep_the_data(f: Fixture) {
    let r = f.store.resolve_or_create("corp", &ext(ISSUER, "kim"), T0).await.expect("resolve");
    let again = Db::connect(&f.url).await.expect("second connect migrates again");
    let store = SqlAccountStore::new(again.clone());
    let found = store.find_identity(ISSUER, "kim").await.expect("find").expect("kept");
    assert_eq!(found, r.identity);
    assert_eq!(count(&again, "accounts").await, 1);
    let applied: i64 = sqlx::query("SELECT COUNT(*) AS n FROM _sqlx_migrations WHERE version = 1")
        .fetch_one(&again.pool)
        .await
        .expect("migrations table")
        .try_get("n")
        .expect("n");
    assert_eq!(applied, 1);
}

async fn ping_answers(f: Fixture) {
    f.store.ping().await.expect("ping");
    f.db.pool.close().await;
    assert!(f.store.ping().await.is_err(), "a closed pool must not answer");
}

/// The `identity.signed_in` rows of an account, as (at, ip).
async fn signed_in_rows(f: &Fixture, account: &AccountId) -> Vec<(i64, Option<String>)> {
    let audit = f.store.audit(account).await.expect("audit");
    audit.into_iter().filter(|e| e.action == "identity.signed_in").map(|e| (e.at, e.ip)).collect()
}

/// `sign_in` writes the last login and, only for an allowed sign-in, its audit row in one commit.
async fn an_allowed_sign_in_is_audited_with_its_login_and_a_refused_one_never(f: Fixture) {
    let e = ext(ISSUER, "olive");
    let ip = Some("192.0.2.7");
    let first = f.store.sign_in("corp", &e, true, true, ip, T0).await.expect("first").expect("created");
    assert!(first.created && first.audited);
    let account = first.account.id.clone();
    assert_eq!(signed_in_rows(&f, &account).await, vec![(T0, Some("192.0.2.7".into()))]);

    let again = f.store.sign_in("corp", &e, false, true, ip, T0 + 1000).await.expect("again").expect("known");
    assert!(!again.created && again.audited);
    assert_eq!(again.identity.last_login_at, Some(T0 + 1000));
    assert_eq!(again.account.id, account);
    assert_eq!(signed_in_rows(&f, &account).await.len(), 2);

    // Asked not to audit (a proof to complete first): the login only.
    let quiet = f.store.sign_in("corp", &e, true, false, ip, T0 + 2000).await.expect("quiet").expect("known");
    assert!(!quiet.audited);
    assert_eq!(signed_in_rows(&f, &account).await.len(), 2);

    // A disabled account's sign-in is recorded as a login, never audited as signed in.
    let admin = braid::accounts::Actor { who: "admin:test".into(), ip: None, expect: None };
    f.store.set_disabled(&account, true, &admin, T0 + 2500).await.expect("disable").expect("disabled");
    let refused = f.store.sign_in("corp", &e, true, true, ip, T0 + 3000).await.expect("refused").expect("known");
    assert!(!refused.audited);
    assert_eq!(refused.account.status, AccountStatus::Disabled);
    assert_eq!(refused.identity.last_login_at, Some(T0 + 3000));
    assert_eq!(signed_in_rows(&f, &account).await.len(), 2);

    // An unknown identity under a policy that never creates: nothing written.
    let before = count(&f.db, "audit_events").await;
    let unknown = f.store.sign_in("corp", &ext(ISSUER, "nobody"), false, true, ip, T0).await.expect("unknown");
    assert!(unknown.is_none());
    assert_eq!(count(&f.db, "audit_events").await, before);
    assert_eq!(count(&f.db, "identities").await, 1);
}

#[tokio::test]
async fn sqlite_commits_are_durable_unless_sqlite_synchronous_says_normal() {
    use braid::db::SqliteSync;
    for (sync, want) in [(SqliteSync::Full, 2_i64), (SqliteSync::Normal, 1)] {
        let dir = tempfile::tempdir().unwrap();
        let db = braid::db::Db::connect_with(&crate::support::sqlite_url(&dir), sync).await.unwrap();
        // Every pooled connection carries it, not only the first.
        let mut conns = Vec::new();
        for _ in 0..3 {
            let mut c = db.pool.acquire().await.unwrap();
            let v: i64 = sqlx::query_scalar("PRAGMA synchronous").fetch_one(&mut *c).await.unwrap();
            assert_eq!(v, want, "{sync:?}");
            conns.push(c);
        }
    }
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("braid.toml");
    std::fs::write(&file, "[store]\nsqlite_synchronous = \"normal\"\n").unwrap();
    let s = braid::config::Settings::load(&file, true).unwrap();
    assert_eq!(s.store.sqlite_synchronous, SqliteSync::Normal);
    assert_eq!(braid::config::StoreSettings::default().sqlite_synchronous, SqliteSync::Full, "durable by default");
    std::fs::write(&file, "[store]\nsqlite_synchronous = \"off\"\n").unwrap();
    let e = braid::config::Settings::load(&file, true).unwrap_err().to_string();
    assert!(e.contains("store.sqlite_synchronous") && e.contains("full"), "{e}");
}

/// Pooled connections used within the last second are handed out without a ping (a round trip
/// saved per statement); one idle longer is pinged first, so connections the server ended
/// meanwhile are replaced and the next statement still answers.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_connections_the_server_ended_are_replaced_before_use() {
    use sqlx::Connection as _;
    let f = postgres().await;
    let a = f.store.resolve_or_create("corp", &ext(ISSUER, "pia"), T0).await.expect("sign in");
    let mut side = sqlx::AnyConnection::connect(&f.url).await.expect("side connection");
    let ended = sqlx::query(
        "SELECT count(pg_terminate_backend(pid)) AS n FROM pg_stat_activity \
         WHERE datname = current_database() AND pid <> pg_backend_pid()",
    )
    .fetch_one(&mut side)
    .await
    .expect("end the pool's connections")
    .try_get::<i64, _>("n")
    .expect("n");
    assert!(ended >= 1, "the pool held no connection to end");
    tokio::time::sleep(std::time::Duration::from_millis(1300)).await;
    for _ in 0..4 {
        assert_eq!(
            f.store.account(&a.account.id).await.expect("answers after the server ended its connections"),
            Some(a.account.clone())
        );
    }
}
