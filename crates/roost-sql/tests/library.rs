//! Custom methods on a stored service (issue #19): attached to a registered `SqlService`
//! without a forwarding wrapper, they run inside the call's transaction. SQLite, plus the
//! other backends when configured.
#![allow(clippy::unwrap_used, clippy::expect_used)]

mod common;

use common::{backends, fresh_table};
use roost_core::schema::FieldType;
use roost_core::{json, App, Error, MethodCall, Params, ServiceOptions};
use roost_sql::{SqlOptions, SqlService};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_custom_method_on_a_sql_service_shares_the_call_transaction() {
    for b in backends().await {
        let table = fresh_table(&b.db, "lib").await;
        let options = SqlOptions {
            schema: [("text".to_owned(), FieldType::String)]
                .into_iter()
                .collect(),
            ..SqlOptions::new(table)
        };
        let service = SqlService::new(b.db.clone(), options).unwrap();
        service.migrate().await.unwrap();
        let app = App::new();
        let todos = app
            .use_service("todos", service, ServiceOptions::default())
            .unwrap();
        // `import` creates records, then fails when asked to: both writes share the call's
        // transaction (the method passes its params on), so a failure leaves nothing behind.
        todos
            .method("import", |call: MethodCall| async move {
                let todos = call.service()?;
                for text in call.data["texts"].as_array().cloned().unwrap_or_default() {
                    todos
                        .create(json!({"text": text}), call.params.clone())
                        .await?;
                }
                if call.data["fail"] == true {
                    return Err(Error::bad_request("import failed"));
                }
                todos.find(call.params).await
            })
            .unwrap();
        assert!(todos.entry().allows_external("import"));
        let e = todos
            .call(
                "import",
                json!({"texts": ["a", "b"], "fail": true}),
                Params::default(),
            )
            .await
            .unwrap_err();
        assert_eq!(e.message, "import failed", "{}", b.name);
        let none = todos.find(Params::default()).await.unwrap();
        assert_eq!(none, json!([]), "{}: rolled back", b.name);
        let all = todos
            .call("import", json!({"texts": ["a", "b"]}), Params::default())
            .await
            .unwrap();
        assert_eq!(all.as_array().map(Vec::len), Some(2), "{}", b.name);
        // The standard methods are the adapter's own.
        let one = todos
            .get(all[0]["id"].clone(), Params::default())
            .await
            .unwrap();
        assert_eq!(one["text"], "a");
        assert!(todos.downcast::<SqlService>().is_some());
    }
}
