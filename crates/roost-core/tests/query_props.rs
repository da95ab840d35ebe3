//! Property tests of the query language and the memory adapter: no input panics, `total`
//! counts every match, and pages tile the full sorted result.
#![allow(clippy::unwrap_used, clippy::needless_pass_by_value)]

use proptest::prelude::*;
use roost_core::params::PaginateOverride;
use roost_core::query::{Query, QueryLimits};
use roost_core::service::{AdapterOptions, Multi, Paginate};
use roost_core::{Map, MemoryService, Params, Service, Value};

fn scalar() -> impl Strategy<Value = Value> {
    prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::from),
        (-5i64..5).prop_map(Value::from),
        prop_oneof![Just(1e300), Just(-0.5), Just(f64::MAX), Just(1e-300)].prop_map(Value::from),
        prop_oneof![
            Just(""),
            Just("a"),
            Just("B"),
            Just("10"),
            Just("-1"),
            Just("1e999"),
            Just("x.y")
        ]
        .prop_map(Value::from),
    ]
}

/// Any JSON, biased towards query-looking keys.
fn json() -> impl Strategy<Value = Value> {
    let key = prop_oneof![
        Just("a".to_owned()),
        Just("b".to_owned()),
        Just("a.b".to_owned()),
        Just("0".to_owned()),
        Just("$in".to_owned()),
        Just("$nin".to_owned()),
        Just("$lt".to_owned()),
        Just("$gte".to_owned()),
        Just("$ne".to_owned()),
        Just("$or".to_owned()),
        Just("$and".to_owned()),
        Just("$sort".to_owned()),
        Just("$select".to_owned()),
        Just("$limit".to_owned()),
        Just("$skip".to_owned()),
        Just("$like".to_owned()),
    ];
    scalar().prop_recursive(6, 48, 5, move |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((key.clone(), inner), 0..4)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

fn record() -> impl Strategy<Value = Value> {
    let field = prop_oneof![
        3 => scalar(),
        1 => prop::collection::vec(scalar(), 0..3).prop_map(Value::Array),
        1 => scalar().prop_map(|v| serde_json::json!({ "b": v })),
    ];
    (prop::option::of(field.clone()), prop::option::of(field)).prop_map(|(a, b)| {
        let mut m = Map::new();
        if let Some(a) = a {
            m.insert("a".into(), a);
        }
        if let Some(b) = b {
            m.insert("b".into(), b);
        }
        Value::Object(m)
    })
}

/// Valid conditions only (so that find succeeds).
fn condition() -> impl Strategy<Value = Value> {
    let path = prop_oneof![Just("a"), Just("b"), Just("a.b")];
    let op = prop_oneof![
        Just("$lt"),
        Just("$lte"),
        Just("$gt"),
        Just("$gte"),
        Just("$ne")
    ];
    let leaf = prop_oneof![
        (path.clone(), scalar()).prop_map(|(p, v)| serde_json::json!({ p: v })),
        (path.clone(), op, scalar()).prop_map(|(p, o, v)| serde_json::json!({ p: { o: v } })),
        (path, prop::collection::vec(scalar(), 0..3), any::<bool>()).prop_map(|(p, vs, nin)| {
            let op = if nin { "$nin" } else { "$in" };
            serde_json::json!({ p: { op: vs } })
        }),
    ];
    // Feathers accepts `$or` at any depth but `$and` only at the top level.
    let tree = leaf.prop_recursive(3, 12, 3, |inner| {
        prop::collection::vec(inner, 1..3)
            .prop_map(|branches| serde_json::json!({ "$or": branches }))
    });
    (tree, any::<bool>()).prop_map(|(c, and)| {
        if and {
            serde_json::json!({ "$and": [c] })
        } else {
            c
        }
    })
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
}

fn seeded(records: &[Value], paginate: Option<Paginate>) -> MemoryService {
    let service = MemoryService::new(AdapterOptions {
        multi: Multi::All(true),
        paginate,
        ..AdapterOptions::default()
    });
    let rt = runtime();
    for r in records {
        rt.block_on(service.create(r.clone(), &Params::default()))
            .unwrap();
    }
    service
}

fn params(query: Value, paginate: Option<PaginateOverride>) -> Params {
    Params {
        query: query.as_object().cloned().unwrap_or_default(),
        paginate,
        ..Params::default()
    }
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(256))]

    #[test]
    fn nothing_panics(query in json(), records in prop::collection::vec(record(), 0..8), id in scalar()) {
        let map = query.as_object().cloned().unwrap_or_default();
        let paginate = Paginate { default: Some(2), max: Some(3) };
        let _ = Query::parse(&map, Some(&paginate), &QueryLimits::default());
        let _ = Query::parse(&map, None, &QueryLimits { max_depth: 3, ..QueryLimits::BUILT_IN });
        let service = seeded(&records, Some(paginate));
        let rt = runtime();
        let p = params(query.clone(), None);
        let _ = rt.block_on(service.find(&p));
        let _ = rt.block_on(service.find(&params(query.clone(), Some(PaginateOverride::Disabled))));
        let _ = rt.block_on(service.get(&id, &p));
        let _ = rt.block_on(service.patch(&Value::Null, query.clone(), &p));
        let _ = rt.block_on(service.update(&id, query.clone(), &p));
        let _ = rt.block_on(service.create(query, &p));
        let _ = rt.block_on(service.remove(&Value::Null, &p));
    }

    #[test]
    fn total_counts_every_match(
        cond in condition(),
        records in prop::collection::vec(record(), 0..12),
        limit in 0i64..4,
        skip in 0i64..6,
    ) {
        let service = seeded(&records, Some(Paginate { default: Some(2), max: Some(5) }));
        let rt = runtime();
        let all = rt.block_on(service.find(&params(cond.clone(), Some(PaginateOverride::Disabled)))).unwrap();
        let mut paged_query = cond;
        paged_query["$limit"] = limit.into();
        paged_query["$skip"] = skip.into();
        let page = rt.block_on(service.find(&params(paged_query, None))).unwrap();
        let all = all.as_array().unwrap();
        prop_assert_eq!(page["total"].as_u64(), Some(all.len() as u64));
        let start = (skip as usize).min(all.len());
        let end = (start + limit as usize).min(all.len());
        prop_assert_eq!(page["data"].as_array().unwrap(), &all[start..end].to_vec());
    }

    #[test]
    fn pages_tile_the_sorted_result(
        records in prop::collection::vec(record(), 0..20),
        desc_a in any::<bool>(),
        desc_b in any::<bool>(),
        size in 1usize..5,
    ) {
        let service = seeded(&records, Some(Paginate { default: Some(size), max: Some(100) }));
        let rt = runtime();
        let sort = serde_json::json!({ "a": if desc_a { -1 } else { 1 }, "b": if desc_b { "-1" } else { "1" } });
        let full = rt
            .block_on(service.find(&params(serde_json::json!({ "$sort": sort }), Some(PaginateOverride::Disabled))))
            .unwrap();
        let mut tiled = Vec::new();
        let mut skip = 0;
        loop {
            let q = serde_json::json!({ "$sort": sort, "$skip": skip.to_string(), "$limit": size });
            let page = rt.block_on(service.find(&params(q, None))).unwrap();
            let data = page["data"].as_array().unwrap().clone();
            prop_assert_eq!(page["total"].as_u64(), Some(records.len() as u64));
            if data.is_empty() {
                break;
            }
            tiled.extend(data);
            skip += size;
        }
        prop_assert_eq!(&Value::Array(tiled), &full);
    }
}
