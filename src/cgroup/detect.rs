//! Pure classification of the host's cgroup layout from `/proc/self/mountinfo` text.
//!
//! Receives the mountinfo text and the cgroup fs root (normally `/sys/fs/cgroup`); returns a
//! [`Layout`] or a sentence naming what is missing. Touches no file, so it is tested with
//! recorded mountinfo lines. Invariants: only mounts at or below the root count; a cgroup2 mount
//! *at* the root means pure v2; v1 controllers are matched as whole super-option tokens (`cpu`
//! never matches `cpuset` or `cpuacct`); the last mount at a point wins, as in the kernel.

use std::path::{Path, PathBuf};

/// The v1 controllers every job needs.
const V1_REQUIRED: [&str; 3] = ["memory", "cpu", "pids"];

/// Where the hierarchies we may use are mounted.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Layout {
    /// cgroup2 mounted at the root (controllers are checked later, from `cgroup.controllers`).
    V2 {
        /// The cgroup2 mount point.
        mount: PathBuf,
    },
    /// One v1 hierarchy per controller, maybe with a cgroup2 mount beside them (hybrid).
    V1(V1Mounts),
}

/// Mount points of the v1 hierarchies and of the hybrid unified mount.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct V1Mounts {
    /// The hierarchy holding the `memory` controller.
    pub(crate) memory: PathBuf,
    /// The hierarchy holding the `cpu` controller (may be co-mounted with `cpuacct`).
    pub(crate) cpu: PathBuf,
    /// The hierarchy holding the `pids` controller.
    pub(crate) pids: PathBuf,
    /// The `freezer` hierarchy, the kill fallback when there is no `cgroup.kill`.
    pub(crate) freezer: Option<PathBuf>,
    /// A cgroup2 mount below the root (hybrid): used only for `cgroup.kill` and `cgroup.events`.
    pub(crate) unified: Option<PathBuf>,
}

/// One cgroup-related line of mountinfo.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Mount {
    /// Where it is mounted, with the kernel's octal escapes undone.
    pub(crate) point: PathBuf,
    /// `cgroup`, `cgroup2`, `tmpfs`, …
    pub(crate) fs_type: String,
    /// Comma-separated super options; for v1 they name the controllers.
    pub(crate) super_opts: Vec<String>,
}

/// Parses one mountinfo line: `id parent maj:min root point opts [optional…] - type source super`.
pub(crate) fn parse_mount(line: &str) -> Option<Mount> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    let dash = fields.iter().position(|field| *field == "-")?;
    let point = fields.get(4).filter(|_| dash >= 6)?;
    let fs_type = fields.get(dash + 1)?;
    let super_opts = fields.get(dash + 3).copied().unwrap_or_default();
    Some(Mount {
        point: PathBuf::from(unescape(point)),
        fs_type: (*fs_type).to_owned(),
        super_opts: super_opts.split(',').map(str::to_owned).collect(),
    })
}

/// Undoes mountinfo's `\ooo` octal escapes (space, tab, newline, backslash).
fn unescape(field: &str) -> String {
    let bytes = field.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let octal = bytes.get(i + 1..i + 4).and_then(|digits| {
            let text = std::str::from_utf8(digits).ok()?;
            u8::from_str_radix(text, 8).ok()
        });
        match (bytes[i], octal) {
            (b'\\', Some(byte)) => {
                out.push(byte);
                i += 4;
            }
            (byte, _) => {
                out.push(byte);
                i += 1;
            }
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Classifies the mounts at or below `root`, or says what is missing.
pub(crate) fn classify(mountinfo: &str, root: &Path) -> Result<Layout, String> {
    let mounts: Vec<Mount> = mountinfo
        .lines()
        .filter_map(parse_mount)
        .filter(|mount| mount.point.starts_with(root))
        .collect();
    let at_root = mounts.iter().rev().find(|mount| mount.point == root);
    if let Some(mount) = at_root.filter(|mount| mount.fs_type == "cgroup2") {
        return Ok(Layout::V2 {
            mount: mount.point.clone(),
        });
    }
    let v1 = |controller: &str| {
        mounts
            .iter()
            .rev()
            .find(|m| m.fs_type == "cgroup" && m.super_opts.iter().any(|opt| opt == controller))
            .map(|m| m.point.clone())
    };
    let missing: Vec<&str> = V1_REQUIRED
        .into_iter()
        .filter(|c| v1(c).is_none())
        .collect();
    match (v1("memory"), v1("cpu"), v1("pids")) {
        (Some(memory), Some(cpu), Some(pids)) => Ok(Layout::V1(V1Mounts {
            memory,
            cpu,
            pids,
            freezer: v1("freezer"),
            unified: mounts
                .iter()
                .rev()
                .find(|m| m.fs_type == "cgroup2" && m.point != root)
                .map(|m| m.point.clone()),
        })),
        _ => Err(format!(
            "no cgroup2 is mounted at {root} and the v1 {missing} controller(s) are not mounted \
             below it",
            root = root.display(),
            missing = missing.join(", "),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const HYBRID: &str = "\
31 23 0:28 / /sys/fs/cgroup rw,relatime - tmpfs tmpfs rw,mode=755
32 31 0:29 / /sys/fs/cgroup/cpu rw,relatime - cgroup cgroup rw,cpu
33 31 0:30 / /sys/fs/cgroup/cpuacct rw,relatime - cgroup cgroup rw,cpuacct
34 31 0:31 / /sys/fs/cgroup/cpuset rw,relatime - cgroup cgroup rw,cpuset
35 31 0:32 / /sys/fs/cgroup/memory rw,relatime - cgroup cgroup rw,memory
37 31 0:34 / /sys/fs/cgroup/freezer rw,relatime - cgroup cgroup rw,freezer
39 31 0:36 / /sys/fs/cgroup/pids rw,relatime - cgroup cgroup rw,pids
40 31 0:37 / /sys/fs/cgroup/systemd rw,relatime - cgroup cgroup rw,name=systemd
41 31 0:38 / /sys/fs/cgroup/unified rw,relatime - cgroup2 cgroup2 rw
";

    const PURE_V2: &str = "\
22 1 0:21 / /proc rw,nosuid - proc proc rw
30 23 0:26 / /sys/fs/cgroup rw,nosuid,nodev,noexec,relatime shared:4 - cgroup2 cgroup2 \
rw,nsdelegate,memory_recursiveprot
";

    fn root() -> &'static Path {
        Path::new("/sys/fs/cgroup")
    }

    #[test]
    fn hybrid_host_is_v1_with_unified_mount() {
        let Ok(Layout::V1(mounts)) = classify(HYBRID, root()) else {
            panic!("expected v1");
        };
        assert_eq!(mounts.memory, Path::new("/sys/fs/cgroup/memory"));
        assert_eq!(mounts.cpu, Path::new("/sys/fs/cgroup/cpu"));
        assert_eq!(mounts.pids, Path::new("/sys/fs/cgroup/pids"));
        assert_eq!(
            mounts.freezer.as_deref(),
            Some(Path::new("/sys/fs/cgroup/freezer"))
        );
        assert_eq!(
            mounts.unified.as_deref(),
            Some(Path::new("/sys/fs/cgroup/unified"))
        );
    }

    #[test]
    fn cgroup2_at_root_is_v2() {
        let layout = classify(PURE_V2, root());
        let mount = PathBuf::from("/sys/fs/cgroup");
        assert_eq!(layout, Ok(Layout::V2 { mount }));
    }

    #[test]
    fn comounted_cpu_cpuacct_is_found_and_cpuset_is_not_cpu() {
        let text = "\
1 0 0:1 / /cg/cpuset rw - cgroup cgroup rw,cpuset
2 0 0:2 / /cg/cpu,cpuacct rw - cgroup cgroup rw,cpu,cpuacct
3 0 0:3 / /cg/memory rw - cgroup cgroup rw,memory
4 0 0:4 / /cg/pids rw - cgroup cgroup rw,pids
";
        let Ok(Layout::V1(mounts)) = classify(text, Path::new("/cg")) else {
            panic!("expected v1");
        };
        assert_eq!(mounts.cpu, Path::new("/cg/cpu,cpuacct"));
        assert_eq!((mounts.freezer, mounts.unified), (None, None));
    }

    #[test]
    fn missing_controllers_are_named() {
        let text = HYBRID
            .replace("rw,pids", "rw,net_cls")
            .replace("rw,memory", "rw,blkio");
        let error = classify(&text, root()).unwrap_err();
        assert!(error.contains("memory, pids"), "{error}");
        assert!(classify(HYBRID, Path::new("/elsewhere")).is_err());
    }

    #[test]
    fn escaped_mount_points_and_optional_fields_parse() {
        let line = r"36 35 98:0 /mnt1 /tmp/my\040cg rw,noatime master:1 shared:2 - cgroup2 none rw";
        let mount = parse_mount(line).unwrap();
        assert_eq!(mount.point, Path::new("/tmp/my cg"));
        assert_eq!(mount.fs_type, "cgroup2");
        assert_eq!(mount.super_opts, vec!["rw"]);
        assert_eq!(parse_mount("garbage"), None);
    }
}
