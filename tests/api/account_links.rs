//! Conformance suite for changes to accounts (link, unlink, sign-in switch, primary, move,
//! merge, disable, delete) on SQLite and a real PostgreSQL: the rules, the audit log, the webhook
//! outbox, revoked grants, and races settled by the database.

use std::sync::Arc;

use braid::accounts::{
    AccountId, AccountStatus, AccountStore, Actor, ExternalIdentity, LinkOutcome, Refusal, SignInProviders,
    SqlAccountStore,
};
use braid::db::Db;
use braid::issuer::grants::{Grant, GrantStore, SqlGrantStore};
use sqlx::Row;

use crate::support;

const T0: i64 = 1_700_000_000_000;

struct F {
    store: Arc<dyn AccountStore>,
    grants: SqlGrantStore,
    db: Db,
    _dir: Option<tempfile::TempDir>,
}

async fn sqlite() -> F {
    let dir = tempfile::tempdir().unwrap();
    let db = Db::connect(&support::sqlite_url(&dir)).await.unwrap();
    F { store: Arc::new(SqlAccountStore::new(db.clone())), grants: SqlGrantStore::new(db.clone()), db, _dir: Some(dir) }
}

async fn postgres() -> F {
    let db = Db::connect(&support::fresh_pg_url().await).await.unwrap();
    F { store: Arc::new(SqlAccountStore::new(db.clone())), grants: SqlGrantStore::new(db.clone()), db, _dir: None }
}

fn ext(issuer: &str, subject: &str, email: Option<&str>, verified: bool) -> ExternalIdentity {
    ExternalIdentity {
        issuer: issuer.into(),
        subject: subject.into(),
        email: email.map(Into::into),
        email_verified: verified,
        name: None,
        claims: Default::default(),
    }
}

fn admin() -> Actor {
    Actor::admin("test")
}

/// Identities are linked through provider `p`, which can sign in.
fn usable() -> SignInProviders {
    SignInProviders::new(["p"])
}

/// A new account with one identity; returns (account, identity id).
async fn account(f: &F, subject: &str) -> (AccountId, i64) {
    let r = f.store.resolve_or_create("p", &ext("https://a.example", subject, None, false), T0).await.unwrap();
    (r.account.id, r.identity.id)
}

async fn outbox_count(f: &F) -> i64 {
    sqlx::query("SELECT COUNT(*) AS n FROM webhook_outbox").fetch_one(&f.db.pool).await.unwrap().get::<i64, _>("n")
}

macro_rules! conformance {
    ($($case:ident),* $(,)?) => {
        mod sqlite_links { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() { super::$case(super::sqlite().await).await; }
        )* }
        mod postgres_links { $(
            #[tokio::test(flavor = "multi_thread", worker_threads = 4)]
            async fn $case() { super::$case(super::postgres().await).await; }
        )* }
    };
}

conformance!(
    linking_a_new_identity_records_audit_outbox_and_revokes_grants,
    linking_an_identity_already_here_changes_nothing,
    linking_an_identity_of_another_account_is_refused_and_nothing_moves,
    unlink_never_takes_the_primary_or_the_last_identity_that_can_sign_in,
    sign_in_is_never_switched_off_for_the_last_identity,
    identities_of_a_disabled_provider_do_not_count_as_ways_to_sign_in,
    the_primary_is_chosen_among_the_accounts_own_identities,
    move_fixes_an_identity_put_on_the_wrong_account,
    merge_moves_every_identity_and_marks_the_old_account,
    disable_and_delete,
    verified_email_lookup_sees_only_verified_emails_of_active_accounts,
    one_identity_linked_to_two_accounts_at_once_lands_on_exactly_one,
    the_last_two_identities_unlinked_at_once_leave_one,
    a_change_expecting_an_older_version_is_refused_and_writes_nothing,
);

/// Every change raises the account's version; an actor that expects an older one (an admin's
/// stale `If-Match`) is refused with `Changed` by each kind of change, and nothing is written.
async fn a_change_expecting_an_older_version_is_refused_and_writes_nothing(f: F) {
    let (a, primary) = account(&f, "s1").await;
    let (b, _) = account(&f, "s2").await;
    let LinkOutcome::Linked(second) =
        f.store.link(&a, "p", &ext("https://b.example", "x", None, false), &admin(), T0).await.unwrap()
    else {
        panic!()
    };
    let seen = f.store.account_version(&a).await.unwrap().unwrap();
    let stale = Actor { expect: Some((a.clone(), seen)), ..admin() };
    // Someone else changes the account after it was read.
    f.store.set_primary(&a, second.id, &admin(), T0).await.unwrap().unwrap();
    assert_eq!(f.store.account_version(&a).await.unwrap(), Some(seen + 1));
    let (audit, outbox) = (f.store.audit(&a).await.unwrap().len(), outbox_count(&f).await);
    let changed = Err(Refusal::Changed);
    assert_eq!(
        f.store.link(&a, "p", &ext("https://c.example", "y", None, false), &stale, T0).await.unwrap(),
        LinkOutcome::Changed
    );
    assert_eq!(f.store.unlink(&a, primary, &usable(), &stale, T0).await.unwrap().map(|_| ()), changed);
    assert_eq!(f.store.set_can_sign_in(&a, second.id, false, &usable(), &stale, T0).await.unwrap(), changed);
    assert_eq!(f.store.update_identity(&a, primary, None, true, &usable(), &stale, T0).await.unwrap(), changed);
    assert_eq!(f.store.move_identity(primary, &b, &usable(), &stale, T0).await.unwrap().map(|_| ()), changed);
    assert_eq!(f.store.merge(&a, &b, &stale, T0).await.unwrap().map(|_| ()), changed);
    assert_eq!(f.store.set_disabled(&a, true, &stale, T0).await.unwrap(), changed);
    assert_eq!(f.store.delete(&a, &stale, T0).await.unwrap(), changed);
    assert_eq!((f.store.audit(&a).await.unwrap().len(), outbox_count(&f).await), (audit, outbox), "nothing written");
    assert_eq!(f.store.account_version(&a).await.unwrap(), Some(seen + 1), "a refusal raises nothing");
    assert!(f.store.find_identity("https://c.example", "y").await.unwrap().is_none());
    assert_eq!(f.store.identities(&a).await.unwrap().len(), 2);
    assert_eq!(f.store.account(&a).await.unwrap().unwrap().status, AccountStatus::Active);
    // The current version passes, and an update of both switch and primary is one change.
    let current = Actor { expect: Some((a.clone(), seen + 1)), ..admin() };
    f.store.update_identity(&a, primary, Some(false), true, &usable(), &current, T0).await.unwrap().unwrap();
    assert_eq!(f.store.account(&a).await.unwrap().unwrap().primary_identity, Some(primary));
    assert!(!f.store.identity(primary).await.unwrap().unwrap().can_sign_in);
    let actions: Vec<String> = f.store.audit(&a).await.unwrap().into_iter().map(|e| e.action).collect();
    assert!(actions.ends_with(&["identity.sign_in_forbidden".into(), "account.primary_changed".into()]), "{actions:?}");
    assert_eq!(f.store.account_version(&a).await.unwrap(), Some(seen + 2), "one transaction, one version");
    assert_eq!(f.store.set_disabled(&b, true, &current, T0).await.unwrap(), Ok(()), "another account is not bound");
}

async fn linking_a_new_identity_records_audit_outbox_and_revokes_grants(f: F) {
    let (a, _) = account(&f, "s1").await;
    let grant = Grant {
        id: "g".into(),
        account_id: a.clone(),
        client_id: "c".into(),
        scope: "openid".into(),
        auth_time: None,
        idp: "i".into(),
        amr: "x".into(),
        sid: "s".into(),
        created_at: T0,
        expires_at: T0 * 2,
        revoked_at: None,
        identity_id: None,
        provider_id: None,
        session_key: None,
        acr: None,
        claims: Default::default(),
    };
    f.grants.create(&grant, "h").await.unwrap();
    let before = outbox_count(&f).await;
    let out = f
        .store
        .link(
            &a,
            "q",
            &ext("https://b.example", "s1", Some("x@b.example"), true),
            &Actor::person(&a, Some("192.0.2.1".into())),
            T0 + 1,
        )
        .await
        .unwrap();
    let LinkOutcome::Linked(i) = out else { panic!("{out:?}") };
    assert_eq!(i.account_id, a);
    assert_eq!(i.provider_id, "q");
    assert_eq!(f.store.identities(&a).await.unwrap().len(), 2);
    let audit = f.store.audit(&a).await.unwrap();
    let last = audit.last().unwrap();
    assert_eq!(
        (last.action.as_str(), last.issuer.as_deref(), last.subject.as_deref()),
        ("identity.linked", Some("https://b.example"), Some("s1"))
    );
    assert_eq!(last.actor, format!("account:{a}"));
    assert_eq!(last.ip.as_deref(), Some("192.0.2.1"));
    assert_eq!(outbox_count(&f).await, before + 1, "one webhook event in the same transaction");
    assert!(f.grants.get("g").await.unwrap().unwrap().revoked_at.is_some(), "refresh tokens ended");
}

async fn linking_an_identity_already_here_changes_nothing(f: F) {
    let (a, id) = account(&f, "s1").await;
    let before = f.store.audit(&a).await.unwrap().len();
    let out = f.store.link(&a, "p", &ext("https://a.example", "s1", None, false), &admin(), T0).await.unwrap();
    assert!(matches!(out, LinkOutcome::AlreadyOnThisAccount(i) if i.id == id));
    assert_eq!(f.store.audit(&a).await.unwrap().len(), before);
}

async fn linking_an_identity_of_another_account_is_refused_and_nothing_moves(f: F) {
    let (a, _) = account(&f, "s1").await;
    let (b, _) = account(&f, "s2").await;
    let out = f.store.link(&a, "p", &ext("https://a.example", "s2", None, false), &admin(), T0).await.unwrap();
    assert_eq!(out, LinkOutcome::OnAnotherAccount);
    assert_eq!(f.store.find_identity("https://a.example", "s2").await.unwrap().unwrap().account_id, b);
    assert_eq!(f.store.identities(&a).await.unwrap().len(), 1);
    f.store.set_disabled(&a, true, &admin(), T0).await.unwrap().unwrap();
    let out = f.store.link(&a, "p", &ext("https://c.example", "new", None, false), &admin(), T0).await.unwrap();
    assert_eq!(out, LinkOutcome::AccountNotActive);
    assert!(f.store.find_identity("https://c.example", "new").await.unwrap().is_none());
}

async fn unlink_never_takes_the_primary_or_the_last_identity_that_can_sign_in(f: F) {
    let (a, primary) = account(&f, "s1").await;
    assert_eq!(f.store.unlink(&a, primary, &usable(), &admin(), T0).await.unwrap(), Err(Refusal::Primary));
    let LinkOutcome::Linked(second) =
        f.store.link(&a, "p", &ext("https://b.example", "x", None, false), &admin(), T0).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(f.store.unlink(&a, second.id, &usable(), &admin(), T0).await.unwrap().map(|i| i.id), Ok(second.id));
    assert!(f.store.find_identity("https://b.example", "x").await.unwrap().is_none());
    assert_eq!(f.store.unlink(&a, second.id, &usable(), &admin(), T0).await.unwrap(), Err(Refusal::NotFound));
    // Make the other identity the primary, forbid sign-in with it: the old primary is now the
    // last identity that can sign in.
    let LinkOutcome::Linked(third) =
        f.store.link(&a, "p", &ext("https://b.example", "y", None, false), &admin(), T0).await.unwrap()
    else {
        panic!()
    };
    f.store.set_primary(&a, third.id, &admin(), T0).await.unwrap().unwrap();
    f.store.set_can_sign_in(&a, third.id, false, &usable(), &admin(), T0).await.unwrap().unwrap();
    assert_eq!(f.store.unlink(&a, primary, &usable(), &admin(), T0).await.unwrap(), Err(Refusal::LastSignIn));
    let (b, _) = account(&f, "other").await;
    assert_eq!(
        f.store.unlink(&b, primary, &usable(), &admin(), T0).await.unwrap(),
        Err(Refusal::NotFound),
        "not b's identity"
    );
}

async fn sign_in_is_never_switched_off_for_the_last_identity(f: F) {
    let (a, primary) = account(&f, "s1").await;
    assert_eq!(
        f.store.set_can_sign_in(&a, primary, false, &usable(), &admin(), T0).await.unwrap(),
        Err(Refusal::LastSignIn)
    );
    let LinkOutcome::Linked(second) =
        f.store.link(&a, "p", &ext("https://b.example", "x", None, false), &admin(), T0).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(f.store.set_can_sign_in(&a, primary, false, &usable(), &admin(), T0).await.unwrap(), Ok(()));
    assert!(!f.store.find_identity("https://a.example", "s1").await.unwrap().unwrap().can_sign_in);
    assert_eq!(
        f.store.set_can_sign_in(&a, second.id, false, &usable(), &admin(), T0).await.unwrap(),
        Err(Refusal::LastSignIn)
    );
}

async fn identities_of_a_disabled_provider_do_not_count_as_ways_to_sign_in(f: F) {
    let (a, primary) = account(&f, "s1").await;
    // A second identity that can sign in, but through provider `q`, which is disabled.
    let LinkOutcome::Linked(via_q) =
        f.store.link(&a, "q", &ext("https://q.example", "x", None, false), &admin(), T0).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(
        f.store.set_can_sign_in(&a, primary, false, &usable(), &admin(), T0).await.unwrap(),
        Err(Refusal::LastSignIn),
        "the identity of the disabled provider is no way in"
    );
    let (b, _) = account(&f, "s2").await;
    assert_eq!(
        f.store.move_identity(primary, &b, &usable(), &admin(), T0).await.unwrap(),
        Err(Refusal::Primary),
        "still the primary"
    );
    f.store.set_primary(&a, via_q.id, &admin(), T0).await.unwrap().unwrap();
    assert_eq!(f.store.unlink(&a, primary, &usable(), &admin(), T0).await.unwrap(), Err(Refusal::LastSignIn));
    assert_eq!(f.store.move_identity(primary, &b, &usable(), &admin(), T0).await.unwrap(), Err(Refusal::LastSignIn));
    // With `q` enabled again, it counts.
    let both = SignInProviders::new(["p", "q"]);
    assert_eq!(f.store.set_can_sign_in(&a, primary, false, &both, &admin(), T0).await.unwrap(), Ok(()));
    // No provider can sign in at all: nothing that could lock the account out is allowed.
    assert_eq!(
        f.store.set_can_sign_in(&a, via_q.id, false, &SignInProviders::default(), &admin(), T0).await.unwrap(),
        Err(Refusal::LastSignIn)
    );
}

async fn the_primary_is_chosen_among_the_accounts_own_identities(f: F) {
    let (a, _) = account(&f, "s1").await;
    let (_, foreign) = account(&f, "s2").await;
    assert_eq!(f.store.set_primary(&a, foreign, &admin(), T0).await.unwrap(), Err(Refusal::NotFound));
    let LinkOutcome::Linked(second) =
        f.store.link(&a, "p", &ext("https://b.example", "x", None, false), &admin(), T0).await.unwrap()
    else {
        panic!()
    };
    f.store.set_primary(&a, second.id, &admin(), T0).await.unwrap().unwrap();
    assert_eq!(f.store.account(&a).await.unwrap().unwrap().primary_identity, Some(second.id));
    assert_eq!(f.store.audit(&a).await.unwrap().last().unwrap().action, "account.primary_changed");
}

async fn move_fixes_an_identity_put_on_the_wrong_account(f: F) {
    let (a, a_primary) = account(&f, "s1").await;
    let (b, _) = account(&f, "s2").await;
    let LinkOutcome::Linked(wrong) =
        f.store.link(&a, "p", &ext("https://b.example", "bobs", None, false), &admin(), T0).await.unwrap()
    else {
        panic!()
    };
    assert_eq!(f.store.move_identity(a_primary, &b, &usable(), &admin(), T0).await.unwrap(), Err(Refusal::Primary));
    assert_eq!(f.store.move_identity(wrong.id, &a, &usable(), &admin(), T0).await.unwrap(), Err(Refusal::SameAccount));
    assert_eq!(f.store.move_identity(wrong.id, &b, &usable(), &admin(), T0).await.unwrap(), Ok(a.clone()));
    assert_eq!(f.store.find_identity("https://b.example", "bobs").await.unwrap().unwrap().account_id, b);
    assert!(
        f.store.audit(&b).await.unwrap().iter().any(|e| e.action == "identity.moved"),
        "both accounts see the move"
    );
    assert_eq!(f.store.move_identity(9_999_999, &b, &usable(), &admin(), T0).await.unwrap(), Err(Refusal::NotFound));
}

async fn merge_moves_every_identity_and_marks_the_old_account(f: F) {
    let (a, _) = account(&f, "s1").await;
    let (b, _) = account(&f, "s2").await;
    f.store.link(&b, "p", &ext("https://b.example", "x", None, false), &admin(), T0).await.unwrap();
    assert_eq!(f.store.merge(&b, &a, &admin(), T0).await.unwrap(), Ok(2));
    assert_eq!(f.store.identities(&a).await.unwrap().len(), 3);
    assert!(f.store.identities(&b).await.unwrap().is_empty());
    assert_eq!(f.store.account(&b).await.unwrap().unwrap().status, AccountStatus::MergedInto(a.clone()));
    assert_eq!(f.store.merge(&b, &a, &admin(), T0).await.unwrap(), Err(Refusal::NotActive), "merged once");
    assert_eq!(f.store.merge(&a, &a, &admin(), T0).await.unwrap(), Err(Refusal::SameAccount));
}

async fn disable_and_delete(f: F) {
    let (a, _) = account(&f, "s1").await;
    f.store.set_disabled(&a, true, &admin(), T0).await.unwrap().unwrap();
    assert_eq!(f.store.account(&a).await.unwrap().unwrap().status, AccountStatus::Disabled);
    assert_eq!(f.store.set_disabled(&a, true, &admin(), T0).await.unwrap(), Err(Refusal::NotActive));
    f.store.set_disabled(&a, false, &admin(), T0).await.unwrap().unwrap();
    f.store.delete(&a, &admin(), T0).await.unwrap().unwrap();
    assert!(f.store.account(&a).await.unwrap().is_none());
    assert!(f.store.find_identity("https://a.example", "s1").await.unwrap().is_none(), "identities go with it");
    assert_eq!(
        f.store.audit(&a).await.unwrap().last().unwrap().action,
        "account.deleted",
        "the audit log outlives the account"
    );
    assert_eq!(f.store.delete(&a, &admin(), T0).await.unwrap(), Err(Refusal::NotFound));
}

async fn verified_email_lookup_sees_only_verified_emails_of_active_accounts(f: F) {
    let v = f
        .store
        .resolve_or_create("p", &ext("https://a.example", "v", Some("Ann@Example.com"), true), T0)
        .await
        .unwrap()
        .account
        .id;
    f.store.resolve_or_create("p", &ext("https://a.example", "u", Some("ann@example.com"), false), T0).await.unwrap();
    assert_eq!(f.store.accounts_with_verified_email("ann@EXAMPLE.com").await.unwrap(), vec![v.clone()]);
    assert_eq!(f.store.accounts_with_email("ann@example.com").await.unwrap().len(), 2);
    f.store.set_disabled(&v, true, &admin(), T0).await.unwrap().unwrap();
    assert!(f.store.accounts_with_verified_email("ann@example.com").await.unwrap().is_empty());
}

async fn one_identity_linked_to_two_accounts_at_once_lands_on_exactly_one(f: F) {
    let (a, _) = account(&f, "s1").await;
    let (b, _) = account(&f, "s2").await;
    let barrier = Arc::new(tokio::sync::Barrier::new(20));
    let tasks: Vec<_> = (0..20)
        .map(|i| {
            let (store, barrier, target) =
                (f.store.clone(), barrier.clone(), if i % 2 == 0 { a.clone() } else { b.clone() });
            tokio::spawn(async move {
                barrier.wait().await;
                let out = store
                    .link(&target, "p", &ext("https://x.example", "contested", None, false), &Actor::admin("t"), T0)
                    .await
                    .unwrap();
                (target, out)
            })
        })
        .collect();
    let mut linked = 0;
    let owner = {
        let mut results = Vec::new();
        for t in tasks {
            results.push(t.await.unwrap());
        }
        let owner = f.store.find_identity("https://x.example", "contested").await.unwrap().unwrap().account_id;
        for (target, out) in results {
            match out {
                LinkOutcome::Linked(_) => linked += 1,
                LinkOutcome::AlreadyOnThisAccount(_) => assert_eq!(target, owner),
                LinkOutcome::OnAnotherAccount => assert_ne!(target, owner, "the losers are told it is elsewhere"),
                LinkOutcome::AccountNotActive | LinkOutcome::Changed => {
                    panic!("accounts are active; no version expected")
                }
            }
        }
        owner
    };
    assert_eq!(linked, 1, "linked exactly once");
    let other = if owner == a { &b } else { &a };
    assert_eq!(f.store.identities(other).await.unwrap().len(), 1, "nothing landed on the other account");
}

async fn the_last_two_identities_unlinked_at_once_leave_one(f: F) {
    for round in 0..3 {
        let (a, primary) = account(&f, &format!("r{round}")).await;
        let mut ids = Vec::new();
        for n in 0..2 {
            let LinkOutcome::Linked(i) = f
                .store
                .link(&a, "p", &ext("https://b.example", &format!("r{round}-{n}"), None, false), &admin(), T0)
                .await
                .unwrap()
            else {
                panic!()
            };
            ids.push(i.id);
        }
        // The primary may not sign in: the two linked identities are the last that can.
        f.store.set_can_sign_in(&a, primary, false, &usable(), &admin(), T0).await.unwrap().unwrap();
        let barrier = Arc::new(tokio::sync::Barrier::new(2));
        let tasks: Vec<_> = ids
            .iter()
            .map(|id| {
                let (store, barrier, a, id) = (f.store.clone(), barrier.clone(), a.clone(), *id);
                tokio::spawn(async move {
                    barrier.wait().await;
                    store.unlink(&a, id, &usable(), &Actor::admin("t"), T0).await.unwrap()
                })
            })
            .collect();
        let mut outcomes = Vec::new();
        for t in tasks {
            outcomes.push(t.await.unwrap());
        }
        assert_eq!(outcomes.iter().filter(|o| o.is_ok()).count(), 1, "{outcomes:?}");
        assert!(outcomes.contains(&Err(Refusal::LastSignIn)));
        let left = f.store.identities(&a).await.unwrap();
        assert_eq!(left.iter().filter(|i| i.can_sign_in).count(), 1, "one identity that can sign in remains");
    }
}
