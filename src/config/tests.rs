//! Config parsing and validation: Marlin's file unchanged, our examples, and one test per
//! error class, each checking that the message names the key.

use super::*;

const MARLIN_JSON: &str = include_str!("../../config/marlin-compatible.example.json");
const EXAMPLE_TOML: &str = include_str!("../../config/executor.example.toml");

fn marlin_json_with(edit: impl FnOnce(&mut serde_json::Map<String, serde_json::Value>)) -> String {
    let mut value: serde_json::Value = serde_json::from_str(MARLIN_JSON).unwrap();
    edit(value.as_object_mut().unwrap());
    value.to_string()
}

fn error_text(format: &str, text: &str) -> String {
    Config::from_text(format, text).unwrap_err().to_string()
}

#[test]
fn marlin_config_file_is_accepted_unchanged_with_our_defaults() {
    let config = Config::from_text("json", MARLIN_JSON).unwrap();
    assert_eq!(config.chain.chain_id, 421614);
    assert_eq!(
        config.chain.code_contract.to_string(),
        "0x44fe06d2940b8782a0a9a9ffd09c65852c0156b1"
    );
    assert_eq!(config.execution_buffer_time, Duration::from_secs(20));
    assert_eq!(config.num_selected_executors, 3);
    assert!(!config.admin.compat_unauthenticated_admin);
    assert_eq!(config.job_capacity, 20);
    assert_eq!(config.http_bind_address.to_string(), "127.0.0.1");
}

#[test]
fn example_toml_parses_and_sets_every_addition() {
    let config = Config::from_text("toml", EXAMPLE_TOML).unwrap();
    assert_eq!(config.chain.chain_id, 31337);
    assert_eq!(config.admin.signature_max_ttl, Duration::from_secs(300));
    assert_eq!(config.admin.body_limit_bytes, 16384);
    assert_eq!(config.chain.rpc_timeout, Duration::from_millis(5000));
    assert_eq!(config.chain.ws_rpc_url.scheme(), "ws");
    assert_eq!(config.balancer.agent_port, Some(6101));
    assert_eq!(config.balancer.shutdown_timeout, Duration::from_secs(120));
}

#[test]
fn missing_key_is_named() {
    let text = marlin_json_with(|map| {
        map.remove("jobs_contract_addr");
    });
    assert!(error_text("json", &text).contains("missing field `jobs_contract_addr`"));
}

#[test]
fn unknown_key_is_named() {
    let text = marlin_json_with(|map| {
        map.insert("job_capacty".into(), 4.into());
    });
    assert!(error_text("json", &text).contains("unknown field `job_capacty`"));
}

#[test]
fn mistyped_value_names_its_key() {
    let text = marlin_json_with(|map| {
        map.insert("common_chain_id".into(), "one".into());
    });
    let message = error_text("json", &text);
    assert!(message.contains("key `common_chain_id`"), "{message}");
    let toml = EXAMPLE_TOML.replace("job_capacity = 20", "job_capacity = \"many\"");
    let message = error_text("toml", &toml);
    assert!(message.contains("key `job_capacity`"), "{message}");
}

#[test]
fn invalid_values_name_their_key() {
    let cases: [(&str, serde_json::Value, &str); 8] = [
        (
            "jobs_contract_addr",
            "0x1234".into(),
            "`jobs_contract_addr`: expected 20 bytes",
        ),
        (
            "code_contract_addr",
            format!("0x{}", "0".repeat(40)).into(),
            "`code_contract_addr`: must not be the zero",
        ),
        (
            "http_rpc_url",
            "ws://127.0.0.1:1".into(),
            "`http_rpc_url`: scheme",
        ),
        (
            "web_socket_url",
            "not a url".into(),
            "`web_socket_url`: not a URL",
        ),
        (
            "num_selected_executors",
            0.into(),
            "`num_selected_executors`",
        ),
        (
            "http_bind_address",
            "localhost".into(),
            "`http_bind_address`",
        ),
        (
            "log_format",
            "yaml".into(),
            "`log_format`: `yaml` is not one of text, json",
        ),
        (
            "metrics_bind_address",
            "127.0.0.1".into(),
            "`metrics_bind_address`: `127.0.0.1` is not an IP:port",
        ),
    ];
    for (key, value, expected) in cases {
        let text = marlin_json_with(|map| {
            map.insert(key.into(), value);
        });
        let message = error_text("json", &text);
        assert!(message.contains(expected), "{key}: {message}");
    }
}

#[test]
fn unreadable_file_and_unknown_extension_are_reported() {
    let dir = tempfile::tempdir().unwrap();
    let missing = dir.path().join("none.json");
    assert!(matches!(
        Config::load(&missing),
        Err(ConfigError::Read { .. })
    ));
    let yaml = dir.path().join("config.yaml");
    std::fs::write(&yaml, "a: b").unwrap();
    assert!(matches!(
        Config::load(&yaml),
        Err(ConfigError::Format { .. })
    ));
}

#[test]
fn direct_runs_have_their_own_capacity_defaulting_to_job_capacity() {
    let config = Config::from_text("toml", EXAMPLE_TOML).unwrap();
    assert_eq!(config.direct_run.capacity, 20);
    assert_eq!(
        config.direct_run.queue_timeout,
        Duration::from_millis(30_000)
    );
    let text = marlin_json_with(|map| {
        map.insert("job_capacity".into(), 3.into());
    });
    assert_eq!(
        Config::from_text("json", &text)
            .unwrap()
            .direct_run
            .capacity,
        3
    );
    let text = marlin_json_with(|map| {
        map.insert("direct_run_capacity".into(), 0.into());
    });
    assert!(error_text("json", &text).contains("direct_run_capacity"));
}

#[test]
fn every_jail_layer_is_on_by_default_and_can_be_turned_off() {
    let config = Config::from_text("json", MARLIN_JSON).unwrap();
    let jail = &config.execution.jail;
    assert!(jail.identity && jail.filesystem && jail.namespaces && jail.landlock);
    assert_eq!(jail.seccomp, Some(crate::sandbox::seccomp::Mode::Deny));
    assert_eq!(jail.uid_base, 2_000_000);
    let text = marlin_json_with(|map| {
        map.insert("jail_seccomp".into(), "off".into());
        map.insert("jail_filesystem".into(), false.into());
    });
    let jail = Config::from_text("json", &text).unwrap().execution.jail;
    assert_eq!(jail.seccomp, None);
    assert!(!jail.filesystem && jail.identity);
}

#[test]
fn bad_jail_values_name_their_key() {
    let text = marlin_json_with(|map| {
        map.insert("jail_seccomp".into(), "audit".into());
    });
    assert!(error_text("json", &text).contains("jail_seccomp"));
    let text = marlin_json_with(|map| {
        map.insert("job_uid_base".into(), 0.into());
    });
    assert!(error_text("json", &text).contains("job_uid_base"));
}

#[test]
fn observability_keys_default_to_text_logs_and_metrics_on_the_admin_port() {
    let config = Config::from_text("json", MARLIN_JSON).unwrap();
    assert_eq!(config.observability, ObservabilityConfig::default());
    let text = marlin_json_with(|map| {
        map.insert("log_format".into(), "json".into());
        map.insert("metrics_bind_address".into(), "127.0.0.1:9464".into());
    });
    let config = Config::from_text("json", &text).unwrap();
    assert_eq!(config.observability.log_format, LogFormat::Json);
    assert_eq!(
        config.observability.metrics_bind_address,
        Some("127.0.0.1:9464".parse().unwrap())
    );
}

#[test]
fn balancer_keys_default_to_no_agent_and_a_short_grace_and_are_checked() {
    let config = Config::from_text("json", MARLIN_JSON).unwrap();
    assert_eq!(config.balancer.agent_port, None);
    assert_eq!(config.balancer.drain_grace, Duration::from_millis(3000));
    let text = marlin_json_with(|map| {
        map.insert("lb_agent_port".into(), 7001.into());
    });
    let config = Config::from_text("json", &text).unwrap();
    assert_eq!(config.balancer.agent_port, Some(7001));
    let text = marlin_json_with(|map| {
        map.insert("drain_grace_ms".into(), 5000.into());
        map.insert("shutdown_timeout_ms".into(), 4000.into());
    });
    assert!(error_text("json", &text).contains("shutdown_timeout_ms"));
    let text = marlin_json_with(|map| {
        map.insert("lb_agent_port".into(), 0.into());
    });
    assert!(error_text("json", &text).contains("lb_agent_port"));
}

#[test]
fn warm_processes_default_to_one_per_slot_in_isolate_and_at_most_eight_otherwise() {
    let warm = |mode: &str, capacity: u64, set: Option<u64>| {
        let text = marlin_json_with(|config| {
            config.insert("execution_mode".into(), mode.into());
            config.insert("job_capacity".into(), capacity.into());
            if let Some(set) = set {
                config.insert("warm_processes".into(), set.into());
            }
        });
        Config::from_text("json", &text)
            .unwrap()
            .execution
            .warm_processes
    };
    assert_eq!(warm("isolate", 20, None), 20);
    assert_eq!(warm("prewarmed", 20, None), 8);
    assert_eq!(warm("prewarmed", 4, None), 4);
    assert_eq!(
        warm("isolate", 20, Some(3)),
        3,
        "an operator's count is kept"
    );
}
