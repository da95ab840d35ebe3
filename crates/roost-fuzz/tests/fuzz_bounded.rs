//! The fuzz harnesses, bounded, in CI: every file of the corpus kept in `fuzz/corpus/<target>/`
//! (seeds plus what cargo-fuzz found interesting), then random inputs from proptest — raw bytes
//! and inputs shaped like each format. `PROPTEST_CASES` raises the count for longer runs;
//! `scripts/fuzz.sh` runs the coverage-guided fuzzer itself.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use proptest::prelude::*;
use roost_fuzz::TARGETS;
use std::path::PathBuf;

fn corpus_dir(target: &str) -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../fuzz/corpus")
        .join(target)
}

#[test]
fn every_corpus_input_runs_clean() {
    let mut total = 0;
    for (name, run) in TARGETS {
        let dir = corpus_dir(name);
        let entries = std::fs::read_dir(&dir).unwrap_or_else(|e| panic!("{}: {e}", dir.display()));
        let mut count = 0;
        for entry in entries {
            let path = entry.unwrap().path();
            let bytes = std::fs::read(&path).unwrap();
            run(&bytes);
            count += 1;
        }
        assert!(count > 0, "{name}: the corpus has no seed");
        total += count;
    }
    println!("{total} corpus inputs ran clean");
}

fn config() -> ProptestConfig {
    ProptestConfig {
        cases: 2000,
        failure_persistence: None,
        ..ProptestConfig::default()
    }
}

/// Fragments each format is made of, so random inputs reach past the first byte check.
fn shaped() -> impl Strategy<Value = Vec<u8>> {
    let pieces = prop::sample::select(vec![
        "{",
        "}",
        "[",
        "]",
        "\"",
        ":",
        ",",
        "0",
        "1",
        "2",
        "42",
        "-1",
        "1e400",
        "null",
        "true",
        "\"type\":0",
        "\"type\":1",
        "\"data\":",
        "\"id\":",
        "\"find\"",
        "\"messages\"",
        "\"primus::ping::1\"",
        "\"primus::pong::1\"",
        "\"primus::id::\"",
        "$or",
        "$and",
        "$in",
        "$nin",
        "$lt",
        "$gte",
        "$ne",
        "$sort",
        "$select",
        "$limit",
        "$skip",
        "[0]",
        "[]",
        "[a]",
        "=",
        "&",
        "%",
        "%5B",
        "%5D",
        "%2",
        "a",
        "name",
        "age",
        "\u{0}",
        "é",
        "\\u0000",
        "/nsp,",
        "2",
        "3",
        "4",
        "5-",
        "51-",
        "[\"ev\",{}]",
    ]);
    prop::collection::vec(pieces, 0..40).prop_map(|p| p.concat().into_bytes())
}

proptest! {
    #![proptest_config(config())]

    #[test]
    fn random_bytes_never_panic(bytes in prop::collection::vec(any::<u8>(), 0..256)) {
        for (_, run) in TARGETS {
            run(&bytes);
        }
    }

    #[test]
    fn shaped_inputs_never_panic(bytes in shaped()) {
        for (_, run) in TARGETS {
            run(&bytes);
        }
    }
}
