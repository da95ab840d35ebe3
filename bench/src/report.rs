//! The human output of a run (a two-column table of its results) and `report`: two files of
//! JSON lines (one per server) side by side, with ratios.

use serde_json::Value;
use std::fmt::Write;

/// The results object as `name  value` lines (arrays, such as fan-out steps, are left out:
/// the scenario printed them already).
pub(crate) fn results_table(results: &Value) -> String {
    let mut out = String::new();
    if let Value::Object(map) = results {
        let width = map
            .iter()
            .filter(|(_, v)| !v.is_array())
            .map(|(k, _)| k.len())
            .max()
            .unwrap_or(0);
        for (key, value) in map {
            if value.is_array() {
                continue;
            }
            let _ = writeln!(out, "  {key:<width$}  {}", plain(value));
        }
    }
    out
}

fn plain(value: &Value) -> String {
    match value {
        Value::String(s) => s.clone(),
        Value::Null => "-".to_owned(),
        other => other.to_string(),
    }
}

/// The last line of each scenario in a JSON-lines text, in order of first appearance.
pub(crate) fn parse_lines(text: &str) -> Vec<Value> {
    let mut runs: Vec<Value> = Vec::new();
    for line in text.lines() {
        let Ok(run) = serde_json::from_str::<Value>(line) else {
            continue;
        };
        let Some(key) = scenario_key(&run) else {
            continue;
        };
        match runs
            .iter_mut()
            .find(|r| scenario_key(r).as_deref() == Some(key.as_str()))
        {
            Some(slot) => *slot = run,
            None => runs.push(run),
        }
    }
    runs
}

/// `scenario` plus the `variant` a caller gave (e.g. `rpc` / `get`).
fn scenario_key(run: &Value) -> Option<String> {
    let scenario = run.get("scenario")?.as_str()?;
    Some(match run.get("variant").and_then(Value::as_str) {
        Some(v) if !v.is_empty() => format!("{scenario}/{v}"),
        _ => scenario.to_owned(),
    })
}

fn label(runs: &[Value], fallback: &str) -> String {
    runs.iter()
        .find_map(|r| r.get("label").and_then(Value::as_str))
        .unwrap_or(fallback)
        .to_owned()
}

fn number(value: Option<&Value>) -> Option<f64> {
    value.and_then(Value::as_f64)
}

fn cell(value: Option<f64>) -> String {
    match value {
        Some(v) if v.fract() == 0.0 && v.abs() < 1e15 => format!("{v:.0}"),
        Some(v) => format!("{v:.3}"),
        None => "-".to_owned(),
    }
}

/// A markdown table: every numeric result of each scenario of `a`, beside `b`'s, with a/b.
pub(crate) fn side_by_side(a: &[Value], b: &[Value]) -> String {
    let (la, lb) = (label(a, "a"), label(b, "b"));
    let mut out = String::new();
    let _ = writeln!(out, "| scenario | metric | {la} | {lb} | {la}/{lb} |");
    let _ = writeln!(out, "|---|---|---:|---:|---:|");
    for run in a {
        let Some(key) = scenario_key(run) else {
            continue;
        };
        let other = b
            .iter()
            .find(|r| scenario_key(r).as_deref() == Some(key.as_str()));
        let Some(Value::Object(results)) = run.get("results") else {
            continue;
        };
        for (metric, value) in results {
            let Some(x) = number(Some(value)) else {
                continue;
            };
            let y = other.and_then(|o| number(o.get("results").and_then(|r| r.get(metric))));
            let ratio = match y {
                Some(y) if y != 0.0 => Some(x / y),
                _ => None,
            };
            let _ = writeln!(
                out,
                "| {key} | {metric} | {} | {} | {} |",
                cell(Some(x)),
                cell(y),
                ratio.map_or("-".to_owned(), |r| format!("{r:.2}"))
            );
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn last_run_of_each_scenario_wins() {
        let text = [
            json!({"scenario":"rpc","variant":"get","label":"roost","results":{"calls_per_sec":1.0}}),
            json!({"scenario":"connect","label":"roost","results":{"rss_per_conn_kib":9.5}}),
            json!({"scenario":"rpc","variant":"get","label":"roost","results":{"calls_per_sec":2.0}}),
        ]
        .iter()
        .map(Value::to_string)
        .collect::<Vec<_>>()
        .join("\nnot json\n");
        let runs = parse_lines(&text);
        assert_eq!(runs.len(), 2);
        assert_eq!(runs[0]["results"]["calls_per_sec"], json!(2.0));
    }

    #[test]
    fn table_has_ratios_and_gaps() {
        let a = vec![
            json!({"scenario":"rpc","label":"roost","results":{"calls_per_sec":30000.0,"lat_p99_ms":0.5,"note":"x","only_a":1}}),
        ];
        let b = vec![
            json!({"scenario":"rpc","label":"node","results":{"calls_per_sec":6000.0,"lat_p99_ms":2.0}}),
        ];
        let table = side_by_side(&a, &b);
        assert!(
            table.contains("| scenario | metric | roost | node | roost/node |"),
            "{table}"
        );
        assert!(
            table.contains("| rpc | calls_per_sec | 30000 | 6000 | 5.00 |"),
            "{table}"
        );
        assert!(
            table.contains("| rpc | lat_p99_ms | 0.500 | 2 | 0.25 |"),
            "{table}"
        );
        assert!(table.contains("| rpc | only_a | 1 | - | - |"), "{table}");
        assert!(!table.contains("note"), "{table}");
    }

    #[test]
    fn results_table_skips_arrays() {
        let t = results_table(&json!({"a": 1, "bb": "x", "steps": [1], "c": null}));
        assert_eq!(t, "  a   1\n  bb  x\n  c   -\n");
    }
}
