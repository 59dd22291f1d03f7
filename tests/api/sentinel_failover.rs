//! A Sentinel failover during traffic: the store fails closed (errors, never a wrong answer)
//! while the master is gone and finds the promoted replica by itself within a bounded time. The
//! test brings its own master and replica, monitored by the shared sentinels under a name of its
//! own (removed at the end), so the `braid` master the other tests use is never touched.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant};

use braid::sessions::{RedisSessionStore, RedisTarget, SessionStore, parse_sessions_url};

use crate::fail_closed::start_redis_with;

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The shared sentinels, from `BRAID_TEST_REDIS_SENTINEL`.
fn sentinels() -> Vec<(String, u16)> {
    match parse_sessions_url(&crate::support::redis_sentinel_url()) {
        Ok(Some(RedisTarget::Sentinel { sentinels, .. })) => sentinels,
        other => panic!("BRAID_TEST_REDIS_SENTINEL is not a redis+sentinel:// URL: {other:?}"),
    }
}

async fn conn(host: &str, port: u16) -> redis::aio::MultiplexedConnection {
    redis::Client::open(format!("redis://{host}:{port}/")).unwrap().get_multiplexed_async_connection().await.unwrap()
}

/// Stops the sentinels monitoring `name` when the test ends, whatever happened.
struct Monitored {
    name: String,
    sentinels: Vec<(String, u16)>,
}

impl Drop for Monitored {
    fn drop(&mut self) {
        for (h, p) in &self.sentinels {
            if let Ok(mut c) = redis::Client::open(format!("redis://{h}:{p}/")).and_then(|c| c.get_connection()) {
                let _: redis::RedisResult<()> = redis::cmd("SENTINEL").arg("REMOVE").arg(&self.name).query(&mut c);
            }
        }
    }
}

async fn master_port(sentinel: &mut redis::aio::MultiplexedConnection, name: &str) -> Option<u16> {
    let addr: Option<(String, String)> =
        redis::cmd("SENTINEL").arg("GET-MASTER-ADDR-BY-NAME").arg(name).query_async(sentinel).await.ok()?;
    addr.and_then(|(_, p)| p.parse().ok())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sentinel_failover_fails_closed_then_recovers_by_itself() {
    let sentinels = sentinels();
    let (mport, rport) = (free_port(), free_port());
    let _master = start_redis_with(mport, &["--enable-debug-command", "yes"]).await;
    let _replica = start_redis_with(rport, &["--replicaof", "127.0.0.1", &mport.to_string()]).await;
    let name = crate::support::unique("braidfo");
    let _monitored = Monitored { name: name.clone(), sentinels: sentinels.clone() };
    for (h, p) in &sentinels {
        let mut s = conn(h, *p).await;
        let _: () = redis::cmd("SENTINEL")
            .arg("MONITOR")
            .arg(&name)
            .arg("127.0.0.1")
            .arg(mport)
            .arg(2)
            .query_async(&mut s)
            .await
            .unwrap();
        let _: () = redis::cmd("SENTINEL")
            .arg("SET")
            .arg(&name)
            .arg("down-after-milliseconds")
            .arg(1000)
            .arg("failover-timeout")
            .arg(4000)
            .query_async(&mut s)
            .await
            .unwrap();
    }
    // Ready when every sentinel knows the replica and the two other sentinels.
    let started = Instant::now();
    'ready: loop {
        assert!(started.elapsed() < Duration::from_secs(20), "the sentinels did not agree on {name}");
        for (h, p) in &sentinels {
            let mut s = conn(h, *p).await;
            let peers: Vec<redis::Value> =
                redis::cmd("SENTINEL").arg("SENTINELS").arg(&name).query_async(&mut s).await.unwrap();
            let replicas: Vec<redis::Value> =
                redis::cmd("SENTINEL").arg("REPLICAS").arg(&name).query_async(&mut s).await.unwrap();
            if peers.len() < sentinels.len() - 1 || replicas.is_empty() {
                tokio::time::sleep(Duration::from_millis(200)).await;
                continue 'ready;
            }
        }
        break;
    }

    let hosts: Vec<String> = sentinels.iter().map(|(h, p)| format!("{h}:{p}")).collect();
    let url = format!("redis+sentinel://{}/{name}/0", hosts.join(","));
    let store: Arc<dyn SessionStore> =
        Arc::new(RedisSessionStore::connect(&url, "braidtest:fo:", Duration::from_millis(500)).await.unwrap());
    // A value written and replicated before the failover is still there after it.
    store.put("sess:before", b"kept", Duration::from_secs(120)).await.unwrap();
    let mut m = conn("127.0.0.1", mport).await;
    let mut r = conn("127.0.0.1", rport).await;
    let replicated = Instant::now();
    loop {
        let v: Option<Vec<u8>> = redis::cmd("GET").arg("braidtest:fo:sess:{before}").query_async(&mut r).await.unwrap();
        if v.is_some() {
            break;
        }
        assert!(replicated.elapsed() < Duration::from_secs(5), "the replica never got the value");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    // Traffic: write a fresh key, read it back; every answer is the right one or an error.
    let stop = Arc::new(AtomicBool::new(false));
    let traffic = {
        let (store, stop) = (store.clone(), stop.clone());
        tokio::spawn(async move {
            let mut log: Vec<(Instant, bool)> = Vec::new();
            let mut i = 0u64;
            while !stop.load(Ordering::SeqCst) {
                i += 1;
                let (key, value) = (format!("sess:t{i}"), i.to_be_bytes().to_vec());
                let ok = match store.put(&key, &value, Duration::from_secs(120)).await {
                    Err(_) => false,
                    Ok(()) => match store.get(&key).await {
                        Err(_) => false,
                        Ok(got) => {
                            assert_eq!(got, Some(value), "{key}: a wrong answer");
                            true
                        }
                    },
                };
                log.push((Instant::now(), ok));
                if !ok {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            }
            log
        })
    };
    tokio::time::sleep(Duration::from_millis(500)).await;

    // The master stops answering; the sentinels promote the replica.
    let sleeping = tokio::spawn(async move {
        let _: redis::RedisResult<()> = redis::cmd("DEBUG").arg("SLEEP").arg(6).query_async(&mut m).await;
    });
    let failing_from = Instant::now();
    let mut s = conn(&sentinels[0].0, sentinels[0].1).await;
    while master_port(&mut s, &name).await != Some(rport) {
        assert!(failing_from.elapsed() < Duration::from_secs(20), "no failover within 20 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let promoted = Instant::now();
    // Recovery by itself: ten answers in a row within 5 s of the promotion.
    tokio::time::sleep(Duration::from_secs(5)).await;
    stop.store(true, Ordering::SeqCst);
    let log = traffic.await.expect("no wrong answer during the failover");
    sleeping.abort();

    let failed = log.iter().filter(|(at, ok)| !ok && *at >= failing_from).count();
    assert!(failed > 0, "operations failed closed while the master slept");
    let recovered = log
        .windows(10)
        .find(|w| w.iter().all(|(_, ok)| *ok) && w[0].0 >= failing_from)
        .map(|w| w[0].0)
        .expect("the store recovered by itself");
    assert!(
        recovered < promoted + Duration::from_secs(5),
        "recovered {:?} after the promotion",
        recovered.saturating_duration_since(promoted)
    );
    // The store now talks to the promoted replica, and what was written before is there.
    assert_eq!(store.get("sess:before").await.unwrap(), Some(b"kept".to_vec()));
    store.put("sess:after", b"new", Duration::from_secs(60)).await.unwrap();
    // (The promotion closed the clients of the replica: a fresh connection.)
    let mut r = conn("127.0.0.1", rport).await;
    let direct: Option<Vec<u8>> = redis::cmd("GET").arg("braidtest:fo:sess:{after}").query_async(&mut r).await.unwrap();
    assert_eq!(direct, Some(b"new".to_vec()));
}
