//! The node's own protection, set at start before the enclave key is read: not dumpable (no
//! core file, no `/proc/<pid>/mem` or ptrace by same-uid processes), a negative OOM score
//! adjustment (a global OOM kills jobs, at 1000, first), and one warning line when the key
//! file is readable by anyone but its owner.

use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// `oom_score_adj` of the node.
const NODE_OOM_SCORE_ADJ: &str = "-500";

/// Why the node could not protect itself.
#[derive(Debug, thiserror::Error)]
pub enum ProtectError {
    /// `prctl(PR_SET_DUMPABLE, 0)` failed.
    #[error("cannot make the node non-dumpable")]
    Dumpable(#[source] nix::Error),
    /// `/proc/self/oom_score_adj` could not be written.
    #[error("cannot lower the node's OOM score (/proc/self/oom_score_adj)")]
    OomScore(#[source] std::io::Error),
}

/// Makes this process non-dumpable and unattractive to the OOM killer.
/// The OOM score is best effort (lowering it needs `CAP_SYS_RESOURCE`, which some container
/// runtimes withhold even from root): its failure is returned for the caller to log once the
/// node's start can go on (so that a start that fails still says one line); the dumpable flag
/// is required.
pub fn harden_node() -> Result<Option<ProtectError>, ProtectError> {
    let oom = std::fs::write("/proc/self/oom_score_adj", NODE_OOM_SCORE_ADJ)
        .err()
        .map(ProtectError::OomScore);
    nix::sys::prctl::set_dumpable(false).map_err(ProtectError::Dumpable)?;
    Ok(oom)
}

/// One warning line if `key_file` is readable by its group or others (it should be 0600).
pub fn warn_if_key_exposed(key_file: &Path) {
    if let Ok(metadata) = std::fs::metadata(key_file) {
        let mode = metadata.permissions().mode();
        if mode & 0o044 != 0 {
            tracing::warn!(
                path = %key_file.display(),
                mode = format!("{:o}", mode & 0o777),
                "The enclave key file is readable by others than its owner; chmod 600 it."
            );
        }
    }
}
