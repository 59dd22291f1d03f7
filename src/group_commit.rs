//! Group commit of SQLite writes on the hot paths (a known user's sign-in, the grant made at
//! code redemption, refresh-token rotation): one writer task per database takes the writes
//! waiting for it, runs them one after another in one transaction and commits once, so a single
//! fsync (with the default `sqlite_synchronous = "full"`) covers every write of the group. Each
//! caller is answered only after the commit: an answered write is on disk. When one write of a
//! group fails, the transaction is rolled back, that caller gets its error, and the others run
//! again without it in a new transaction; a failure to begin or to commit tells every caller of
//! the group the store is unavailable (nothing was written).
//!
//! SQLite admits one writer at a time anyway, so running a group in order changes no outcome:
//! two rotations of one token in one group meet exactly as they would one after the other.

use std::future::Future;
use std::pin::Pin;
use std::sync::{Arc, OnceLock};

use sqlx::{AnyConnection, Connection as _};
use tokio::sync::{mpsc, oneshot};

use crate::accounts::AccountError;
use crate::db::Db;

/// The most writes one commit covers (a bound on how long the first of them waits).
const MAX_GROUP: usize = 64;
/// Writes that may wait for the writer before callers wait to queue.
const QUEUE: usize = 1024;

/// The future of one write inside the group's transaction.
pub type WriteFuture<'c, T> = Pin<Box<dyn Future<Output = Result<T, AccountError>> + Send + 'c>>;

/// A write: what it does with its input inside the group's transaction. It may run more than
/// once (after a rollback caused by another write of its group), so it must depend only on its
/// input and the database.
pub type Run<S, T> = for<'c> fn(&'c S, &'c mut AnyConnection) -> WriteFuture<'c, T>;

/// A write waiting for the writer, with its caller's answer.
trait Job: Send {
    fn run<'c>(&'c mut self, conn: &'c mut AnyConnection) -> WriteFuture<'c, ()>;
    fn answer(self: Box<Self>, outcome: Result<(), AccountError>);
}

struct Write<S, T> {
    input: S,
    run: Run<S, T>,
    out: Option<T>,
    reply: oneshot::Sender<Result<T, AccountError>>,
}

impl<S: Send + Sync, T: Send> Job for Write<S, T> {
    fn run<'c>(&'c mut self, conn: &'c mut AnyConnection) -> WriteFuture<'c, ()> {
        let Self { input, run, out, .. } = self;
        Box::pin(async move {
            *out = Some(run(input, conn).await?);
            Ok(())
        })
    }

    fn answer(self: Box<Self>, outcome: Result<(), AccountError>) {
        let Write { out, reply, .. } = *self;
        let result =
            outcome.and_then(|()| out.ok_or_else(|| AccountError::Unavailable("the write did not run".into())));
        // A caller that went away loses only its answer; the write stands, as when a client
        // drops its connection after braid has committed.
        let _ = reply.send(result);
    }
}

/// The handle to a database's writer task, started by the first write (inside the runtime that
/// serves it) and shared by every clone of the database handle.
#[derive(Clone, Default)]
pub struct GroupWriter {
    queue: Arc<OnceLock<mpsc::Sender<Box<dyn Job>>>>,
}

impl std::fmt::Debug for GroupWriter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GroupWriter").field("started", &self.queue.get().is_some()).finish()
    }
}

impl GroupWriter {
    /// Run `run` on `input` in the next group committed to `db`, and wait for the commit.
    pub async fn write<S, T>(&self, db: &Db, input: S, run: Run<S, T>) -> Result<T, AccountError>
    where
        S: Send + Sync + 'static,
        T: Send + 'static,
    {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(writer(db.pool.clone(), rx));
            tx
        });
        let (reply, answer) = oneshot::channel();
        let gone = || AccountError::Unavailable("the SQL writer task has stopped".into());
        let job: Box<dyn Job> = Box::new(Write { input, run, out: None, reply });
        queue.send(job).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// The writer: wait for a write, take every other one already waiting (up to [`MAX_GROUP`]),
/// and commit them as one group.
async fn writer(pool: sqlx::AnyPool, mut rx: mpsc::Receiver<Box<dyn Job>>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
        commit_group(&pool, std::mem::take(&mut group)).await;
    }
}

async fn commit_group(pool: &sqlx::AnyPool, mut group: Vec<Box<dyn Job>>) {
    while !group.is_empty() {
        let mut conn = match pool.acquire().await {
            Ok(c) => c,
            Err(e) => return refuse(group, &e),
        };
        let mut tx = match conn.begin().await {
            Ok(tx) => tx,
            Err(e) => return refuse(group, &e),
        };
        let mut failed = None;
        for (i, job) in group.iter_mut().enumerate() {
            if let Err(e) = job.run(&mut tx).await {
                failed = Some((i, e));
                break;
            }
        }
        if let Some((i, e)) = failed {
            // Undo the group; the failed write's caller gets its error, the others run again.
            drop(tx);
            group.remove(i).answer(Err(e));
            continue;
        }
        match tx.commit().await {
            Ok(()) => group.into_iter().for_each(|job| job.answer(Ok(()))),
            Err(e) => refuse(group, &e),
        }
        return;
    }
}

/// Tell every caller of `group` that the store is unavailable, and why.
fn refuse(group: Vec<Box<dyn Job>>, e: &sqlx::Error) {
    crate::metrics::store_error("sql");
    for job in group {
        job.answer(Err(AccountError::Unavailable(e.to_string())));
    }
}
