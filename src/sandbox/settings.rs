//! The node's jail settings: which layers every job process gets, prepared once at start
//! (library copy, mount point) and proven once at start by a self-check that runs workerd
//! through the launcher with every configured layer.
//!
//! Receives the validated [`JailConfig`]; hands [`JailSettings`] to the runner. A layer that
//! cannot be set up stops the node with one line naming the layer and the errno, unless the
//! operator turned it off (`jail_*` keys).

use std::path::{Path, PathBuf};

use super::command::{launcher_command, JobJail};
use super::seccomp;
use crate::config::JailConfig;

/// The jail's own files (library copy, mount point, self-check directory): next to the job
/// directory, `<job_dir>.jail`, so the job directory holds jobs only and two nodes never share
/// them.
pub(crate) fn jail_dir(job_dir: &Path) -> PathBuf {
    let mut name = job_dir.file_name().unwrap_or_default().to_owned();
    name.push(".jail");
    job_dir.with_file_name(name)
}

/// Which layers a job process gets (see README, "Job jail").
#[derive(Debug, Clone)]
pub struct JailSettings {
    /// Identity layer: job uid = base + slot (gid the same); `None`: runs as the node's uid.
    pub uid_base: Option<u32>,
    /// Filesystem layer: the private root.
    pub filesystem: Option<FilesystemJail>,
    /// New pid, ipc and uts namespaces.
    pub namespaces: bool,
    /// New, empty network namespace.
    pub network: bool,
    /// The seccomp filter's mode; `None`: no filter.
    pub seccomp: Option<seccomp::Mode>,
    /// Landlock, best effort.
    pub landlock: bool,
    /// `RLIMIT_NOFILE`.
    pub open_files_max: u64,
    /// `RLIMIT_FSIZE` and the size of `/tmp`.
    pub file_size_max: u64,
}

/// The filesystem layer's prepared files.
#[derive(Debug, Clone)]
pub struct FilesystemJail {
    /// Empty directory each job mounts its root on (in its own mount namespace).
    pub mount_point: PathBuf,
    /// The program's shared libraries, as a tree to bind.
    pub lib_dir: PathBuf,
}

/// Why the jail could not be prepared or failed its self-check.
#[derive(Debug, thiserror::Error)]
pub enum JailError {
    /// `ldd` failed on the program.
    #[error("layer `filesystem`: cannot list the shared libraries of {program} with ldd: {detail} (config key `jail_filesystem`)")]
    Ldd {
        /// The program.
        program: PathBuf,
        /// What went wrong.
        detail: String,
    },
    /// A jail file could not be written.
    #[error("cannot prepare the jail's files at {path}")]
    Io {
        /// The path.
        path: PathBuf,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// The self-check's launcher could not even be started.
    #[error("cannot run the jail self-check")]
    Spawn(#[source] std::io::Error),
    /// A layer failed in the self-check (the launcher's own line).
    #[error("job jail self-check: {0} (turn a layer off explicitly with its `jail_*` key)")]
    Layer(String),
    /// The program did not run correctly inside the jail.
    #[error(
        "job jail self-check: `{program} --version` fails inside the jail ({status}): {stderr}"
    )]
    Program {
        /// The program.
        program: PathBuf,
        /// How it ended.
        status: String,
        /// What it said.
        stderr: String,
    },
}

impl JailSettings {
    /// Settings from the config, with the filesystem layer's files prepared for `program` under
    /// `<job_dir>.jail`.
    pub fn prepare(
        config: &JailConfig,
        network: bool,
        program: &Path,
        job_dir: &Path,
    ) -> Result<Self, JailError> {
        let filesystem = if config.filesystem {
            let jail_dir = jail_dir(job_dir);
            let fs = FilesystemJail {
                mount_point: jail_dir.join("root"),
                lib_dir: jail_dir.join("libs"),
            };
            super::libs::copy_shared_libraries(program, &fs.lib_dir)?;
            std::fs::create_dir_all(&fs.mount_point).map_err(|source| JailError::Io {
                path: fs.mount_point.clone(),
                source,
            })?;
            Some(fs)
        } else {
            None
        };
        Ok(Self {
            uid_base: config.identity.then_some(config.uid_base),
            filesystem,
            namespaces: config.namespaces,
            network,
            seccomp: config.seccomp,
            landlock: config.landlock,
            open_files_max: config.open_files_max,
            file_size_max: config.file_size_max_bytes,
        })
    }

    /// Runs `program --version` through `launcher` with every configured layer (no cgroup,
    /// slot 0, an empty job directory in `<job_dir>.jail`): proof at start that each layer can be
    /// set up here and that the program runs inside them.
    pub fn self_check(
        &self,
        launcher: &Path,
        program: &Path,
        job_dir: &Path,
    ) -> Result<(), JailError> {
        let dir = jail_dir(job_dir).join("check");
        std::fs::create_dir_all(&dir).map_err(|source| JailError::Io {
            path: dir.clone(),
            source,
        })?;
        let job = JobJail {
            cgroup_procs: &[],
            slot: 0,
            dir: &dir,
        };
        let output = launcher_command(launcher, self, job, program)
            .arg("--version")
            .stdin(std::process::Stdio::null())
            .output()
            .map_err(JailError::Spawn)?;
        let _ = std::fs::remove_dir_all(&dir);
        let stderr = String::from_utf8_lossy(&output.stderr).trim().to_owned();
        if output.status.code() == Some(i32::from(super::launcher::LAUNCH_FAILED)) {
            return Err(JailError::Layer(stderr));
        }
        if !output.status.success() {
            return Err(JailError::Program {
                program: program.to_owned(),
                status: output.status.to_string(),
                stderr,
            });
        }
        Ok(())
    }
}
