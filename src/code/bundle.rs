//! Strict decoding of a bundle — a JS entry module plus the Wasm, JS, JSON, text and data
//! modules it imports — and its re-encoding in the framing our loader reads. Pure: receives
//! the code bytes, returns the framing or a [`BundleError`] (job outcome 3, like any code that
//! does not load).
//!
//! The bundle format is an uncompressed POSIX `ustar` archive (also GNU tar's own header
//! magic), so any developer builds one with `tar --format=ustar -b 1 -cf bundle.tar index.js
//! add.wasm`. Accepted: regular files (type `0` or NUL) and directories (skipped), a valid
//! header checksum, octal sizes, the end-of-archive zero blocks (with only zeros after them);
//! names of at most [`MAX_NAME_BYTES`] from `[A-Za-z0-9._-/]`, relative, with no empty, `.` or
//! `..` component (one leading `./` is dropped), unique, with a known extension; at most
//! [`MAX_MODULES`] files; the entry module `index.js` present. Everything else (links, pax or
//! GNU long-name headers, a cut-short archive) is refused.
//!
//! The framing (read by `src/workerd/js/protocol.js`, `bundleModules`): for each module, kind
//! (1 byte), name length (u16 big endian), name, content length (u32 big endian), content.

/// Most files in one bundle.
pub const MAX_MODULES: usize = 64;
/// Longest module name, in bytes.
pub const MAX_NAME_BYTES: usize = 200;
/// The module the job's isolate imports first; it must export the `fetch` handler.
pub const ENTRY: &str = "index.js";

const BLOCK: usize = 512;
const MAGIC_OFFSET: usize = 257;

/// Why bytes that carry the `ustar` magic are not a bundle we run.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum BundleError {
    /// The archive ends inside a header or a file, or before its end-of-archive block.
    #[error("the archive is truncated")]
    Truncated,
    /// A header's checksum does not match its bytes.
    #[error("header at byte {0} has a bad checksum")]
    BadChecksum(usize),
    /// A header that is not a POSIX or GNU `ustar` header.
    #[error("header at byte {0} has no ustar magic")]
    NoMagic(usize),
    /// A size or checksum field that is not octal.
    #[error("header at byte {0} has a malformed number")]
    BadNumber(usize),
    /// A member that is neither a regular file nor a directory.
    #[error("{name:?} has unsupported type {kind:?}")]
    UnsupportedType {
        /// The member's name as stored.
        name: String,
        /// The type flag.
        kind: char,
    },
    /// A name that is absolute, has `.`/`..`/empty parts, odd characters or is too long.
    #[error("{0:?} is not an allowed module name")]
    BadName(String),
    /// A name whose extension says no module kind.
    #[error("{0:?} has no known module extension (.js .mjs .wasm .json .txt .bin)")]
    UnknownKind(String),
    /// Two members with the same name.
    #[error("{0:?} appears twice")]
    Duplicate(String),
    /// More than [`MAX_MODULES`] files.
    #[error("more than {MAX_MODULES} modules")]
    TooManyModules,
    /// A JS, JSON or text module that is not UTF-8.
    #[error("{0:?} is not UTF-8")]
    NotUtf8(String),
    /// Non-zero bytes after the end-of-archive block.
    #[error("bytes after the end of the archive")]
    TrailingBytes,
    /// No `index.js`.
    #[error("the bundle has no {ENTRY}")]
    NoEntry,
}

/// How the loader hands a module to workerd (`protocol.js` KINDS).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ModuleKind {
    /// An ES module.
    Js = 1,
    /// A WebAssembly module, compiled by workerd.
    Wasm = 2,
    /// A JSON value.
    Json = 3,
    /// A string.
    Text = 4,
    /// An `ArrayBuffer`.
    Data = 5,
}

impl ModuleKind {
    fn of(name: &str) -> Option<Self> {
        let (_, extension) = name.rsplit_once('.')?;
        Some(match extension {
            "js" | "mjs" => Self::Js,
            "wasm" => Self::Wasm,
            "json" => Self::Json,
            "txt" => Self::Text,
            "bin" => Self::Data,
            _ => return None,
        })
    }
}

/// The two header magics (with version) accepted: POSIX `ustar\000` and GNU tar's own.
const MAGICS: [&[u8; 8]; 2] = [b"ustar\x0000", b"ustar  \x00"];

/// True when `code` starts like a `ustar` archive: a whole first block with either magic (and
/// version) at byte 257. Both hold a NUL byte, so no JavaScript text looks like a bundle.
pub fn looks_like_bundle(code: &[u8]) -> bool {
    code.len() >= BLOCK && has_magic(code)
}

fn has_magic(header: &[u8]) -> bool {
    MAGICS
        .iter()
        .any(|magic| header[MAGIC_OFFSET..MAGIC_OFFSET + 8] == magic[..])
}

/// Decodes a bundle strictly; its modules in archive order, in the loader's framing.
pub fn decode(code: &[u8]) -> Result<Vec<u8>, BundleError> {
    let mut framing = Vec::with_capacity(code.len());
    let mut names = std::collections::HashSet::new();
    let mut offset = 0;
    loop {
        let header = code
            .get(offset..offset + BLOCK)
            .ok_or(BundleError::Truncated)?;
        if header.iter().all(|&byte| byte == 0) {
            return finish(&code[offset + BLOCK..], &names, framing);
        }
        let member = read_header(header, offset)?;
        let start = offset + BLOCK;
        let content = code
            .get(start..start + member.size)
            .ok_or(BundleError::Truncated)?;
        offset = start + member.size.div_ceil(BLOCK) * BLOCK;
        let Some(name) = member_name(&member)? else {
            continue;
        };
        let kind = ModuleKind::of(&name).ok_or_else(|| BundleError::UnknownKind(name.clone()))?;
        if matches!(kind, ModuleKind::Js | ModuleKind::Json | ModuleKind::Text)
            && std::str::from_utf8(content).is_err()
        {
            return Err(BundleError::NotUtf8(name));
        }
        if names.len() == MAX_MODULES {
            return Err(BundleError::TooManyModules);
        }
        if !names.insert(name.clone()) {
            return Err(BundleError::Duplicate(name));
        }
        frame(&mut framing, kind, &name, content);
    }
}

/// After the first zero block: a second one (tar writes two), then nothing but zero padding.
fn finish(
    rest: &[u8],
    names: &std::collections::HashSet<String>,
    framing: Vec<u8>,
) -> Result<Vec<u8>, BundleError> {
    if rest.len() < BLOCK {
        return Err(BundleError::Truncated);
    }
    if rest.iter().any(|&byte| byte != 0) {
        return Err(BundleError::TrailingBytes);
    }
    if !names.contains(ENTRY) {
        return Err(BundleError::NoEntry);
    }
    Ok(framing)
}

fn frame(framing: &mut Vec<u8>, kind: ModuleKind, name: &str, content: &[u8]) {
    framing.push(kind as u8);
    // Both bounded above (MAX_NAME_BYTES, and the code is at most a few MiB).
    framing.extend_from_slice(&(name.len() as u16).to_be_bytes());
    framing.extend_from_slice(name.as_bytes());
    framing.extend_from_slice(&(content.len() as u32).to_be_bytes());
    framing.extend_from_slice(content);
}

struct Member<'a> {
    name: &'a [u8],
    prefix: &'a [u8],
    kind: u8,
    size: usize,
}

fn read_header(header: &[u8], at: usize) -> Result<Member<'_>, BundleError> {
    if !has_magic(header) {
        return Err(BundleError::NoMagic(at));
    }
    let stored = octal(&header[148..156]).ok_or(BundleError::BadNumber(at))?;
    let sum: u64 = header
        .iter()
        .enumerate()
        .map(|(i, &byte)| {
            if (148..156).contains(&i) {
                32
            } else {
                u64::from(byte)
            }
        })
        .sum();
    if sum != stored {
        return Err(BundleError::BadChecksum(at));
    }
    let size = octal(&header[124..136]).ok_or(BundleError::BadNumber(at))?;
    Ok(Member {
        name: until_nul(&header[0..100]),
        prefix: until_nul(&header[345..500]),
        kind: header[156],
        size: usize::try_from(size).map_err(|_| BundleError::Truncated)?,
    })
}

/// The member's module name, `None` for a directory; refuses every other type and bad names.
fn member_name(member: &Member<'_>) -> Result<Option<String>, BundleError> {
    let mut whole = Vec::with_capacity(member.prefix.len() + 1 + member.name.len());
    if !member.prefix.is_empty() {
        whole.extend_from_slice(member.prefix);
        whole.push(b'/');
    }
    whole.extend_from_slice(member.name);
    let shown = String::from_utf8_lossy(&whole).into_owned();
    match member.kind {
        b'0' | 0 => {}
        b'5' if member.size == 0 => return Ok(None),
        kind => {
            return Err(BundleError::UnsupportedType {
                name: shown,
                kind: char::from(kind),
            })
        }
    }
    let name = shown.strip_prefix("./").unwrap_or(&shown);
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-' | '/');
    let good = !name.is_empty()
        && name.len() <= MAX_NAME_BYTES
        && name.chars().all(allowed)
        && name
            .split('/')
            .all(|part| !part.is_empty() && part != "." && part != "..");
    if !good {
        return Err(BundleError::BadName(shown));
    }
    Ok(Some(name.to_owned()))
}

fn until_nul(field: &[u8]) -> &[u8] {
    let end = field
        .iter()
        .position(|&byte| byte == 0)
        .unwrap_or(field.len());
    &field[..end]
}

/// An octal field: digits, optionally led by spaces and ended by NUL or space.
fn octal(field: &[u8]) -> Option<u64> {
    let text = std::str::from_utf8(field).ok()?;
    let digits = text.trim_start_matches(' ').trim_end_matches(['\0', ' ']);
    if digits.is_empty() || !digits.bytes().all(|b| (b'0'..=b'7').contains(&b)) {
        return None;
    }
    u64::from_str_radix(digits, 8).ok()
}

#[cfg(test)]
#[path = "bundle/tests.rs"]
mod tests;
