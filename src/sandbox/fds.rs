//! Descriptor hygiene: the program gets fds 0-2 and the ones handed over on purpose (3, the
//! listener, and 4, workerd's control pipe), nothing else.
//!
//! The node maps exactly those with `command-fds`; everything std opens is `O_CLOEXEC`. This
//! module makes sure of it anyway: every other open descriptor is marked close-on-exec before
//! the jail is built (while the host's `/proc` is still visible to list them).

use std::os::fd::RawFd;

use nix::fcntl::{fcntl, FcntlArg, FdFlag};

use super::error::LaunchError;

/// The highest descriptor handed to the program on purpose.
pub(super) const LAST_INHERITED: RawFd = 4;
/// The descriptors handed to the program on purpose besides stdio.
const HANDED_OVER: [RawFd; 2] = [3, 4];

/// Marks every open descriptor above `last` close-on-exec.
pub(super) fn close_on_exec_above(last: RawFd) -> Result<(), LaunchError> {
    let dir = "/proc/self/fd";
    let entries = std::fs::read_dir(dir).map_err(LaunchError::file("descriptors", dir))?;
    // Collect first: the directory's own descriptor is open while we read it.
    let open: Vec<RawFd> = entries
        .filter_map(|entry| entry.ok()?.file_name().to_str()?.parse().ok())
        .filter(|&fd| fd > last)
        .collect();
    for fd in open {
        match fcntl(fd, FcntlArg::F_SETFD(FdFlag::FD_CLOEXEC)) {
            // The directory's descriptor, closed by now.
            Ok(_) | Err(nix::Error::EBADF) => {}
            Err(error) => return Err(LaunchError::syscall("descriptors")(error)),
        }
    }
    Ok(())
}

/// Closes our copies of the handed-over descriptors (the supervisor's, once workerd has its
/// own). Only those without close-on-exec: they came from the node; one with the flag would be
/// std's own.
pub(super) fn close_handed_over() {
    for fd in HANDED_OVER {
        let inherited = fcntl(fd, FcntlArg::F_GETFD)
            .is_ok_and(|flags| !FdFlag::from_bits_truncate(flags).contains(FdFlag::FD_CLOEXEC));
        if inherited {
            let _ = nix::unistd::close(fd);
        }
    }
}
