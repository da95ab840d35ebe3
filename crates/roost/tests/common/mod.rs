//! Starting the real `roost` binary for integration tests: a config file, a data directory,
//! extra environment, the listening address read from its JSON log.
#![allow(clippy::unwrap_used, dead_code)]

use serde_json::Value;
use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

pub(crate) const BIN: &str = env!("CARGO_BIN_EXE_roost");

/// A running `roost serve`; killed (SIGKILL) when dropped.
pub(crate) struct Roost {
    pub(crate) child: Child,
    pub(crate) addr: SocketAddr,
    log: Arc<Mutex<Vec<String>>>,
}

impl Roost {
    /// `roost serve --config <config> --port 0` with `data_dir` and `env`; waits (20 s at
    /// most) for the listening address.
    pub(crate) fn start(config: &Path, data_dir: &Path, env: &[(&str, &str)]) -> Roost {
        let mut cmd = Command::new(BIN);
        cmd.args(["serve", "--port", "0", "--config"])
            .arg(config)
            .arg("--data-dir")
            .arg(data_dir)
            .env("ROOST_LOG__FORMAT", "json")
            .env_remove("RUST_LOG")
            .stdout(Stdio::null())
            .stderr(Stdio::piped());
        for (k, v) in env {
            cmd.env(k, v);
        }
        let mut child = cmd.spawn().unwrap();
        let (addr, log) = read_log(&mut child, Duration::from_secs(20));
        match addr {
            Some(addr) => Roost { child, addr, log },
            None => {
                let _ = child.kill();
                let _ = child.wait();
                panic!("roost did not start: {:#?}", log.lock().unwrap());
            }
        }
    }

    /// SIGKILL: no shutdown code runs.
    pub(crate) fn kill(mut self) {
        self.child.kill().unwrap();
        self.child.wait().unwrap();
    }

    /// The log lines so far.
    pub(crate) fn log(&self) -> Vec<String> {
        self.log.lock().unwrap().clone()
    }
}

impl Drop for Roost {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Reads `child`'s stderr, roost's JSON log, on a thread: every line is kept in the log that
/// comes back (a line that is not JSON, such as a panic, is also printed), and the listening
/// address as soon as it is logged, `None` when it is not within `wait`.
pub(crate) fn read_log(
    child: &mut Child,
    wait: Duration,
) -> (Option<SocketAddr>, Arc<Mutex<Vec<String>>>) {
    let stderr = child.stderr.take().unwrap();
    let log = Arc::new(Mutex::new(Vec::new()));
    let (tx, rx) = std::sync::mpsc::channel();
    let lines = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            let addr = match serde_json::from_str::<Value>(&line) {
                Ok(v) => v["fields"]["addr"].as_str().map(str::to_owned),
                Err(_) => {
                    eprintln!("{line}");
                    None
                }
            };
            // Kept before the address is told, so the log holds the listening line.
            lines.lock().unwrap().push(line);
            if let Some(addr) = addr {
                let _ = tx.send(addr);
            }
        }
    });
    let addr = rx.recv_timeout(wait).ok().and_then(|a| a.parse().ok());
    (addr, log)
}

/// One HTTP call with a JSON body (or none); the status and the JSON answer.
pub(crate) fn call(
    addr: SocketAddr,
    method: &str,
    path: &str,
    body: Option<&Value>,
) -> (u16, Value) {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap();
    let res = rt
        .block_on(async {
            match body {
                Some(body) => roost_testkit::json_request(addr, method, path, body).await,
                None => roost_testkit::request(addr, method, path, &[], None).await,
            }
        })
        .unwrap();
    (res.status, res.json())
}

/// A config file in `dir` with these contents.
pub(crate) fn config_file(dir: &Path, text: &str) -> std::path::PathBuf {
    let path = dir.join("roost.toml");
    std::fs::write(&path, text).unwrap();
    path
}

pub(crate) const PEOPLE_SQL: &str = r#"
[services.people]
adapter = "sql"
schema = { name = "string", age = "integer" }
"#;
