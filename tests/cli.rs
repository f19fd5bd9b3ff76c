//! The binary's command line and start-up failures: Marlin's flags, `keygen`, and one clear
//! line naming the problem for every bad config or key file.

#![allow(clippy::unwrap_used)]

use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::{Command, Output};

const BIN: &str = env!("CARGO_BIN_EXE_serverless-executor");

fn run(args: &[&str], dir: &Path) -> Output {
    Command::new(BIN)
        .args(args)
        .current_dir(dir)
        .env("RUST_LOG", "info")
        .output()
        .unwrap()
}

fn combined(output: &Output) -> String {
    format!(
        "{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    )
}

fn marlin_config(dir: &Path, edit: impl FnOnce(&mut serde_json::Value)) -> String {
    let mut config = serde_json::json!({
        "workerd_runtime_path": "./runtime/",
        "common_chain_id": 31337,
        "http_rpc_url": "http://127.0.0.1:9",
        "web_socket_url": "ws://127.0.0.1:9",
        "executors_contract_addr": "0x5FbDB2315678afecb367f032d93F642f64180aa3",
        "jobs_contract_addr": "0xe7f1725E7734CE288F8367e1Bb143E90bb3F0512",
        "code_contract_addr": "0x9fE46736679d2D9a65F0992F2272dE9f3c7fa6e0",
        "enclave_signer_file": "./id.sec",
        "execution_buffer_time": 10,
        "num_selected_executors": 1
    });
    edit(&mut config);
    let path = dir.join("config.json");
    std::fs::write(&path, config.to_string()).unwrap();
    path.to_str().unwrap().to_owned()
}

fn assert_one_error_line(output: &Output, needle: &str) {
    assert!(!output.status.success(), "must exit non-zero");
    let text = combined(output);
    let lines: Vec<&str> = text
        .lines()
        .filter(|line| !line.trim().is_empty())
        .collect();
    assert_eq!(lines.len(), 1, "exactly one line: {text}");
    assert!(
        lines[0].contains("ERROR") && lines[0].contains(needle),
        "{needle}: {text}"
    );
}

#[test]
fn version_and_help_show_marlins_flags() {
    let dir = tempfile::tempdir().unwrap();
    let version = run(&["-V"], dir.path());
    assert!(version.status.success());
    assert!(String::from_utf8_lossy(&version.stdout).starts_with("serverless-executor "));
    let help = String::from_utf8_lossy(&run(&["-h"], dir.path()).stdout).to_string();
    for flag in [
        "--port",
        "--config-file",
        "keygen",
        "6001",
        "oyster_serverless_executor_config.json",
    ] {
        assert!(help.contains(flag), "{flag} missing from help: {help}");
    }
}

#[test]
fn keygen_writes_a_private_key_file_once() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(&["keygen", "--out", "enclave.sec"], dir.path());
    assert!(output.status.success(), "{}", combined(&output));
    let path = dir.path().join("enclave.sec");
    let bytes = std::fs::read(&path).unwrap();
    assert_eq!(bytes.len(), 32);
    assert!(k256::ecdsa::SigningKey::from_slice(&bytes).is_ok());
    assert_eq!(
        std::fs::metadata(&path).unwrap().permissions().mode() & 0o777,
        0o600
    );
    assert!(combined(&output).contains("enclave_address=0x"));
    assert!(
        !combined(&output).contains(&hex::encode(&bytes)),
        "never print the key"
    );

    let again = run(&["keygen", "--out", "enclave.sec"], dir.path());
    assert!(
        !again.status.success(),
        "must not overwrite an existing key"
    );
    assert_eq!(std::fs::read(&path).unwrap(), bytes);
}

#[test]
fn missing_default_config_file_is_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let output = run(&[], dir.path());
    assert_one_error_line(&output, "oyster_serverless_executor_config.json");
}

#[test]
fn bad_config_fields_are_named_in_one_line() {
    let dir = tempfile::tempdir().unwrap();
    type Edit = Box<dyn Fn(&mut serde_json::Value)>;
    let cases: [(&str, Edit); 4] = [
        (
            "jobs_contract_addr",
            Box::new(|c| {
                c.as_object_mut().unwrap().remove("jobs_contract_addr");
            }),
        ),
        (
            "mystery_key",
            Box::new(|c| {
                c["mystery_key"] = 1.into();
            }),
        ),
        (
            "common_chain_id",
            Box::new(|c| {
                c["common_chain_id"] = "one".into();
            }),
        ),
        (
            "http_rpc_url",
            Box::new(|c| {
                c["http_rpc_url"] = "ftp://127.0.0.1".into();
            }),
        ),
    ];
    for (field, edit) in cases {
        let config = marlin_config(dir.path(), edit);
        assert_one_error_line(&run(&["--config-file", &config], dir.path()), field);
    }
}

#[test]
fn bad_enclave_key_files_are_one_clear_line() {
    let dir = tempfile::tempdir().unwrap();
    let config = marlin_config(dir.path(), |_| {});
    assert_one_error_line(
        &run(&["--config-file", &config], dir.path()),
        "enclave_signer_file",
    );
    std::fs::write(dir.path().join("id.sec"), [1u8; 31]).unwrap();
    assert_one_error_line(
        &run(&["--config-file", &config], dir.path()),
        "key must be 32 bytes, got 31",
    );
    std::fs::write(dir.path().join("id.sec"), [0xffu8; 32]).unwrap();
    assert_one_error_line(
        &run(&["--config-file", &config], dir.path()),
        "not a valid secp256k1 scalar",
    );
}
