//! Tests of the strict bundle decoder: archives written header by header (so every malformed
//! shape can be made) decode to the loader's framing or to the [`BundleError`] naming the fault.

use super::*;

/// One ustar header block for `name` (split into prefix/name by the caller) of `size` bytes.
fn header(name: &str, prefix: &str, kind: u8, size: usize, magic: &[u8; 8]) -> Vec<u8> {
    let mut block = vec![0u8; BLOCK];
    block[..name.len()].copy_from_slice(name.as_bytes());
    block[100..107].copy_from_slice(b"0000644");
    block[124..135].copy_from_slice(format!("{size:011o}").as_bytes());
    block[156] = kind;
    block[257..265].copy_from_slice(magic);
    block[345..345 + prefix.len()].copy_from_slice(prefix.as_bytes());
    block[148..156].fill(b' ');
    let sum: u32 = block.iter().map(|&b| u32::from(b)).sum();
    block[148..155].copy_from_slice(format!("{sum:06o}\0").as_bytes());
    block
}

const POSIX: &[u8; 8] = b"ustar\x0000";
const GNU: &[u8; 8] = b"ustar  \x00";

fn member(archive: &mut Vec<u8>, name: &str, content: &[u8]) {
    archive.extend(header(name, "", b'0', content.len(), POSIX));
    archive.extend_from_slice(content);
    archive.resize(archive.len().div_ceil(BLOCK) * BLOCK, 0);
}

fn end(mut archive: Vec<u8>) -> Vec<u8> {
    archive.extend([0u8; 2 * BLOCK]);
    archive
}

fn archive(members: &[(&str, &[u8])]) -> Vec<u8> {
    let mut archive = Vec::new();
    for (name, content) in members {
        member(&mut archive, name, content);
    }
    end(archive)
}

const INDEX: &[u8] = b"export default {}";

#[test]
fn a_bundle_becomes_the_loaders_framing_in_archive_order() {
    let mut tar = Vec::new();
    member(&mut tar, "index.js", INDEX);
    tar.extend(header("lib/", "", b'5', 0, GNU));
    member(&mut tar, "./lib/add.wasm", b"\0asm\x01\0\0\0");
    member(&mut tar, "d.json", b"{}");
    let mut tar = end(tar);
    tar.extend([0u8; 4096]); // tar's record padding
    assert!(looks_like_bundle(&tar));
    let framing = decode(&tar).unwrap();
    let mut expected = vec![1, 0, 8];
    expected.extend_from_slice(b"index.js");
    expected.extend_from_slice(&(INDEX.len() as u32).to_be_bytes());
    expected.extend_from_slice(INDEX);
    expected.extend_from_slice(&[2, 0, 12]);
    expected.extend_from_slice(b"lib/add.wasm\0\0\0\x08\0asm\x01\0\0\0");
    expected.extend_from_slice(&[3, 0, 6]);
    expected.extend_from_slice(b"d.json\0\0\0\x02{}");
    assert_eq!(framing, expected);
}

#[test]
fn the_prefix_field_joins_the_name() {
    let mut tar = Vec::new();
    member(&mut tar, "index.js", INDEX);
    tar.extend(header("b.txt", "a", b'0', 1, POSIX));
    tar.extend_from_slice(&[b'x'; BLOCK]);
    let framing = decode(&end(tar)).unwrap();
    assert!(framing.windows(7).any(|w| w == b"a/b.txt"));
}

#[test]
fn path_tricks_and_odd_names_are_refused() {
    for name in [
        "../index.js",
        "a/../b.js",
        "/abs.js",
        "a//b.js",
        "./",
        "a/./b.js",
        "sp ace.js",
        "q?.js",
        "c:d.js",
        "back\\slash.js",
    ] {
        let tar = archive(&[("index.js", INDEX), (name, b"x")]);
        assert!(
            matches!(decode(&tar), Err(BundleError::BadName(_))),
            "{name}: {:?}",
            decode(&tar)
        );
    }
    let long = format!("{}.js", "a".repeat(MAX_NAME_BYTES));
    let mut tar = Vec::new();
    member(&mut tar, "index.js", INDEX);
    tar.extend(header(&long[..100], &long[100..], b'0', 0, POSIX));
    assert!(matches!(decode(&end(tar)), Err(BundleError::BadName(_))));
}

#[test]
fn duplicates_unknown_kinds_and_a_missing_entry_are_refused() {
    let dup = archive(&[("index.js", INDEX), ("./index.js", INDEX)]);
    assert_eq!(decode(&dup), Err(BundleError::Duplicate("index.js".into())));
    let odd = archive(&[("index.js", INDEX), ("x.sh", b"")]);
    assert_eq!(decode(&odd), Err(BundleError::UnknownKind("x.sh".into())));
    let noentry = archive(&[("main.js", INDEX)]);
    assert_eq!(decode(&noentry), Err(BundleError::NoEntry));
    let binary = archive(&[("index.js", b"\xff")]);
    assert_eq!(
        decode(&binary),
        Err(BundleError::NotUtf8("index.js".into()))
    );
    let names: Vec<String> = (0..=MAX_MODULES).map(|i| format!("m{i}.bin")).collect();
    let mut members: Vec<(&str, &[u8])> = vec![("index.js", INDEX)];
    members.extend(names.iter().map(|name| (name.as_str(), &b""[..])));
    assert_eq!(decode(&archive(&members)), Err(BundleError::TooManyModules));
}

#[test]
fn links_and_extension_headers_are_refused() {
    for kind in [b'1', b'2', b'x', b'g', b'L', b'3', b'7'] {
        let mut tar = Vec::new();
        member(&mut tar, "index.js", INDEX);
        tar.extend(header("other.js", "", kind, 0, POSIX));
        assert!(
            matches!(decode(&end(tar)), Err(BundleError::UnsupportedType { .. })),
            "type {}",
            char::from(kind)
        );
    }
}

#[test]
fn truncated_corrupt_or_trailing_archives_are_refused() {
    let whole = archive(&[("index.js", INDEX)]);
    assert!(decode(&whole).is_ok());
    for cut in [BLOCK - 1, BLOCK + 3, 2 * BLOCK, 3 * BLOCK, whole.len() - 1] {
        assert_eq!(
            decode(&whole[..cut]),
            Err(BundleError::Truncated),
            "cut {cut}"
        );
    }
    let mut corrupt = whole.clone();
    corrupt[0] = b'j';
    assert_eq!(decode(&corrupt), Err(BundleError::BadChecksum(0)));
    let mut trailing = whole.clone();
    trailing.push(1);
    trailing.extend([0u8; BLOCK]);
    assert_eq!(decode(&trailing), Err(BundleError::TrailingBytes));
    let mut no_magic = whole.clone();
    no_magic[262] = b'X';
    assert_eq!(decode(&no_magic), Err(BundleError::NoMagic(0)));
    let mut bad_size = header("index.js", "", b'0', 0, POSIX);
    bad_size[124] = b'9';
    assert!(decode(&end(bad_size)).is_err());
}
