//! Property tests of the flatted codec: any JSON value survives stringify → parse, and the
//! text is what flatted's format says (a JSON array whose strings below the top level of each
//! element are valid indexes).
#![allow(clippy::unwrap_used)]

use proptest::prelude::*;
use roost_redis::flatted::{parse, stringify, FlattedLimits};
use serde_json::{Map, Value};

fn json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        // Quarters: serde_json (without `float_roundtrip`) may read other floats back one ulp
        // off, which is its parser, not this format.
        (-1_000_000i64..1_000_000).prop_map(|n| Value::from(n as f64 / 4.0)),
        prop::sample::select(vec!["", "a", "b", "0", "1", "12", "ü", "\"q\"", "x y"])
            .prop_map(|s| Value::String(s.into())),
    ];
    leaf.prop_recursive(6, 64, 6, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec(
                (
                    prop::sample::select(vec!["a", "b", "0", "1", "10", "id", "", "text"]),
                    inner
                ),
                0..6
            )
            .prop_map(|pairs| {
                let mut map = Map::new();
                for (k, v) in pairs {
                    map.insert(k.to_owned(), v);
                }
                Value::Object(map)
            }),
        ]
    })
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 2000, failure_persistence: None, ..ProptestConfig::default() })]

    #[test]
    fn every_json_value_round_trips(value in json()) {
        let text = stringify(&value);
        let elements: Vec<Value> = serde_json::from_str(&text).unwrap();
        for element in &elements {
            let children: Vec<&Value> = match element {
                Value::Object(map) => map.values().collect(),
                Value::Array(items) => items.iter().collect(),
                _ => Vec::new(),
            };
            for child in children {
                if let Value::String(index) = child {
                    let i: usize = index.parse().unwrap();
                    prop_assert!(i < elements.len());
                } else {
                    prop_assert!(!child.is_object() && !child.is_array());
                }
            }
        }
        prop_assert_eq!(parse(text.as_bytes(), &FlattedLimits::default()).unwrap(), value);
    }
}
