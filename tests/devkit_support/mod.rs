//! The developer kit's binary as the tests drive it: one-shot runs and a `job watch --ws` in
//! the background.

#![allow(dead_code, unreachable_pub)]

use std::io::{BufRead as _, BufReader, Read as _};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::Duration;

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_serverless-executor");

/// Runs the kit with `args`, logs off; no test key ever shows in what it prints.
pub fn kit(args: &[&str]) -> Output {
    let output = Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap();
    assert_never_echoes_a_key(&output.stdout);
    assert_never_echoes_a_key(&output.stderr);
    output
}

/// Fails if `text` holds any test key, in whole or its first half.
pub fn assert_never_echoes_a_key(text: &[u8]) {
    use crate::common::{DEPLOYER_KEY, GAS_KEY, OWNER_KEY, STRANGER_KEY};
    let text = String::from_utf8_lossy(text).to_lowercase();
    for key in [DEPLOYER_KEY, OWNER_KEY, GAS_KEY, STRANGER_KEY] {
        assert!(!text.contains(&key[..32]), "a key was echoed: {text}");
    }
}

/// Its stdout, once it succeeded.
pub fn stdout(output: &Output) -> String {
    assert!(
        output.status.success(),
        "{output:?}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout.clone()).unwrap()
}

/// A `job watch --ws` child. Its stderr is read by a thread, so the test's runtime stays free
/// to run what the watch talks through (a `TcpRelay`).
pub struct Watching {
    child: Child,
    /// Lines from the reader thread, gathered into `stderr`.
    lines: mpsc::Receiver<String>,
    stderr: String,
    reader: Option<std::thread::JoinHandle<()>>,
}

/// Starts the watch and returns once it has subscribed and waits (its first progress line).
pub async fn watch_ws_in_background(job: &str, ws: &str, jobs: &str) -> Watching {
    // `timeout`: a watch that never ends fails the test (status 124) instead of hanging it.
    let mut child = Command::new("timeout")
        .args(["60", BIN, "job", "watch", job, "--ws", ws, "--jobs", jobs])
        .env_remove("RUST_LOG")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let pipe = child.stderr.take().unwrap();
    let (send, lines) = mpsc::channel();
    let reader = std::thread::spawn(move || {
        for line in BufReader::new(pipe).lines() {
            // The receiver outlives the child's stderr unless the test already failed.
            let _ = send.send(line.unwrap());
        }
    });
    let mut watching = Watching {
        child,
        lines,
        stderr: String::new(),
        reader: Some(reader),
    };
    watching.wait_for("waiting for answers: 0 of 1", 1).await;
    watching
}

impl Watching {
    /// What the watch wrote on stderr so far.
    pub fn stderr(&mut self) -> String {
        while let Ok(line) = self.lines.try_recv() {
            self.stderr.push_str(&line);
            self.stderr.push('\n');
        }
        self.stderr.clone()
    }

    /// Waits until `needle` has appeared `times` times on stderr; fails if the watch ends first.
    pub async fn wait_for(&mut self, needle: &str, times: usize) {
        while self.stderr().matches(needle).count() < times {
            if let Some(status) = self.child.try_wait().unwrap() {
                panic!(
                    "the watch ended ({status}) before {needle:?}: {}",
                    self.stderr()
                );
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Waits for the exit; its status, stdout and stderr.
    pub async fn finish(mut self) -> (Option<i32>, String, String) {
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        };
        if let Some(reader) = self.reader.take() {
            reader.join().unwrap();
        }
        let mut out = String::new();
        if let Some(mut stdout) = self.child.stdout.take() {
            stdout.read_to_string(&mut out).unwrap();
        }
        let stderr = self.stderr();
        assert_never_echoes_a_key(out.as_bytes());
        assert_never_echoes_a_key(stderr.as_bytes());
        (status.code(), out, stderr)
    }
}

impl Drop for Watching {
    fn drop(&mut self) {
        // Only a failed test leaves it running; an exited child is reaped already.
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
