//! The node's side of the launcher: the one place that turns [`JailSettings`] and a job's
//! cgroup, slot and directory into a `sandbox-exec` command line. Every execution mode and the
//! jail tests build their command here, so what is tested is what runs.

use std::path::{Path, PathBuf};
use std::process::Command;

use super::settings::JailSettings;

/// One job process's share of the jail.
#[derive(Debug, Clone, Copy)]
pub struct JobJail<'a> {
    /// `cgroup.procs` files the launcher joins (as root, before any other layer).
    pub cgroup_procs: &'a [PathBuf],
    /// The job's slot: its cgroup lease's, unique among live job processes, so two job
    /// processes never share a uid.
    pub slot: u32,
    /// The job's files; the working directory (`/job` inside the filesystem layer).
    pub dir: &'a Path,
}

/// `launcher sandbox-exec <layers> -- <program>`; the caller appends the program's arguments,
/// stdio and descriptors. The environment is empty and the working directory is the job's.
pub fn launcher_command(
    launcher: &Path,
    jail: &JailSettings,
    job: JobJail<'_>,
    program: &Path,
) -> Command {
    let mut command = Command::new(launcher);
    command
        .arg("sandbox-exec")
        .arg("--parent")
        .arg(std::process::id().to_string());
    for procs in job.cgroup_procs {
        command.arg("--join").arg(procs);
    }
    if jail.network {
        command.arg("--new-netns");
    }
    if jail.namespaces {
        command.arg("--new-pidns");
    }
    if let Some(base) = jail.uid_base {
        command
            .arg("--uid")
            .arg(base.saturating_add(job.slot).to_string());
    }
    command.arg("--job-dir").arg(job.dir);
    if let Some(filesystem) = &jail.filesystem {
        command
            .arg("--root")
            .arg(&filesystem.mount_point)
            .arg("--lib-dir")
            .arg(&filesystem.lib_dir);
    }
    command
        .arg("--file-size-max")
        .arg(jail.file_size_max.to_string())
        .arg("--open-files-max")
        .arg(jail.open_files_max.to_string());
    if let Some(mode) = jail.seccomp {
        command.arg("--seccomp").arg(match mode {
            super::seccomp::Mode::Deny => "deny",
            super::seccomp::Mode::Log => "log",
        });
    }
    if jail.landlock {
        command.arg("--landlock");
    }
    command
        .arg("--")
        .arg(program)
        .current_dir(job.dir)
        .env_clear();
    command
}
