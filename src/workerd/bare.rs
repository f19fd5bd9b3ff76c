//! A workerd process serving our loader with nothing of the node around it: no launcher, jail,
//! cgroup, pool or actor. It is the floor the benchmarks measure the node against
//! (`benches/node_added.rs`): the node's own files, command line, warm-up and requests, so what
//! the node adds over it is the node's own time.
//!
//! Owns the child, its directory and its control pipe; used only by benchmarks.

use std::net::TcpListener;
use std::path::{Path, PathBuf};
use std::time::Duration;

use tokio::process::{Child, Command};
use tokio::time::Instant;

use super::classify::{End, Evidence};
use super::exchange::{loader_answer, loader_request, warm_up};
use super::run::{
    loader_url, pipe_cloexec, process_client, serve, wait_listening, write_process_files, Receiver,
    RunError,
};
use crate::code::form::CodeForm;

/// Longest a bare process may take to serve and answer its warm-up.
const START_LIMIT: Duration = Duration::from_secs(10);

/// A started, warmed-up workerd serving the loader on a loopback port.
#[derive(Debug)]
pub struct BareProcess {
    child: Child,
    /// Its own client, kept-alive connection included, as the node's processes have.
    client: reqwest::Client,
    url: reqwest::Url,
    dir: PathBuf,
    _control: Receiver,
}

impl BareProcess {
    /// Writes the node's process files into `dir`, starts `workerd` on a fresh loopback
    /// listener and returns once it reports listening and answered the node's warm-up. With
    /// `procs_files` (a cgroup's `cgroup.procs` in each hierarchy), the process is moved into
    /// that cgroup as soon as it exists, before it listens: a floor whose processes pay what a
    /// job's cgroup costs (memory accounting, CPU bandwidth) and nothing else of the node.
    pub async fn start(
        workerd: &Path,
        dir: PathBuf,
        procs_files: &[PathBuf],
    ) -> Result<Self, RunError> {
        let client = process_client()?;
        let descriptors = |error: std::io::Error| RunError::Descriptors(error.to_string());
        write_process_files(&dir)?;
        let listener = TcpListener::bind("127.0.0.1:0").map_err(descriptors)?;
        let port = listener.local_addr().map_err(descriptors)?.port();
        let (control_read, control_write) = pipe_cloexec()?;
        let mut control = Receiver::from_owned_fd(control_read).map_err(descriptors)?;
        let mut command = Command::new(workerd);
        command.current_dir(&dir);
        let child = serve(command, listener.into(), control_write)?;
        let pid = child.id().map(|pid| pid.to_string()).unwrap_or_default();
        for file in procs_files {
            std::fs::write(file, &pid).map_err(descriptors)?;
        }
        let url = loader_url(port)?;
        let limit = Instant::now() + START_LIMIT;
        let serving =
            wait_listening(&mut control, limit).await && warm_up(&client, &url, limit).await;
        let process = Self {
            child,
            client,
            url,
            dir,
            _control: control,
        };
        if serving {
            return Ok(process);
        }
        process.shut_down().await;
        Err(RunError::NotServing {
            stderr: String::new(),
        })
    }

    /// Runs one job (`code` in `form`, `input` as its body) and returns its output, or `None`
    /// if the loader did not report a normal end.
    pub async fn run(
        &self,
        form: CodeForm,
        code: &[u8],
        input: &[u8],
        cap: usize,
    ) -> Option<Vec<u8>> {
        let request = loader_request(&self.client, &self.url, form, code, input, cap);
        match loader_answer(request, cap).await {
            Ok(Evidence::Ended(End::Ok(output))) => Some(output),
            _ => None,
        }
    }

    /// Kills and reaps the process and removes its directory.
    pub async fn shut_down(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        let _ = tokio::fs::remove_dir_all(&self.dir).await;
    }
}
