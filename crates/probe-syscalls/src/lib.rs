//! The one syscall the jail probe (`src/bin/jail-probe`) must attempt that no safe wrapper
//! offers: `bpf(2)`. It lives in its own crate because the main crate forbids `unsafe` (a
//! `forbid` no inner `allow` can lift); nothing else uses it, and the node never calls it.

/// Tries `bpf(BPF_MAP_CREATE)` for a one-entry array map; returns the new fd or the errno.
pub fn bpf_map_create() -> std::io::Result<i64> {
    // union bpf_attr for BPF_MAP_CREATE: map_type, key_size, value_size, max_entries (u32 each),
    // the rest zero. 128 bytes covers every field the kernel may read.
    let mut attr = [0u32; 32];
    attr[0] = 2; // BPF_MAP_TYPE_ARRAY
    attr[1] = 4;
    attr[2] = 4;
    attr[3] = 1;
    // SAFETY: `attr` is a live, writable buffer of the size we pass; the kernel reads at most
    // that many bytes and we own the returned fd (leaked: the probe exits right after).
    let result = unsafe {
        libc::syscall(
            libc::SYS_bpf,
            0, // BPF_MAP_CREATE
            attr.as_mut_ptr(),
            std::mem::size_of_val(&attr),
        )
    };
    if result < 0 {
        Err(std::io::Error::last_os_error())
    } else {
        Ok(result)
    }
}
