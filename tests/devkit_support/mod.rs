//! The developer kit's binary as the tests drive it: one-shot runs and a `job watch --ws` in
//! the background.

#![allow(dead_code, unreachable_pub)]

use std::process::{Command, Output};

/// The binary under test.
pub const BIN: &str = env!("CARGO_BIN_EXE_serverless-executor");

/// Runs the kit with `args`, logs off.
pub fn kit(args: &[&str]) -> Output {
    Command::new(BIN)
        .args(args)
        .env_remove("RUST_LOG")
        .output()
        .unwrap()
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

/// A `job watch --ws` child, returned once it has subscribed and is waiting (its first progress
/// line on stderr).
pub struct Watching {
    child: std::process::Child,
    stderr: String,
    lines: std::io::Lines<std::io::BufReader<std::process::ChildStderr>>,
}

pub fn watch_ws_in_background(job: &str, ws: &str, jobs: &str) -> Watching {
    use std::io::BufRead as _;
    // `timeout`: a watch that never ends fails the test (status 124) instead of hanging it.
    let mut child = Command::new("timeout")
        .args(["60", BIN, "job", "watch", job, "--ws", ws, "--jobs", jobs])
        .env_remove("RUST_LOG")
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .unwrap();
    let mut lines = std::io::BufReader::new(child.stderr.take().unwrap()).lines();
    let mut stderr = String::new();
    for line in lines.by_ref() {
        let line = line.unwrap();
        stderr.push_str(&line);
        stderr.push('\n');
        if line.contains("waiting for answers: 0 of 1") {
            return Watching {
                child,
                stderr,
                lines,
            };
        }
    }
    let status = child.wait().unwrap();
    panic!("the watch ended ({status}) before it waited: {stderr}");
}

impl Watching {
    /// Waits for the exit; its status, stdout and stderr.
    pub fn finish(mut self) -> (Option<i32>, String, String) {
        use std::io::Read as _;
        for line in self.lines.by_ref() {
            self.stderr.push_str(&line.unwrap());
            self.stderr.push('\n');
        }
        let mut out = String::new();
        self.child
            .stdout
            .take()
            .unwrap()
            .read_to_string(&mut out)
            .unwrap();
        let status = self.child.wait().unwrap().code();
        (status, out, self.stderr)
    }
}
