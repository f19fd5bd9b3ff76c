//! Landlock (best effort: the layer is skipped where the kernel lacks it, e.g. stock Nitro
//! kernels): one more wall inside the job's root, applied after `pivot_root` and the uid
//! change (it needs no privilege), so even a process that got around the mount view or the uid
//! gets no more.
//!
//! Rules with the filesystem layer: read and execute the program and its libraries, read
//! `/job`, anything in `/tmp`, read/write `/dev/null`, read `/dev/urandom`; nothing on `/`
//! itself (the root cannot even be listed). Without the filesystem layer the host's files stay
//! readable (the host's library paths are not known here) and only `/tmp` and `/dev/null` are
//! writable. Always: no TCP bind or connect (ABI 4+), no signals to and no abstract unix
//! sockets of processes outside the job (ABI 6+).

use std::path::Path;

use landlock::{
    Access, AccessFs, AccessNet, BitFlags, PathBeneath, PathFd, Ruleset, RulesetAttr,
    RulesetCreatedAttr, Scope, ABI,
};

use super::error::LaunchError;
use super::root;

/// The newest ABI whose rights we ask for; older kernels get what they support.
const ABI_WANTED: ABI = ABI::V6;
/// Top-level entries of the job's root that are not program files.
const NOT_PROGRAM: [&str; 3] = ["job", "tmp", "dev"];

/// Restricts this process and its future children. `in_job_root`: the filesystem layer is on.
pub(super) fn restrict(in_job_root: bool) -> Result<(), LaunchError> {
    let read = AccessFs::from_read(ABI_WANTED);
    let read_exec = read | AccessFs::Execute;
    let all = AccessFs::from_all(ABI_WANTED);
    let mut rules: Vec<(std::path::PathBuf, BitFlags<AccessFs>)> = vec![
        ("/tmp".into(), all),
        ("/dev/null".into(), AccessFs::ReadFile | AccessFs::WriteFile),
        ("/dev/urandom".into(), AccessFs::ReadFile.into()),
    ];
    if in_job_root {
        rules.push((root::JOB.into(), read));
        let entries = std::fs::read_dir("/").map_err(LaunchError::file("landlock", "/"))?;
        for entry in entries.flatten() {
            let name = entry.file_name();
            if !NOT_PROGRAM.iter().any(|skip| name == *skip) {
                rules.push((Path::new("/").join(name), read_exec));
            }
        }
    } else {
        rules.push(("/".into(), read_exec));
    }
    let error = |error: landlock::RulesetError| LaunchError::Landlock(error.to_string());
    let mut ruleset = Ruleset::default()
        .handle_access(all)
        .map_err(error)?
        .handle_access(AccessNet::from_all(ABI_WANTED))
        .map_err(error)?
        .scope(Scope::from_all(ABI_WANTED))
        .map_err(error)?
        .create()
        .map_err(error)?;
    for (path, access) in rules {
        // A path missing on this host (e.g. no /tmp without the filesystem layer) needs no rule.
        let Ok(fd) = PathFd::new(&path) else { continue };
        let access = if path.is_dir() {
            access
        } else {
            access & AccessFs::from_file(ABI_WANTED)
        };
        ruleset = ruleset
            .add_rule(PathBeneath::new(fd, access))
            .map_err(error)?;
    }
    // `NotEnforced` (no Landlock in this kernel) is the best-effort case, not an error.
    ruleset.restrict_self().map(drop).map_err(error)
}
