//! The durable "sessions valid after" mark: an account change that ends sessions also marks, in
//! its SQL transaction, every session made until then as over. When the session store never
//! hears of the change (here: the change is made through a second `SqlAccountStore` on the same
//! database, which ends no session, as when Redis fails between the change and `end_all`), the
//! old sessions are still refused once the brief trust cache expires, and a new sign-in works.

use braid::accounts::{AccountStore, Actor, SqlAccountStore};
use braid::clock::Clock;
use reqwest::StatusCode;

use crate::forward_auth::{ask, ext, proxied, signed_in};
use crate::helpers::*;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_session_made_before_an_account_change_is_refused_even_when_its_end_failed() {
    let p = proxied().await;
    let b = signed_in(&p, "dev", "vera", "", false).await;
    assert_eq!(ask(&p.app, &b, "verify", "/docs", &[]).await.status(), StatusCode::OK);
    let vera = p.app.state.accounts.find_identity("urn:braid:dev:dev", "vera").await.unwrap().unwrap().account_id;
    let before = p.app.state.accounts.account(&vera).await.unwrap().unwrap().sessions_valid_after;

    // Linking another identity leaves the account active and the identity used able to sign in:
    // only the mark can end the session. The change goes through another store, so nothing
    // ends braid's sessions.
    let db = braid::db::Db::connect(&p.app.state.settings.store.accounts).await.unwrap();
    let elsewhere = SqlAccountStore::new(db);
    let now = p.app.clock.now_ms();
    elsewhere.link(&vera, "dev2", &ext("dev2", "vera2"), &Actor::admin("elsewhere"), now).await.unwrap();
    let marked = p.app.state.accounts.account(&vera).await.unwrap().unwrap().sessions_valid_after;
    assert!(marked == now && marked > before, "the link marks the account: {before} -> {marked}");
    assert_eq!(p.app.state.records.store().index_members(vera.as_str()).await.unwrap().len(), 1, "not ended");

    // The passed check is reused briefly, then the mark refuses the session and ends it.
    p.app.clock.advance(std::time::Duration::from_millis(braid::trust::REUSE_MS.unsigned_abs()));
    assert_eq!(ask(&p.app, &b, "verify", "/docs", &[]).await.status(), StatusCode::UNAUTHORIZED);
    let r = b.get(p.app.url("/authorize")).query(&authorize_query(APP_ID, APP_CB, None, "n")).send().await.unwrap();
    assert!(!location(&r).starts_with(APP_CB), "no single sign-on from the old session: {}", location(&r));
    let r = b.get(p.app.url("/account")).send().await.unwrap();
    assert_eq!(location(&r), "/login", "the account page refuses it too");

    // A new sign-in of the same person works, and stands.
    let again = signed_in(&p, "dev", "vera", "", false).await;
    assert_eq!(ask(&p.app, &again, "verify", "/docs", &[]).await.status(), StatusCode::OK);
    p.app.clock.advance(std::time::Duration::from_millis(braid::trust::REUSE_MS.unsigned_abs()));
    assert_eq!(ask(&p.app, &again, "verify", "/docs", &[]).await.status(), StatusCode::OK);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_change_that_ends_sessions_sets_the_mark_of_each_account_it_touches() {
    let p = proxied().await;
    let accounts = &p.app.state.accounts;
    let admin = Actor::admin("test");
    let usable = p.app.state.providers.snapshot().sign_in_providers();
    let mk = |s: &'static str| async move { accounts.resolve_or_create("dev", &ext("dev", s), 0).await.unwrap() };
    let (a, b) = (mk("ma").await, mk("mb").await);
    let mark = |id: braid::accounts::AccountId| async move {
        accounts.account(&id).await.unwrap().map_or(-1, |a| a.sessions_valid_after)
    };
    let mut t = 1_000;
    let mut step = |label: &str| {
        t += 1_000;
        (t, label.to_owned())
    };

    let (now, _) = step("link");
    let linked = match accounts.link(&a.account.id, "dev2", &ext("dev2", "ma2"), &admin, now).await.unwrap() {
        braid::accounts::LinkOutcome::Linked(i) => i,
        other => panic!("{other:?}"),
    };
    assert_eq!(mark(a.account.id.clone()).await, now, "link");
    let (now, _) = step("sign-in switch");
    accounts.set_can_sign_in(&a.account.id, linked.id, false, &usable, &admin, now).await.unwrap().unwrap();
    assert_eq!(mark(a.account.id.clone()).await, now, "can-sign-in switch");
    let (now, _) = step("unlink");
    accounts.unlink(&a.account.id, linked.id, &usable, &admin, now).await.unwrap().unwrap();
    assert_eq!(mark(a.account.id.clone()).await, now, "unlink");
    let (now, _) = step("move");
    let moving = match accounts.link(&b.account.id, "dev2", &ext("dev2", "mb2"), &admin, now).await.unwrap() {
        braid::accounts::LinkOutcome::Linked(i) => i,
        other => panic!("{other:?}"),
    };
    let (now, _) = step("move");
    accounts.move_identity(moving.id, &a.account.id, &usable, &admin, now).await.unwrap().unwrap();
    assert_eq!((mark(a.account.id.clone()).await, mark(b.account.id.clone()).await), (now, now), "move: both");
    let (now, _) = step("disable");
    accounts.set_disabled(&a.account.id, true, &admin, now).await.unwrap().unwrap();
    assert_eq!(mark(a.account.id.clone()).await, now, "disable");
    accounts.set_disabled(&a.account.id, false, &admin, now + 1).await.unwrap().unwrap();
    let (now, _) = step("merge");
    accounts.merge(&b.account.id, &a.account.id, &admin, now).await.unwrap().unwrap();
    assert_eq!((mark(a.account.id.clone()).await, mark(b.account.id.clone()).await), (now, now), "merge: both");
    let (now, _) = step("delete");
    accounts.delete(&a.account.id, &admin, now).await.unwrap().unwrap();
    assert_eq!(mark(a.account.id.clone()).await, -1, "deleted: no account, no session");
}
