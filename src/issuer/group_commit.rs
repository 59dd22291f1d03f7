//! Group commit of refresh-token rotations on SQLite: one writer task takes the rotations
//! waiting for it, runs them one after another in one transaction and commits once, so a single
//! fsync (with the default `sqlite_synchronous = "full"`) covers every rotation of the group.
//! Each caller is answered only after the commit: an answered rotation is on disk. When any
//! rotation of a group fails, the whole group is rolled back and every caller of it is told the
//! store is unavailable (nothing was spent; the client may present its token again).
//!
//! SQLite admits one writer at a time anyway, so running a group in order changes no outcome:
//! two rotations of one token in one group meet exactly as they would one after the other.

use std::sync::{Arc, OnceLock};

use sqlx::Connection as _;
use tokio::sync::{mpsc, oneshot};

use super::grants::{RotateJob, Rotation, rotate_in, unavailable};
use crate::accounts::AccountError;
use crate::db::Db;

/// The most rotations one commit covers (a bound on how long the first of them waits).
const MAX_GROUP: usize = 64;
/// Rotations that may wait for the writer before callers wait to queue.
const QUEUE: usize = 1024;

type Reply = oneshot::Sender<Result<Rotation, AccountError>>;

/// The handle to the writer task, started by the first rotation (inside the runtime that
/// serves it) and shared by every clone of the grant store.
#[derive(Debug, Clone, Default)]
pub struct Writer {
    queue: Arc<OnceLock<mpsc::Sender<(RotateJob, Reply)>>>,
}

impl Writer {
    /// Rotate through the writer task over `db`, and wait for the group's commit.
    pub async fn rotate(&self, db: &Db, job: RotateJob) -> Result<Rotation, AccountError> {
        let queue = self.queue.get_or_init(|| {
            let (tx, rx) = mpsc::channel(QUEUE);
            tokio::spawn(run(db.clone(), rx));
            tx
        });
        let (reply, answer) = oneshot::channel();
        let gone = || AccountError::Unavailable("the SQL writer task has stopped".into());
        queue.send((job, reply)).await.map_err(|_| gone())?;
        answer.await.map_err(|_| gone())?
    }
}

/// The writer: wait for a rotation, take every other one already waiting (up to
/// [`MAX_GROUP`]), and commit them as one group.
async fn run(db: Db, mut rx: mpsc::Receiver<(RotateJob, Reply)>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
        commit_group(&db, std::mem::take(&mut group)).await;
    }
}

async fn commit_group(db: &Db, group: Vec<(RotateJob, Reply)>) {
    let mut conn = match db.pool.acquire().await {
        Ok(c) => c,
        Err(e) => return refuse(group, &why(unavailable(e))),
    };
    let mut tx = match conn.begin().await {
        Ok(tx) => tx,
        Err(e) => return refuse(group, &why(unavailable(e))),
    };
    let mut done = Vec::with_capacity(group.len());
    for (job, reply) in group {
        match rotate_in(&mut tx, &job).await {
            Ok(outcome) => done.push((outcome, reply)),
            Err(e) => {
                // Roll back everything this group did; the failed caller is told too.
                drop(tx);
                let reason = e.to_string();
                let _ = reply.send(Err(e));
                return refuse(done, &reason);
            }
        }
    }
    match tx.commit().await {
        Ok(()) => {
            for (outcome, reply) in done {
                // A caller that went away loses only its answer; the rotation stands, as when
                // a client drops its connection after braid has committed.
                let _ = reply.send(Ok(outcome));
            }
        }
        Err(e) => refuse(done, &why(unavailable(e))),
    }
}

/// Tell every caller of `group` that the store is unavailable, and why.
fn refuse<J>(group: Vec<(J, Reply)>, why: &str) {
    for (_, reply) in group {
        let _ = reply.send(Err(AccountError::Unavailable(why.to_owned())));
    }
}

/// The reason in `e`, to repeat to every caller of a group.
fn why(e: AccountError) -> String {
    match e {
        AccountError::Unavailable(reason) => reason,
        other => other.to_string(),
    }
}
