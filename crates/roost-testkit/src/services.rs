//! Processes that cluster and outage tests run next to Roost: a throw-away server of
//! `scripts/services/*.sh` of the test's own (so stopping it disturbs no other test), and the
//! Node pod of `tools/cluster-vectors/mixed.js` (a Feathers app with the real npm
//! feathers-sync), spoken to in JSON lines; and [`run_ok`] for any command that must succeed.

#![allow(clippy::unwrap_used)] // a test helper: a failure is the test's panic

use serde_json::{json, Value};
use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// Runs `command` to its end; panics with its stderr unless it succeeded. Its stdout.
pub fn run_ok(command: &mut Command) -> String {
    let out = command.output().unwrap();
    assert!(
        out.status.success(),
        "{command:?}: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// The repository's root, from this crate's directory.
fn repo_root() -> &'static Path {
    Path::new(concat!(env!("CARGO_MANIFEST_DIR"), "/../.."))
}

/// A server started by `scripts/services/<name>.sh start`, stopped (by its PID file) when
/// dropped.
#[derive(Debug)]
pub struct ScriptServer {
    /// The URL the script printed (`URL=`).
    pub url: String,
    script: PathBuf,
    pidfile: String,
}

impl ScriptServer {
    /// Starts `scripts/services/<name>.sh` (`redis`, `postgres`, `mariadb`); panics with the
    /// script's stderr when it fails.
    pub fn start(name: &str) -> ScriptServer {
        let script = repo_root().join(format!("scripts/services/{name}.sh"));
        let stdout = run_ok(Command::new(&script).arg("start"));
        let field = |key: &str| {
            stdout
                .lines()
                .find_map(|l| l.strip_prefix(key))
                .unwrap_or_else(|| panic!("no {key} in {stdout}"))
                .to_owned()
        };
        ScriptServer {
            url: field("URL="),
            pidfile: field("PIDFILE="),
            script,
        }
    }

    /// Runs the script's `command` on this server (`halt`: stop it, keeping its port and
    /// data; `resume`: start it again); panics when it fails.
    pub fn run(&self, command: &str) {
        run_ok(Command::new(&self.script).args([command, &self.pidfile]));
    }
}

impl Drop for ScriptServer {
    fn drop(&mut self) {
        let _ = Command::new(&self.script)
            .args(["stop", &self.pidfile])
            .output();
    }
}

/// The Node pod: `node mixed.js URL KEY SERIALIZER` in `tools/cluster-vectors`, its stdin,
/// and every JSON line it printed so far. Asked to exit when dropped (killed if it does not
/// within 2 s).
#[derive(Debug)]
pub struct NodePod {
    child: Child,
    stdin: ChildStdin,
    lines: Arc<Mutex<Vec<Value>>>,
}

impl NodePod {
    /// `tools/cluster-vectors`, where `npm ci` installs feathers-sync.
    pub fn dir() -> PathBuf {
        repo_root().join("tools/cluster-vectors")
    }

    /// Why the pod cannot run here (`npm ci` not run in [`NodePod::dir`]), if it cannot.
    pub fn missing() -> Option<String> {
        let dir = NodePod::dir();
        (!dir.join("node_modules/feathers-sync").is_dir())
            .then(|| format!("run `npm ci` in {}", dir.display()))
    }

    /// Starts the pod on Redis `url` with feathers-sync's `key` and `serializer`
    /// (`json`, `flatted`).
    pub fn start(url: &str, key: &str, serializer: &str) -> NodePod {
        let mut child = Command::new("node")
            .args(["mixed.js", url, key, serializer])
            .current_dir(NodePod::dir())
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap();
        let stdout = child.stdout.take().unwrap();
        let lines = Arc::new(Mutex::new(Vec::new()));
        let sink = Arc::clone(&lines);
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                if let Ok(value) = serde_json::from_str::<Value>(&line) {
                    sink.lock().unwrap().push(value);
                }
            }
        });
        let stdin = child.stdin.take().unwrap();
        NodePod {
            child,
            stdin,
            lines,
        }
    }

    /// Sends one command line.
    pub fn send(&mut self, command: &Value) {
        writeln!(self.stdin, "{command}").unwrap();
        self.stdin.flush().unwrap();
    }

    /// What the pod's listeners heard so far (the `heard` of its lines), in order.
    pub fn heard(&self) -> Vec<Value> {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .filter_map(|l| l.get("heard").cloned())
            .collect()
    }

    /// Whether the pod said it is ready.
    pub fn ready(&self) -> bool {
        self.lines
            .lock()
            .unwrap()
            .iter()
            .any(|l| l["ready"] == true)
    }
}

impl Drop for NodePod {
    fn drop(&mut self) {
        let _ = writeln!(self.stdin, "{}", json!({"exit": true}));
        let _ = self.stdin.flush();
        for _ in 0..100 {
            if matches!(self.child.try_wait(), Ok(Some(_))) {
                return;
            }
            std::thread::park_timeout(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
