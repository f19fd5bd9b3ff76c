//! The cgroup v2 VM tier: boots a throw-away QEMU VM (TCG) whose kernel has only cgroup2
//! mounted (`cgroup_no_v1=all`) and runs [`GUEST_TESTS`] inside it against the real v2 kernel
//! interface, because our hosts are hybrid (v1 controllers, an empty cgroup2 mount) and cannot
//! exercise the v2 backend. Never skipped: no qemu, no kernel, a failed boot or a missing marker
//! is a failure that shows the guest's console.
//!
//! To run another test binary in the VM, add one line to [`GUEST_TESTS`]. It runs as root in the
//! guest, at the project folder, with the host's files at their host paths (so `CARGO_BIN_EXE_*`
//! and `env!("CARGO_MANIFEST_DIR")` paths work) and `SERVERLESS_EXECUTOR_TEST_CGROUP=v2` set.
//! Keep it small: TCG runs CPU-bound code 10–50 × slower than the host.

#![allow(clippy::unwrap_used, clippy::print_stderr)]

mod vm;

use vm::{guest, GuestTest};

/// The test binaries run inside the VM, in this order, in one boot:
/// `guest(name, cargo test --no-run selector, libtest arguments in the guest)`.
const GUEST_TESTS: &[GuestTest] = &[
    // The cgroup backend on the real v2 interface: join, limits, OOM, pids, fork bomb,
    // cgroup.kill, a nested parent, stale cleanup (and detection must say v2).
    guest("cgroups", &["--test", "cgroups"], &[]),
    // What only pure v2 has: the no-internal-process rule on a container's namespace root.
    guest("cgroups_v2", &["--test", "cgroups_v2"], &[]),
    // The backend's unit tests (a fake cgroupfs in a tempdir): they must not depend on the host.
    guest("cgroup-unit", &["--lib"], &["cgroup::"]),
    // The job jail's stand-in through the node's launcher, on the real v2 interface (the
    // workerd case is skipped: a real workerd start under software emulation is too slow).
    guest("jail", &["--test", "jail"], &["--skip", "workerd"]),
];

#[tokio::test]
async fn guest_tests_pass_on_a_pure_cgroup_v2_kernel() {
    let boot = vm::boot(GUEST_TESTS).await;
    assert!(
        vm::guest_booted(&boot.console),
        "the VM did not boot (run.sh status {:?}; console above)",
        boot.status
    );
    if let Some(error) = vm::guest_error(&boot.console) {
        panic!("the VM could not set up the guest: {error} (console above)");
    }
    for test in GUEST_TESTS {
        let exit = vm::guest_exit(&boot.console, test.name);
        assert_eq!(exit, Some(0), "guest test {} (console above)", test.name);
        let passed = vm::guest_passed(&boot.console, test.name).unwrap_or(0);
        assert!(
            passed > 0,
            "guest test {} ran no test (console above)",
            test.name
        );
    }
    assert!(
        vm::guest_done(&boot.console),
        "the guest did not finish its plan (console above)"
    );
    assert_eq!(
        boot.status,
        Some(0),
        "QEMU exit status (124: timed out; console above)"
    );
}

#[test]
fn console_markers_are_read_per_test() {
    let console = "\
vm: kernel 6.1.0-48-amd64, 2 cpus, cgroup.controllers: cpuset cpu io memory pids
vm: running cgroups: /t/cgroups-1
test result: ok. 9 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in 3.1s
@@vm-test cgroups exit=0@@
vm: running jail: /t/jail-2
test result: FAILED. 1 passed; 1 failed; 0 ignored
@@vm-test jail exit=101@@
@@vm-done@@
";
    assert_eq!(vm::guest_exit(console, "cgroups"), Some(0));
    assert_eq!(vm::guest_exit(console, "jail"), Some(101));
    assert_eq!(vm::guest_exit(console, "other"), None);
    assert_eq!(vm::guest_passed(console, "cgroups"), Some(9));
    assert_eq!(vm::guest_passed(console, "jail"), None);
    assert!(vm::guest_booted(console) && vm::guest_done(console));
    assert_eq!(vm::guest_error(console), None);
    let broken = "@@vm-error mount 9p host@@\n";
    assert_eq!(vm::guest_error(broken), Some("mount 9p host"));
    assert!(!vm::guest_done(broken));
    assert!(!vm::guest_booted(
        "vm: ERROR: no kernel in .tools/vm/kernel\n"
    ));
}
