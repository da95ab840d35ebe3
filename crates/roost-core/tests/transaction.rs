//! Events only after commit: a call's transaction commits after every hook and before the
//! events; any failure rolls it back and emits nothing.
#![allow(clippy::unwrap_used)]

use async_trait::async_trait;
use roost_core::hooks::{sync_hook, HookMap};
use roost_core::transaction::Transaction;
use roost_core::{json, App, Error, Params, Result, Service, ServiceOptions, Value};
use std::sync::{Arc, Mutex};

type Log = Arc<Mutex<Vec<String>>>;

struct Tx {
    log: Log,
    fail_commit: bool,
}

#[async_trait]
impl Transaction for Tx {
    async fn commit(&self) -> Result<()> {
        self.log.lock().unwrap().push("commit".into());
        if self.fail_commit {
            return Err(Error::unavailable("database went away"));
        }
        Ok(())
    }
    async fn rollback(&self) -> Result<()> {
        self.log.lock().unwrap().push("rollback".into());
        Ok(())
    }
}

struct Store {
    log: Log,
    fail_commit: bool,
}

#[async_trait]
impl Service for Store {
    async fn get(&self, id: &Value, _p: &Params) -> Result<Value> {
        Ok(json!({"id": id}))
    }
    async fn create(&self, data: Value, params: &Params) -> Result<Value> {
        let handle = params
            .transaction
            .as_ref()
            .expect("the method sees the call's transaction handle");
        if data.get("read_only").is_some() {
            return Ok(data);
        }
        handle
            .open_with(|| async {
                self.log.lock().unwrap().push("begin".into());
                Ok(Arc::new(Tx {
                    log: self.log.clone(),
                    fail_commit: self.fail_commit,
                }) as Arc<dyn Transaction>)
            })
            .await?;
        self.log.lock().unwrap().push("write".into());
        Ok(data)
    }
}

fn setup(fail_commit: bool) -> (App, Log) {
    let app = App::new();
    let log: Log = Arc::default();
    let store = Store {
        log: log.clone(),
        fail_commit,
    };
    let svc = app
        .use_service("items", store, ServiceOptions::default())
        .unwrap();
    let log2 = log.clone();
    svc.on("created", move |_, _| {
        log2.lock().unwrap().push("event".into())
    });
    (app, log)
}

/// `items.create({a: 1})`, as an internal call.
async fn create_item(app: &App) -> Result<Value> {
    app.service("items")
        .unwrap()
        .create(json!({"a": 1}), Params::default())
        .await
}

#[tokio::test]
async fn commit_comes_after_every_hook_and_before_the_event() {
    let (app, log) = setup(false);
    let log2 = log.clone();
    let log3 = log.clone();
    app.hooks(
        HookMap::new()
            .before(
                "create",
                sync_hook(move |ctx| {
                    let tx = ctx.params.transaction.as_ref().unwrap();
                    assert!(tx.opened().is_none(), "not open before the method writes");
                    log3.lock().unwrap().push("app before".into());
                    Ok(())
                }),
            )
            .after(
                "create",
                sync_hook(move |ctx| {
                    let tx = ctx.params.transaction.as_ref().unwrap();
                    assert!(tx.opened().is_some(), "hooks see the open transaction");
                    log2.lock().unwrap().push("app after".into());
                    Ok(())
                }),
            ),
    );
    create_item(&app).await.unwrap();
    assert_eq!(
        *log.lock().unwrap(),
        vec![
            "app before",
            "begin",
            "write",
            "app after",
            "commit",
            "event"
        ]
    );
}

#[tokio::test]
async fn a_failing_after_hook_rolls_back_and_emits_nothing() {
    let (app, log) = setup(false);
    app.hooks(HookMap::new().after("create", sync_hook(|_| Err(Error::forbidden("no")))));
    let err = create_item(&app).await.unwrap_err();
    assert_eq!(err.code(), 403);
    assert_eq!(*log.lock().unwrap(), vec!["begin", "write", "rollback"]);
}

#[tokio::test]
async fn a_failed_commit_fails_the_call_without_an_event() {
    let (app, log) = setup(true);
    let err = create_item(&app).await.unwrap_err();
    assert_eq!(err.code(), 503);
    assert_eq!(*log.lock().unwrap(), vec!["begin", "write", "commit"]);
}

#[tokio::test]
async fn reads_open_no_transaction() {
    let (app, log) = setup(false);
    app.service("items")
        .unwrap()
        .get(json!(1), Params::default())
        .await
        .unwrap();
    assert!(log.lock().unwrap().is_empty());
}

#[tokio::test]
async fn a_call_that_never_writes_commits_nothing_and_a_refused_one_opens_nothing() {
    let (app, log) = setup(false);
    let items = app.service("items").unwrap();
    items
        .create(json!({"read_only": true}), Params::default())
        .await
        .unwrap();
    assert_eq!(*log.lock().unwrap(), vec!["event"]);

    log.lock().unwrap().clear();
    app.hooks(HookMap::new().before("create", sync_hook(|_| Err(Error::not_authenticated("no")))));
    let err = items
        .create(json!({"a": 1}), Params::default())
        .await
        .unwrap_err();
    assert_eq!(err.code(), 401);
    assert!(log.lock().unwrap().is_empty(), "{:?}", log.lock().unwrap());
}

#[tokio::test]
async fn a_call_made_from_a_hook_shares_the_callers_transaction() {
    let (app, log) = setup(false);
    app.service("items")
        .unwrap()
        .hooks(HookMap::new().after(
            "create",
            roost_core::hooks::hook_fn(|ctx| {
                let app = ctx.app.clone();
                Box::pin(async move {
                    if ctx.data.as_ref().and_then(|d| d.get("nested")).is_none() {
                        app.service("items")
                            .unwrap()
                            .create(json!({"nested": true}), ctx.params.clone())
                            .await?;
                    }
                    Ok(())
                })
            }),
        ))
        .unwrap();
    create_item(&app).await.unwrap();
    let log: Vec<String> = log
        .lock()
        .unwrap()
        .iter()
        .filter(|e| *e != "event")
        .cloned()
        .collect();
    assert_eq!(log, vec!["begin", "write", "write", "commit"]);
}
