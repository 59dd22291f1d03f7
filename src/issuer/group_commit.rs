//! Group commit of grant writes on SQLite (refresh-token rotations and the grants made at code
//! redemption): one writer task takes the writes waiting for it, runs them one after another in
//! one transaction and commits once, so a single fsync (with the default `sqlite_synchronous =
//! "full"`) covers every write of the group. Each caller is answered only after the commit: an
//! answered rotation is on disk. When one write of a group fails, the transaction is rolled
//! back, that caller gets its error, and the others run again without it in a new transaction;
//! a failure to begin or to commit tells every caller of the group the store is unavailable
//! (nothing was written; a client may present its token again).
//!
//! SQLite admits one writer at a time anyway, so running a group in order changes no outcome:
//! two rotations of one token in one group meet exactly as they would one after the other.

use std::sync::{Arc, OnceLock};

use sqlx::Connection as _;
use tokio::sync::{mpsc, oneshot};

use super::grants::{Grant, RotateJob, Rotation, create_in, rotate_in, unavailable};
use crate::accounts::AccountError;
use crate::db::Db;

/// The most writes one commit covers (a bound on how long the first of them waits).
const MAX_GROUP: usize = 64;
/// Writes that may wait for the writer before callers wait to queue.
const QUEUE: usize = 1024;

/// One write for the writer task.
enum Job {
    Rotate(RotateJob),
    Create(Box<Grant>, String),
}

/// What a write did.
enum Done {
    Rotated(Rotation),
    Created,
}

type Reply = oneshot::Sender<Result<Done, AccountError>>;

/// The handle to the writer task, started by the first write (inside the runtime that serves
/// it) and shared by every clone of the grant store.
#[derive(Debug, Clone, Default)]
pub struct Writer {
    queue: Arc<OnceLock<mpsc::Sender<(Job, Reply)>>>,
}

impl Writer {
    /// Rotate through the writer task over `db`, and wait for the group's commit.
    pub async fn rotate(&self, db: &Db, job: RotateJob) -> Result<Rotation, AccountError> {
        match self.write(db, Job::Rotate(job)).await? {
            Done::Rotated(outcome) => Ok(outcome),
            Done::Created => Err(AccountError::Unavailable("the SQL writer answered another write".into())),
        }
    }

    /// Store a grant through the writer task over `db`, and wait for the group's commit.
    pub async fn create(&self, db: &Db, grant: Grant, refresh_hash: String) -> Result<(), AccountError> {
        match self.write(db, Job::Create(Box::new(grant), refresh_hash)).await? {
            Done::Created => Ok(()),
            Done::Rotated(_) => Err(AccountError::Unavailable("the SQL writer answered another write".into())),
        }
    }

    async fn write(&self, db: &Db, job: Job) -> Result<Done, AccountError> {
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

/// The writer: wait for a write, take every other one already waiting (up to [`MAX_GROUP`]),
/// and commit them as one group.
async fn run(db: Db, mut rx: mpsc::Receiver<(Job, Reply)>) {
    let mut group = Vec::with_capacity(MAX_GROUP);
    while rx.recv_many(&mut group, MAX_GROUP).await > 0 {
        commit_group(&db, std::mem::take(&mut group)).await;
    }
}

async fn commit_group(db: &Db, mut group: Vec<(Job, Reply)>) {
    while !group.is_empty() {
        let mut conn = match db.pool.acquire().await {
            Ok(c) => c,
            Err(e) => return refuse(group, &why(unavailable(e))),
        };
        let mut tx = match conn.begin().await {
            Ok(tx) => tx,
            Err(e) => return refuse(group, &why(unavailable(e))),
        };
        let mut done = Vec::with_capacity(group.len());
        let mut failed = None;
        for (i, (job, _)) in group.iter().enumerate() {
            let result = match job {
                Job::Rotate(job) => rotate_in(&mut tx, job).await.map(Done::Rotated),
                Job::Create(grant, hash) => create_in(&mut tx, grant, hash).await.map(|()| Done::Created),
            };
            match result {
                Ok(d) => done.push(d),
                Err(e) => {
                    failed = Some((i, e));
                    break;
                }
            }
        }
        if let Some((i, e)) = failed {
            // Undo the group; the failed write's caller gets its error, the others run again.
            drop(tx);
            let (_, reply) = group.remove(i);
            let _ = reply.send(Err(e));
            continue;
        }
        match tx.commit().await {
            Ok(()) => {
                for (d, (_, reply)) in done.into_iter().zip(group) {
                    // A caller that went away loses only its answer; the write stands, as when a
                    // client drops its connection after braid has committed.
                    let _ = reply.send(Ok(d));
                }
            }
            Err(e) => refuse(group, &why(unavailable(e))),
        }
        return;
    }
}

/// Tell every caller of `group` that the store is unavailable, and why.
fn refuse(group: Vec<(Job, Reply)>, why: &str) {
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
