//! The test programs, built by `examples/wasm/build.sh` itself — the script a developer copies
//! — with the real toolchains `scripts/setup.sh` installs (C with Debian's clang for
//! `wasm32-wasi`, AssemblyScript with the pinned `asc`, the bundle with `tar`), once per test
//! binary into Cargo's temp dir for integration tests; and hand-made bundles and modules.

#![allow(unreachable_pub, dead_code)]

use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::OnceLock;

fn out_dir(name: &str) -> PathBuf {
    let dir =
        Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("wasm-{}-{name}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs `examples/wasm/build.sh` with `args` and `env`, building into `out`; its stdout.
pub fn build_script(out: &Path, args: &[&str], env: &[(&str, &str)]) -> String {
    let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("examples/wasm/build.sh");
    let output = Command::new(script)
        .args(args)
        .env("OUT", out)
        .envs(env.iter().copied())
        .output()
        .expect("examples/wasm/build.sh");
    assert!(
        output.status.success(),
        "build.sh failed (run scripts/setup.sh): {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// Where `build.sh` put every example, built on first use.
fn built() -> &'static Path {
    static BUILT: OnceLock<PathBuf> = OnceLock::new();
    BUILT.get_or_init(|| {
        let dir = out_dir("built");
        build_script(&dir, &[], &[]);
        dir
    })
}

/// `examples/wasm/c/<name>.c` as a WASI command.
pub fn c_program(name: &str) -> Vec<u8> {
    std::fs::read(built().join(format!("{name}.wasm"))).unwrap()
}

/// `examples/wasm/assemblyscript/` as a bundle: `index.js` and `factor.wasm` compiled by the
/// pinned AssemblyScript.
pub fn assemblyscript_bundle() -> Vec<u8> {
    std::fs::read(built().join("prime_factors_as.tar")).unwrap()
}

/// `build.sh --upload NAME`, as the README shows it: builds into a directory of its own, then
/// uploads `NAME` with the kit; the upload's transaction hash.
pub fn build_and_upload(name: &str, rpc: &str, code_contract: &str, key_file: &Path) -> String {
    let out = out_dir("upload");
    let stdout = build_script(
        &out,
        &["--upload", name],
        &[
            ("RPC_URL", rpc),
            ("CODE_CONTRACT", code_contract),
            ("KEY_FILE", key_file.to_str().unwrap()),
            ("SE", env!("CARGO_BIN_EXE_serverless-executor")),
        ],
    );
    stdout.lines().last().unwrap_or_default().trim().to_owned()
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

/// A bundle holding `index.js` and `content` under `name`, even a name `tar` would not store:
/// the header is rewritten (and its checksum recomputed) after `tar` made it.
pub fn bundle_with_name(name: &str, content: &[u8]) -> Vec<u8> {
    let placeholder = "x".repeat(name.len());
    let mut archive = tar_bundle(&[("index.js", ADD_ENTRY.as_bytes()), (&placeholder, content)]);
    let at = archive
        .chunks(512)
        .position(|block| block.starts_with(placeholder.as_bytes()))
        .unwrap()
        * 512;
    archive[at..at + name.len()].copy_from_slice(name.as_bytes());
    archive[at + 148..at + 156].fill(b' ');
    let sum: u32 = archive[at..at + 512].iter().map(|&b| u32::from(b)).sum();
    archive[at + 148..at + 156].copy_from_slice(format!("{sum:06o}\0 ").as_bytes());
    archive
}

/// A bundle holding `index.js` twice: its header and content repeated, then the end blocks.
pub fn duplicate_bundle() -> Vec<u8> {
    let first = tar_bundle(&[("index.js", ADD_ENTRY.as_bytes())]);
    let member = &first[..first.len() - 1024];
    [member, member, &first[first.len() - 1024..]].concat()
}
