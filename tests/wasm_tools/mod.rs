//! Builds the test programs with the real toolchains `scripts/setup.sh` installs: C with
//! Debian's clang for `wasm32-wasi`, AssemblyScript with the pinned `asc`, bundles with `tar`. Each program is built once per test
//! binary into Cargo's temp dir for integration tests.

#![allow(unreachable_pub, dead_code)]

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn out_dir() -> PathBuf {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("wasm-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

fn examples() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/wasm")
}

/// The C programs of `examples/wasm/c/`, each compiled to a WASI command exactly as
/// `examples/wasm/build.sh` does, once per test binary.
const C_PROGRAMS: [&str; 6] = [
    "prime_factors",
    "exit3",
    "trap",
    "memory_bomb",
    "loop",
    "large_output",
];

/// `examples/wasm/c/<name>.c` as a WASI command.
pub fn c_program(name: &str) -> Vec<u8> {
    static BUILT: OnceLock<HashMap<&'static str, Vec<u8>>> = OnceLock::new();
    let built = BUILT.get_or_init(|| {
        let dir = out_dir();
        C_PROGRAMS
            .iter()
            .map(|&program| {
                let out = dir.join(format!("{program}.wasm"));
                let source = examples().join(format!("c/{program}.c"));
                let status = Command::new("clang")
                    .args([
                        "--target=wasm32-wasi",
                        "--sysroot=/usr",
                        "-Oz",
                        "-Wl,--strip-all",
                        "-o",
                    ])
                    .arg(&out)
                    .arg(&source)
                    .status()
                    .expect("clang (run scripts/setup.sh)");
                assert!(status.success(), "clang failed for {}", source.display());
                (program, std::fs::read(out).unwrap())
            })
            .collect()
    });
    built[name].clone()
}

/// `examples/wasm/assemblyscript/` as a bundle: `index.js` and `factor.wasm` compiled by the
/// pinned AssemblyScript, exactly as `examples/wasm/build.sh` does.
pub fn assemblyscript_bundle() -> Vec<u8> {
    static BUILT: OnceLock<Vec<u8>> = OnceLock::new();
    BUILT.get_or_init(build_assemblyscript_bundle).clone()
}

fn build_assemblyscript_bundle() -> Vec<u8> {
    let out = out_dir().join("factor.wasm");
    let dir = examples().join("assemblyscript");
    {
        let asc = Path::new(env!("CARGO_MANIFEST_DIR")).join(".tools/bin/asc");
        let status = Command::new("node")
            .arg(asc)
            .arg(dir.join("factor.ts"))
            .arg("-o")
            .arg(&out)
            .args(["-O3", "--runtime", "stub", "--use", "abort="])
            .status()
            .expect("node");
        assert!(status.success(), "asc failed (run scripts/setup.sh)");
    }
    let entry = std::fs::read(dir.join("index.js")).unwrap();
    tar_bundle(&[
        ("index.js", &entry),
        ("factor.wasm", &std::fs::read(out).unwrap()),
    ])
}

/// A ustar bundle of `files` (name, bytes), in that order, made by the real `tar`.
pub fn tar_bundle(files: &[(&str, &[u8])]) -> Vec<u8> {
    let dir = tempfile::tempdir().unwrap();
    for (name, bytes) in files {
        let path = dir.path().join(name);
        std::fs::create_dir_all(path.parent().unwrap()).unwrap();
        std::fs::write(path, bytes).unwrap();
    }
    let archive = dir.path().join("bundle.tar");
    let status = Command::new("tar")
        .args(["--format=ustar", "-b", "1", "-cf"])
        .arg(&archive)
        .arg("-C")
        .arg(dir.path())
        .args(files.iter().map(|(name, _)| name))
        .status()
        .unwrap();
    assert!(status.success());
    std::fs::read(archive).unwrap()
}

/// A JS entry that adds two numbers with an imported Wasm module (`lib/add.wasm`) and prefixes
/// the sum with a JSON module's string.
pub const ADD_ENTRY: &str = r#"import add from "./lib/add.wasm";
import config from "./config.json";
export default { async fetch(request) {
  const { a, b } = await request.json();
  const instance = new WebAssembly.Instance(add, {});
  return new Response(config.prefix + instance.exports.add(a, b));
} };"#;

/// The `add` module of [`ADD_ENTRY`].
pub const ADD_WAT: &str = r#"(module (func (export "add") (param i32 i32) (result i32) local.get 0 local.get 1 i32.add))"#;

/// A hand-written module.
pub fn wat(text: &str) -> Vec<u8> {
    wat::parse_str(text).unwrap()
}

/// The bundle of [`ADD_ENTRY`]: `{"a": 2, "b": 40}` answers `sum=42`.
pub fn add_bundle() -> Vec<u8> {
    tar_bundle(&[
        ("index.js", ADD_ENTRY.as_bytes()),
        ("lib/add.wasm", &wat(ADD_WAT)),
        ("config.json", br#"{"prefix": "sum="}"#),
    ])
}
