//! The job's private root: a fresh tmpfs holding only what workerd needs, entered with
//! `pivot_root` in the job's own mount namespace, with the host's root detached.
//!
//! What is in it (and nothing else: no host `/proc`, `/sys`, `/etc`, no key, no state dir, no
//! other job's files): `/workerd` (the binary, read-only), its shared libraries at the paths the
//! dynamic loader looks for them (read-only, copied once per node start, see
//! [`super::libs`]), `/job` (this job's files, read-only, the working directory), an empty
//! private `/tmp` (size-limited tmpfs, no exec), `/dev/null` and `/dev/urandom`. workerd
//! needs no `/proc` (it only warns that it cannot look for a config compiled into its binary).

use std::path::Path;

use nix::mount::{mount, umount2, MntFlags, MsFlags};
use nix::sys::stat::{umask, Mode};

use super::error::LaunchError;

/// Where the program is inside the job's root.
pub(super) const PROGRAM: &str = "/workerd";
/// Where the job's files are inside the job's root (the working directory).
pub(super) const JOB: &str = "/job";
/// Devices bound into the job's root.
const DEVICES: [&str; 2] = ["/dev/null", "/dev/urandom"];
/// Size of the root tmpfs itself: it only holds mount points.
const ROOT_TMPFS: &str = "size=64k,mode=0755";

const LAYER: &str = "filesystem";

/// What goes into the job's root.
#[derive(Debug)]
pub(super) struct Layout<'a> {
    /// An empty directory to mount the root on (shared by all jobs: every job mounts on it in
    /// its own mount namespace).
    pub(super) mount_point: &'a Path,
    /// Its subdirectories are bound read-only at the same names.
    pub(super) lib_dir: &'a Path,
    /// The job's files.
    pub(super) job_dir: &'a Path,
    /// The binary to run.
    pub(super) program: &'a Path,
    /// Size of `/tmp`.
    pub(super) tmp_bytes: u64,
}

/// Builds the root and makes it `/`. Must run in a new mount namespace, as root.
pub(super) fn enter(layout: &Layout<'_>) -> Result<(), LaunchError> {
    // Mount points we create must be traversable by the job's uid whatever the node's umask.
    umask(Mode::from_bits_truncate(0o022));
    // Nothing we mount may propagate to the host, nor later host mounts to us.
    mount_at(
        None,
        Path::new("/"),
        None,
        MsFlags::MS_REC | MsFlags::MS_PRIVATE,
        None,
    )?;
    let root = layout.mount_point;
    let quiet = MsFlags::MS_NOSUID | MsFlags::MS_NODEV;
    mount_at(
        Some(Path::new("jail")),
        root,
        Some("tmpfs"),
        quiet,
        Some(ROOT_TMPFS),
    )?;
    let libs =
        std::fs::read_dir(layout.lib_dir).map_err(LaunchError::file(LAYER, layout.lib_dir))?;
    for entry in libs {
        let name = entry
            .map_err(LaunchError::file(LAYER, layout.lib_dir))?
            .file_name();
        bind_read_only(
            &layout.lib_dir.join(&name),
            &root.join(&name),
            MsFlags::empty(),
        )?;
    }
    bind_read_only(layout.program, &relative(root, PROGRAM), MsFlags::empty())?;
    bind_read_only(layout.job_dir, &relative(root, JOB), MsFlags::MS_NOEXEC)?;
    let tmp = root.join("tmp");
    create_dir(&tmp)?;
    let tmp_options = format!("size={},mode=1777", layout.tmp_bytes);
    mount_at(
        Some(Path::new("tmp")),
        &tmp,
        Some("tmpfs"),
        quiet | MsFlags::MS_NOEXEC,
        Some(&tmp_options),
    )?;
    create_dir(&root.join("dev"))?;
    for device in DEVICES {
        let target = relative(root, device);
        create_file(&target)?;
        mount_at(
            Some(Path::new(device)),
            &target,
            None,
            MsFlags::MS_BIND,
            None,
        )?;
    }
    pivot(root)?;
    // The root tmpfs holds only mount points: read-only from now on.
    let read_only = MsFlags::MS_REMOUNT | MsFlags::MS_BIND | MsFlags::MS_RDONLY | quiet;
    mount_at(None, Path::new("/"), None, read_only, None)
}

/// `pivot_root(".", ".")` stacks the old root on top of the new one; detaching it leaves the
/// new root alone, with no path back to the host's files.
fn pivot(root: &Path) -> Result<(), LaunchError> {
    nix::unistd::chdir(root).map_err(LaunchError::syscall("filesystem (chdir to the job root)"))?;
    nix::unistd::pivot_root(".", ".").map_err(LaunchError::syscall("filesystem (pivot_root)"))?;
    umount2(".", MntFlags::MNT_DETACH)
        .map_err(LaunchError::syscall("filesystem (detach the host root)"))?;
    nix::unistd::chdir("/").map_err(LaunchError::syscall("filesystem (chdir to /)"))
}

/// Binds `source` at `target` (created as a directory or an empty file to match), read-only.
fn bind_read_only(source: &Path, target: &Path, extra: MsFlags) -> Result<(), LaunchError> {
    if source.is_dir() {
        create_dir(target)?;
    } else {
        if let Some(parent) = target.parent() {
            create_dir(parent)?;
        }
        create_file(target)?;
    }
    mount_at(
        Some(source),
        target,
        None,
        MsFlags::MS_BIND | MsFlags::MS_REC,
        None,
    )?;
    let flags = MsFlags::MS_REMOUNT
        | MsFlags::MS_BIND
        | MsFlags::MS_RDONLY
        | MsFlags::MS_NOSUID
        | MsFlags::MS_NODEV
        | extra;
    mount_at(None, target, None, flags, None)
}

fn mount_at(
    source: Option<&Path>,
    target: &Path,
    fstype: Option<&str>,
    flags: MsFlags,
    data: Option<&str>,
) -> Result<(), LaunchError> {
    mount(source, target, fstype, flags, data).map_err(|source| LaunchError::File {
        layer: LAYER,
        path: target.to_owned(),
        source: std::io::Error::from(source),
    })
}

fn relative(root: &Path, absolute: &str) -> std::path::PathBuf {
    root.join(absolute.trim_start_matches('/'))
}

fn create_dir(path: &Path) -> Result<(), LaunchError> {
    std::fs::create_dir_all(path).map_err(LaunchError::file(LAYER, path))
}

fn create_file(path: &Path) -> Result<(), LaunchError> {
    std::fs::File::create(path)
        .map(drop)
        .map_err(LaunchError::file(LAYER, path))
}
