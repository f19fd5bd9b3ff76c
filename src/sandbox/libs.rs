//! The program's shared libraries for the filesystem layer: found with `ldd` once per node
//! start and copied (the files, not their symlinks) into a directory tree that mirrors the
//! paths the dynamic loader opens, e.g. `lib/x86_64-linux-gnu/libc.so.6`, `lib64/ld-linux…`.
//!
//! A copy rather than read-only binds of the host's library directories: the job sees the six
//! files workerd links, not the host's hundreds, and one bind per top-level directory suffices.

use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use super::settings::JailError;

/// Copies the libraries `program` needs into `into` (emptied first).
pub(super) fn copy_shared_libraries(program: &Path, into: &Path) -> Result<(), JailError> {
    let output = std::process::Command::new("ldd")
        .arg(program)
        .env_clear()
        .output()
        .map_err(|source| JailError::Ldd {
            program: program.to_owned(),
            detail: source.to_string(),
        })?;
    let listing = String::from_utf8_lossy(&output.stdout);
    let libraries = parse_ldd(&listing);
    if libraries.is_empty() && !listing.contains("statically linked") {
        return Err(JailError::Ldd {
            program: program.to_owned(),
            detail: format!("no libraries in `{}`", listing.trim()),
        });
    }
    let io = |path: &Path| {
        let path = path.to_owned();
        move |source| JailError::Io { path, source }
    };
    if into.exists() {
        std::fs::remove_dir_all(into).map_err(io(into))?;
    }
    make_dir(into)?;
    for library in libraries {
        let target = into.join(library.strip_prefix("/").unwrap_or(&library));
        if let Some(parent) = target.parent() {
            make_dir(parent)?;
        }
        std::fs::copy(&library, &target).map_err(io(&library))?;
    }
    Ok(())
}

/// Absolute paths in `ldd` output: `name => /path (addr)` and the loader's `/path (addr)`.
fn parse_ldd(listing: &str) -> Vec<PathBuf> {
    listing
        .lines()
        .filter_map(|line| {
            let path = match line.split_once("=>") {
                Some((_, rest)) => rest.split_whitespace().next()?,
                None => line.split_whitespace().next()?,
            };
            path.starts_with('/').then(|| PathBuf::from(path))
        })
        .collect()
}

/// A directory the job's uid can traverse, whatever the node's umask.
fn make_dir(dir: &Path) -> Result<(), JailError> {
    let io = |source| JailError::Io {
        path: dir.to_owned(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(io)?;
    std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o755)).map_err(io)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ldd_output_yields_every_absolute_library_path() {
        let listing = "\tlinux-vdso.so.1 (0x00007ffc)\n\
            \tlibm.so.6 => /lib/x86_64-linux-gnu/libm.so.6 (0x00007f0a)\n\
            \tlibc.so.6 => /lib/x86_64-linux-gnu/libc.so.6 (0x00007f0b)\n\
            \t/lib64/ld-linux-x86-64.so.2 (0x00007f0c)\n";
        assert_eq!(
            parse_ldd(listing),
            [
                "/lib/x86_64-linux-gnu/libm.so.6",
                "/lib/x86_64-linux-gnu/libc.so.6",
                "/lib64/ld-linux-x86-64.so.2"
            ]
            .map(PathBuf::from)
        );
    }
}
