//! Conformance of every `SessionStore`: one suite, run against `MemorySessionStore` (time moved by
//! a `TestClock`) and a real `RedisSessionStore` (time moved by sleeping) on one Redis, on a
//! 3-master Redis Cluster and through Sentinel, plus Redis-only cases.

use crate::support;
use braid::clock::TestClock;
use braid::sessions::{MemorySessionStore, RedisSessionStore, SessionStore, StoreError};
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};
use tokio::sync::Barrier;

/// A long TTL for values that must not expire during a test.
const LONG: Duration = Duration::from_secs(60);
/// A short TTL, and a wait that is safely past it.
const SHORT: Duration = Duration::from_millis(300);
const PAST_SHORT: Duration = Duration::from_millis(600);

type AdvanceFn = Box<dyn Fn(Duration) -> Pin<Box<dyn Future<Output = ()> + Send>> + Send + Sync>;

/// A store under test and a way to let time pass for it.
struct Backend {
    store: Arc<dyn SessionStore>,
    advance: AdvanceFn,
}

impl Backend {
    async fn advance(&self, by: Duration) {
        (self.advance)(by).await;
    }
}

async fn memory_backend() -> Backend {
    let clock = Arc::new(TestClock::starting_now());
    let store = Arc::new(MemorySessionStore::new(clock.clone()));
    Backend {
        store,
        advance: Box::new(move |by| {
            clock.advance(by);
            Box::pin(async {})
        }),
    }
}

async fn redis_with_prefix(prefix: &str) -> RedisSessionStore {
    let url = support::redis_url();
    RedisSessionStore::connect(&url, prefix, Duration::from_secs(2))
        .await
        .unwrap_or_else(|e| panic!("Redis at {url} must be reachable for tests: {e}"))
}

async fn redis_backend() -> Backend {
    let prefix = format!("{}:", support::unique("braidtest:"));
    Backend {
        store: Arc::new(redis_with_prefix(&prefix).await),
        advance: Box::new(|by| Box::pin(tokio::time::sleep(by))),
    }
}

async fn store_at(url: &str) -> Backend {
    let prefix = format!("{}:", support::unique("braidtest:"));
    let store = RedisSessionStore::connect(url, &prefix, Duration::from_secs(2))
        .await
        .unwrap_or_else(|e| panic!("Redis at {url} must be reachable for tests (scripts/test starts it): {e}"));
    Backend { store: Arc::new(store), advance: Box::new(|by| Box::pin(tokio::time::sleep(by))) }
}

async fn cluster_backend() -> Backend {
    store_at(&support::redis_cluster_url()).await
}

async fn sentinel_backend() -> Backend {
    store_at(&support::redis_sentinel_url()).await
}

/// The expected reading of a stored value.
fn val(bytes: &[u8]) -> Option<Vec<u8>> {
    Some(bytes.to_vec())
}

// ---- the cases -------------------------------------------------------------------------------

async fn put_then_get_round_trips_and_put_overwrites(b: Backend) {
    let s = &b.store;
    s.put("sess:a", b"first", LONG).await.unwrap();
    assert_eq!(s.get("sess:a").await.unwrap(), val(b"first"));
    s.put("sess:a", b"second", LONG).await.unwrap();
    assert_eq!(s.get("sess:a").await.unwrap(), val(b"second"));
    // Arbitrary bytes survive unchanged.
    let binary: Vec<u8> = (0..=255u8).collect();
    s.put("sess:bin", &binary, LONG).await.unwrap();
    assert_eq!(s.get("sess:bin").await.unwrap(), Some(binary));
    // Reading does not consume.
    assert!(s.get("sess:bin").await.unwrap().is_some());
}

async fn get_of_a_missing_key_is_none(b: Backend) {
    assert_eq!(b.store.get("sess:never-written").await.unwrap(), None);
    assert_eq!(b.store.take("sess:never-written").await.unwrap(), None);
}

async fn values_expire_after_their_ttl(b: Backend) {
    let s = &b.store;
    s.put("sess:short", b"v", SHORT).await.unwrap();
    s.put("sess:long", b"w", LONG).await.unwrap();
    assert_eq!(s.get("sess:short").await.unwrap(), val(b"v"));
    b.advance(PAST_SHORT).await;
    assert_eq!(s.get("sess:short").await.unwrap(), None);
    assert_eq!(s.take("sess:short").await.unwrap(), None);
    assert_eq!(s.get("sess:long").await.unwrap(), val(b"w"));
}

async fn put_overwrite_resets_the_ttl(b: Backend) {
    let s = &b.store;
    s.put("sess:a", b"v", SHORT).await.unwrap();
    s.put("sess:a", b"w", LONG).await.unwrap();
    b.advance(PAST_SHORT).await;
    assert_eq!(s.get("sess:a").await.unwrap(), val(b"w"));
}

async fn put_new_refuses_a_live_key_and_accepts_after_expiry(b: Backend) {
    let s = &b.store;
    assert!(s.put_new("code:x", b"one", SHORT).await.unwrap());
    assert!(!s.put_new("code:x", b"two", LONG).await.unwrap());
    assert_eq!(s.get("code:x").await.unwrap(), val(b"one"));
    b.advance(PAST_SHORT).await;
    assert!(s.put_new("code:x", b"three", LONG).await.unwrap());
    assert_eq!(s.get("code:x").await.unwrap(), val(b"three"));
    // A deleted key is free again too.
    s.delete("code:x").await.unwrap();
    assert!(s.put_new("code:x", b"four", LONG).await.unwrap());
}

async fn replace_stores_only_over_a_live_value(b: Backend) {
    let s = &b.store;
    assert!(!s.replace("proof:r", b"never", LONG).await.unwrap(), "nothing to replace");
    assert_eq!(s.get("proof:r").await.unwrap(), None, "and nothing stored");
    s.put("proof:r", b"one", SHORT).await.unwrap();
    assert!(s.replace("proof:r", b"two", LONG).await.unwrap());
    b.advance(PAST_SHORT).await;
    assert_eq!(s.get("proof:r").await.unwrap(), val(b"two"), "replaced with its new TTL");
    // A value deleted (revoked) meanwhile is never brought back.
    s.delete("proof:r").await.unwrap();
    assert!(!s.replace("proof:r", b"three", LONG).await.unwrap());
    assert_eq!(s.get("proof:r").await.unwrap(), None);
    // Nor one that expired.
    s.put("proof:e", b"one", SHORT).await.unwrap();
    b.advance(PAST_SHORT).await;
    assert!(!s.replace("proof:e", b"two", LONG).await.unwrap());
    assert_eq!(s.get("proof:e").await.unwrap(), None);
}

async fn take_returns_the_value_once_then_none(b: Backend) {
    let s = &b.store;
    s.put("code:t", b"secret", LONG).await.unwrap();
    assert_eq!(s.take("code:t").await.unwrap(), val(b"secret"));
    assert_eq!(s.take("code:t").await.unwrap(), None);
    assert_eq!(s.get("code:t").await.unwrap(), None);
}

async fn take_is_single_use_under_concurrency(b: Backend) {
    const TAKERS: usize = 50;
    for round in 0..5 {
        let key = format!("code:race{round}");
        b.store.put(&key, b"once", LONG).await.unwrap();
        let barrier = Arc::new(Barrier::new(TAKERS));
        let mut tasks = Vec::new();
        for _ in 0..TAKERS {
            let (store, barrier, key) = (b.store.clone(), barrier.clone(), key.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                store.take(&key).await
            }));
        }
        let mut winners = 0;
        for t in tasks {
            if let Some(v) = t.await.unwrap().unwrap() {
                assert_eq!(v, b"once");
                winners += 1;
            }
        }
        assert_eq!(winners, 1, "round {round}: exactly one taker must win");
    }
}

async fn delete_removes_a_key_and_ignores_a_missing_one(b: Backend) {
    let s = &b.store;
    s.put("sess:d", b"v", LONG).await.unwrap();
    s.put("sess:other", b"w", LONG).await.unwrap();
    s.delete("sess:d").await.unwrap();
    assert_eq!(s.get("sess:d").await.unwrap(), None);
    assert!(s.get("sess:other").await.unwrap().is_some());
    s.delete("sess:d").await.unwrap();
    s.delete("sess:never-written").await.unwrap();
}

async fn end_all_deletes_every_session_of_the_account_but_the_kept_one(b: Backend) {
    let s = &b.store;
    for k in ["sess:a1", "sess:a2", "sess:a3"] {
        s.put(k, b"alice", LONG).await.unwrap();
        s.index_add("alice", k, LONG).await.unwrap();
    }
    s.put("sess:b1", b"bob", LONG).await.unwrap();
    s.index_add("bob", "sess:b1", LONG).await.unwrap();
    s.put("sess:unindexed", b"x", LONG).await.unwrap();

    assert_eq!(s.end_all("alice", Some("sess:a2")).await.unwrap(), 2);
    assert_eq!(s.get("sess:a1").await.unwrap(), None);
    assert_eq!(s.get("sess:a3").await.unwrap(), None);
    assert_eq!(s.get("sess:a2").await.unwrap(), val(b"alice"));
    assert_eq!(s.get("sess:b1").await.unwrap(), val(b"bob"));
    assert!(s.get("sess:unindexed").await.unwrap().is_some());

    // Only the kept session remains indexed: ending again without a keeper deletes just it.
    assert_eq!(s.end_all("alice", None).await.unwrap(), 1);
    assert_eq!(s.get("sess:a2").await.unwrap(), None);
    assert_eq!(s.end_all("alice", None).await.unwrap(), 0);
    // Bob was never touched.
    assert_eq!(s.end_all("bob", None).await.unwrap(), 1);
    assert_eq!(s.get("sess:b1").await.unwrap(), None);
    assert_eq!(s.end_all("nobody", Some("sess:zz")).await.unwrap(), 0);
}

async fn end_all_counts_only_sessions_that_still_existed(b: Backend) {
    let s = &b.store;
    s.put("sess:live", b"v", LONG).await.unwrap();
    s.put("sess:gone", b"v", LONG).await.unwrap();
    s.put("sess:brief", b"v", SHORT).await.unwrap();
    for k in ["sess:live", "sess:gone", "sess:brief", "sess:never"] {
        s.index_add("carol", k, LONG).await.unwrap();
    }
    s.delete("sess:gone").await.unwrap();
    b.advance(PAST_SHORT).await;
    assert_eq!(s.end_all("carol", None).await.unwrap(), 1);
    assert_eq!(s.get("sess:live").await.unwrap(), None);
}

async fn index_remove_spares_the_key_from_end_all(b: Backend) {
    let s = &b.store;
    for k in ["sess:r1", "sess:r2"] {
        s.put(k, b"v", LONG).await.unwrap();
        s.index_add("dave", k, LONG).await.unwrap();
    }
    s.index_remove("dave", "sess:r1").await.unwrap();
    s.index_remove("dave", "sess:not-indexed").await.unwrap();
    s.index_remove("nobody", "sess:r1").await.unwrap();
    assert_eq!(s.end_all("dave", None).await.unwrap(), 1);
    assert!(s.get("sess:r1").await.unwrap().is_some());
    assert_eq!(s.get("sess:r2").await.unwrap(), None);
}

async fn index_lives_as_long_as_its_longest_ttl(b: Backend) {
    let s = &b.store;
    s.put("sess:i1", b"v", LONG).await.unwrap();
    s.put("sess:i2", b"v", LONG).await.unwrap();
    s.index_add("erin", "sess:i1", LONG).await.unwrap();
    // A later, shorter index_add must not shorten the index.
    s.index_add("erin", "sess:i2", SHORT).await.unwrap();
    b.advance(PAST_SHORT).await;
    assert_eq!(s.end_all("erin", None).await.unwrap(), 2);
    assert_eq!(s.get("sess:i1").await.unwrap(), None);
    assert_eq!(s.get("sess:i2").await.unwrap(), None);
}

async fn index_members_lists_the_indexed_keys(b: Backend) {
    let s = &b.store;
    assert!(s.index_members("fay").await.unwrap().is_empty());
    for k in ["sess:m1", "sess:m2", "sess:m3"] {
        s.put(k, b"v", LONG).await.unwrap();
        s.index_add("fay", k, LONG).await.unwrap();
    }
    s.index_remove("fay", "sess:m2").await.unwrap();
    let mut keys = s.index_members("fay").await.unwrap();
    keys.sort();
    assert_eq!(keys, ["sess:m1", "sess:m3"]);
    s.end_all("fay", None).await.unwrap();
    assert!(s.index_members("fay").await.unwrap().is_empty());
}

async fn ping_succeeds(b: Backend) {
    b.store.ping().await.unwrap();
}

/// Every case, once per backend: `session_store::memory_store::<case>`,
/// `session_store::redis_store::<case>`, `session_store::cluster_store::<case>` and
/// `session_store::sentinel_store::<case>`.
macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod memory_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::memory_backend().await).await;
                }
            )*
        }
        mod redis_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::redis_backend().await).await;
                }
            )*
        }
        mod cluster_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::cluster_backend().await).await;
                }
            )*
        }
        mod sentinel_store {
            $(
                #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
                async fn $case() {
                    super::$case(super::sentinel_backend().await).await;
                }
            )*
        }
    };
}

async fn take_and_mark_leaves_the_marker_exactly_when_it_took_the_value(b: Backend) {
    let s = &b.store;
    assert_eq!(s.take_and_mark("code:m0", "used:m0", b"g0", LONG).await.unwrap(), None);
    assert_eq!(s.get("used:m0").await.unwrap(), None, "nothing taken, no marker");
    for round in 0..5 {
        let (key, marker) = (format!("code:m{round}x"), format!("used:m{round}x"));
        s.put(&key, b"once", LONG).await.unwrap();
        let barrier = Arc::new(Barrier::new(20));
        let mut tasks = Vec::new();
        for i in 0..20u8 {
            let (store, barrier, key, marker) = (b.store.clone(), barrier.clone(), key.clone(), marker.clone());
            tasks.push(tokio::spawn(async move {
                barrier.wait().await;
                let taken = store.take_and_mark(&key, &marker, &[i], LONG).await.unwrap();
                // Whoever finds the value gone finds the marker there (no gap between the two).
                let seen = store.get(&marker).await.unwrap();
                (i, taken, seen)
            }));
        }
        let mut winner = None;
        for t in tasks {
            let (i, taken, seen) = t.await.unwrap();
            assert!(seen.is_some(), "round {round}: the value was gone but no marker was there");
            if taken.is_some() {
                assert!(winner.replace(i).is_none(), "round {round}: two takers won");
            }
        }
        let winner = winner.expect("one taker wins");
        assert_eq!(s.get(&marker).await.unwrap(), Some(vec![winner]), "the winner's marker");
    }
}

async fn take_and_mark_refuses_a_marker_of_another_name(b: Backend) {
    let s = &b.store;
    s.put("code:n1", b"v", LONG).await.unwrap();
    let refused = s.take_and_mark("code:n1", "used:n2", b"g", LONG).await;
    assert!(matches!(refused, Err(StoreError::Misuse(_))), "{refused:?}");
    assert_eq!(s.get("code:n1").await.unwrap(), val(b"v"), "nothing taken");
    assert_eq!(s.get("used:n2").await.unwrap(), None, "nothing marked");
}

/// Sessions of one account whose keys fall in many slots of a cluster are all ended, and keys
/// with odd characters come back from the index as they were given.
async fn end_all_ends_sessions_spread_over_many_keys(b: Backend) {
    let s = &b.store;
    let keys: Vec<String> = (0..40).map(|i| format!("sess:spread-{i}")).collect();
    for k in &keys {
        s.put(k, b"v", LONG).await.unwrap();
        s.index_add("gina", k, LONG).await.unwrap();
    }
    for odd in ["plain", "sess:a:b", "sess:{x}"] {
        s.put(odd, b"o", LONG).await.unwrap();
        s.index_add("gina", odd, LONG).await.unwrap();
    }
    let mut listed = s.index_members("gina").await.unwrap();
    listed.sort();
    let mut expected: Vec<String> =
        keys.iter().cloned().chain(["plain", "sess:a:b", "sess:{x}"].map(String::from)).collect();
    expected.sort();
    assert_eq!(listed, expected);
    assert_eq!(s.end_all("gina", Some("sess:spread-7")).await.unwrap(), 42);
    for k in keys.iter().filter(|k| *k != "sess:spread-7") {
        assert_eq!(s.get(k).await.unwrap(), None, "{k}");
    }
    for odd in ["plain", "sess:a:b", "sess:{x}"] {
        assert_eq!(s.get(odd).await.unwrap(), None, "{odd}");
    }
    assert_eq!(s.get("sess:spread-7").await.unwrap(), val(b"v"));
    assert_eq!(s.index_members("gina").await.unwrap(), ["sess:spread-7"]);
}

conformance!(
    take_and_mark_refuses_a_marker_of_another_name,
    end_all_ends_sessions_spread_over_many_keys,
    index_members_lists_the_indexed_keys,
    take_and_mark_leaves_the_marker_exactly_when_it_took_the_value,
    put_then_get_round_trips_and_put_overwrites,
    get_of_a_missing_key_is_none,
    values_expire_after_their_ttl,
    put_overwrite_resets_the_ttl,
    put_new_refuses_a_live_key_and_accepts_after_expiry,
    replace_stores_only_over_a_live_value,
    take_returns_the_value_once_then_none,
    take_is_single_use_under_concurrency,
    delete_removes_a_key_and_ignores_a_missing_one,
    end_all_deletes_every_session_of_the_account_but_the_kept_one,
    end_all_counts_only_sessions_that_still_existed,
    index_remove_spares_the_key_from_end_all,
    index_lives_as_long_as_its_longest_ttl,
    ping_succeeds,
);

// ---- Redis only ------------------------------------------------------------------------------

fn assert_unavailable_in_time<T: std::fmt::Debug>(result: Result<T, StoreError>, started: Instant, limit: Duration) {
    let elapsed = started.elapsed();
    assert!(matches!(result, Err(StoreError::Unavailable(_))), "expected Unavailable, got {result:?}");
    assert!(elapsed < limit + Duration::from_secs(1), "took {elapsed:?}");
}

#[tokio::test]
async fn redis_connect_to_a_closed_port_fails_unavailable_within_the_timeout() {
    let limit = Duration::from_millis(500);
    let started = Instant::now();
    let result = RedisSessionStore::connect("redis://127.0.0.1:1/", "braidtest:", limit).await;
    assert_unavailable_in_time(result, started, limit);
}

#[tokio::test]
async fn redis_connect_to_a_silent_server_fails_unavailable_within_the_timeout() {
    // Accepts TCP connections but never says a word.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let hold = tokio::spawn(async move {
        let mut open = Vec::new();
        while let Ok((sock, _)) = listener.accept().await {
            open.push(sock);
        }
    });
    let limit = Duration::from_millis(500);
    let started = Instant::now();
    let result = RedisSessionStore::connect(&format!("redis://{addr}/"), "braidtest:", limit).await;
    assert_unavailable_in_time(result, started, limit);
    hold.abort();
}

#[tokio::test]
async fn redis_connect_with_a_malformed_url_fails_unavailable() {
    let result = RedisSessionStore::connect("not a url", "braidtest:", Duration::from_millis(500)).await;
    assert!(matches!(result, Err(StoreError::Unavailable(_))), "{result:?}");
}

#[tokio::test]
async fn redis_stores_with_different_prefixes_do_not_see_each_other() {
    let a = redis_with_prefix(&format!("{}:", support::unique("braidtest:"))).await;
    let b = redis_with_prefix(&format!("{}:", support::unique("braidtest:"))).await;
    a.put("sess:shared", b"from-a", LONG).await.unwrap();
    assert_eq!(b.get("sess:shared").await.unwrap(), None);
    assert_eq!(b.take("sess:shared").await.unwrap(), None);
    a.index_add("frank", "sess:shared", LONG).await.unwrap();
    assert_eq!(b.end_all("frank", None).await.unwrap(), 0);
    assert_eq!(a.get("sess:shared").await.unwrap(), val(b"from-a"));
    a.delete("sess:shared").await.unwrap();
}
