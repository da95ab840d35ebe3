//! A call's transaction opens at its first write, not before its hooks: while one call's
//! before hook is still running, other writes to the same database complete. On every
//! backend available.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{backends, drop_table, integer_service, rows};
use roost_core::hooks::{hook_fn, HookMap};
use roost_core::{json, App, Params, ServiceOptions, Value};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::Notify;

type Log = Arc<Mutex<Vec<String>>>;

fn push(log: &Log, entry: impl Into<String>) {
    log.lock().unwrap().push(entry.into());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn other_writes_complete_while_a_before_hook_runs() {
    for b in backends().await {
        let slow = integer_service(&b, "slow", &["n"]).await;
        let other = integer_service(&b, "other", &["n"]).await;
        let app = App::new();
        let log: Log = Arc::default();
        let entered = Arc::new(Notify::new());
        let release = Arc::new(Notify::new());
        let slow_handle = app
            .use_arc_service("slow", slow.clone(), ServiceOptions::default())
            .unwrap();
        app.use_arc_service("other", other.clone(), ServiceOptions::default())
            .unwrap();
        {
            let (log, entered, release) = (log.clone(), entered.clone(), release.clone());
            slow_handle
                .hooks(HookMap::new().before(
                    "create",
                    hook_fn(move |ctx| {
                        let (log, entered, release) =
                            (log.clone(), entered.clone(), release.clone());
                        let held = ctx.data.as_ref().and_then(|d| d.get("hold")).is_some();
                        Box::pin(async move {
                            if held {
                                push(&log, "hook start");
                                entered.notify_one();
                                // Waits for the other writes (a sleep the test ends), or
                                // 500 ms at least and 10 s at most if they never finish.
                                tokio::join!(
                                    tokio::time::sleep(Duration::from_millis(500)),
                                    async {
                                        let _ = tokio::time::timeout(
                                            Duration::from_secs(10),
                                            release.notified(),
                                        )
                                        .await;
                                    }
                                );
                                push(&log, "hook end");
                            }
                            Ok(())
                        })
                    }),
                ))
                .unwrap();
        }
        // A first record, so the others can patch and remove something.
        app.service("slow")
            .unwrap()
            .create(json!({"n": 0}), Params::default())
            .await
            .unwrap();

        let held_app = app.clone();
        let held = tokio::spawn(async move {
            held_app
                .service("slow")
                .unwrap()
                .create(json!({"n": 1, "hold": true}), Params::default())
                .await
        });
        entered.notified().await;
        for i in 0..5 {
            let r = app
                .service("other")
                .unwrap()
                .create(json!({"n": i}), Params::default())
                .await;
            assert!(r.is_ok(), "{}: other create {i}: {r:?}", b.name);
            push(&log, "other write");
            let r = app
                .service("slow")
                .unwrap()
                .create(json!({"n": 10 + i}), Params::default())
                .await;
            assert!(r.is_ok(), "{}: same-table create {i}: {r:?}", b.name);
            push(&log, "other write");
        }
        let r = app
            .service("slow")
            .unwrap()
            .patch(json!(1), json!({"n": 100}), Params::default())
            .await;
        assert!(r.is_ok(), "{}: patch: {r:?}", b.name);
        push(&log, "other write");
        // Committed while the hook is still running: visible to anyone.
        assert_eq!(rows(&other).await.len(), 5, "{}", b.name);
        release.notify_one();

        let created: Value = held.await.unwrap().unwrap();
        assert_eq!(created["n"], 1, "{}", b.name);
        assert_eq!(
            rows(&slow).await.len(),
            7,
            "{}: the held call committed",
            b.name
        );
        let log = log.lock().unwrap().clone();
        let mut expected = vec!["hook start".to_owned()];
        expected.extend(std::iter::repeat_n("other write".to_owned(), 11));
        expected.push("hook end".to_owned());
        assert_eq!(
            log, expected,
            "{}: the other writes ran during the hook",
            b.name
        );
        drop_table(&b.db, slow.options().table.as_str()).await;
        drop_table(&b.db, other.options().table.as_str()).await;
    }
}
