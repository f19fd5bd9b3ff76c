//! Repository hygiene enforced as a test: every source file documents itself with `//!`, and
//! production code has no `println!`/`eprintln!`/`dbg!`/`.unwrap()` (tests may unwrap).

use std::path::{Path, PathBuf};

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for entry in std::fs::read_dir(dir).expect("readable dir") {
        let path = entry.expect("entry").path();
        if path.is_dir() {
            rust_files(&path, out);
        } else if path.extension().is_some_and(|ext| ext == "rs") {
            out.push(path);
        }
    }
}

fn sources() -> Vec<(PathBuf, String)> {
    let mut files = Vec::new();
    rust_files(
        &Path::new(env!("CARGO_MANIFEST_DIR")).join("src"),
        &mut files,
    );
    assert!(files.len() > 10, "found the sources");
    files
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).expect("utf-8 source");
            (path, text)
        })
        .collect()
}

#[test]
fn every_source_file_starts_with_a_module_doc() {
    for (path, text) in sources() {
        assert!(
            text.starts_with("//!"),
            "{} must start with a //! module doc",
            path.display()
        );
    }
}

#[test]
fn production_code_has_no_prints_or_unwraps() {
    for (path, text) in sources() {
        let production = text.split("#[cfg(test)]").next().unwrap_or_default();
        let is_test_file = path.file_name().is_some_and(|name| name == "tests.rs");
        if is_test_file {
            continue;
        }
        for banned in ["println!", "eprintln!", "dbg!(", ".unwrap()"] {
            assert!(
                !production.contains(banned),
                "{} uses {banned}",
                path.display()
            );
        }
    }
}
