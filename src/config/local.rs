//! The execution settings of `serverless-executor run`, which has no chain and no key: the
//! node's defaults for every limit, or the limits of a config file (the node's own file, or one
//! with execution keys only). Validation is the node's own (`execution_config`): the same key
//! names, ranges and messages.
//!
//! Receives a config path or nothing; returns [`LocalExecution`]. Sends nothing.

use std::path::Path;
use std::time::Duration;

use super::parse::describe;
use super::raw::RawConfig;
use super::{direct_run_config, execution_config, ConfigError, ExecutionConfig};

/// Marlin's required keys, which a local run never uses: filled in when a file leaves them out
/// so that a file with execution keys only is accepted.
const UNUSED_CHAIN_KEYS: [&str; 10] = [
    "workerd_runtime_path",
    "common_chain_id",
    "http_rpc_url",
    "web_socket_url",
    "executors_contract_addr",
    "jobs_contract_addr",
    "code_contract_addr",
    "enclave_signer_file",
    "execution_buffer_time",
    "num_selected_executors",
];

/// What a local run needs.
#[derive(Debug, Clone)]
pub struct LocalExecution {
    /// Limits, mode and paths, as the node would have them.
    pub execution: ExecutionConfig,
    /// The node's direct-run deadline: the default budget of a local run.
    pub deadline: Duration,
}

impl LocalExecution {
    /// The node's defaults (`path` `None`) or a config file's execution keys.
    pub fn load(path: Option<&Path>) -> Result<Self, ConfigError> {
        let mut value = match path {
            None => serde_json::Value::Object(serde_json::Map::new()),
            Some(path) => read_value(path)?,
        };
        if let serde_json::Value::Object(map) = &mut value {
            for key in UNUSED_CHAIN_KEYS {
                map.entry(key).or_insert_with(|| placeholder(key));
            }
        }
        let shown = path.map_or_else(|| Path::new("<defaults>").to_owned(), Path::to_owned);
        let raw: RawConfig =
            serde_path_to_error::deserialize(value).map_err(|error| ConfigError::Parse {
                path: shown,
                message: describe(error.path(), error.inner()),
            })?;
        let runtime = Path::new(&raw.workerd_runtime_path).to_owned();
        Ok(Self {
            execution: execution_config(&raw, &runtime)?,
            deadline: direct_run_config(&raw)?.deadline,
        })
    }
}

fn placeholder(key: &str) -> serde_json::Value {
    match key {
        "common_chain_id" | "execution_buffer_time" => serde_json::json!(0),
        "num_selected_executors" => serde_json::json!(1),
        "workerd_runtime_path" => serde_json::json!("/usr/local/bin"),
        _ => serde_json::json!(""),
    }
}

/// The file as a JSON value, whatever its format.
fn read_value(path: &Path) -> Result<serde_json::Value, ConfigError> {
    let text = std::fs::read_to_string(path).map_err(|source| ConfigError::Read {
        path: path.to_owned(),
        source,
    })?;
    let parse_error = |message: String| ConfigError::Parse {
        path: path.to_owned(),
        message,
    };
    match path.extension().and_then(|ext| ext.to_str()) {
        Some("json") => serde_json::from_str(&text).map_err(|error| parse_error(error.to_string())),
        Some("toml") => toml::from_str(&text).map_err(|error| parse_error(error.to_string())),
        _ => Err(ConfigError::Format {
            path: path.to_owned(),
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn defaults_need_no_file_and_a_bad_value_names_its_key() {
        let local = LocalExecution::load(None).expect("defaults");
        assert_eq!(local.execution.memory_limit_bytes, 256 * 1024 * 1024);
        let dir = tempfile::tempdir().expect("tempdir");
        let file = dir.path().join("run.toml");
        std::fs::write(&file, "job_memory_limit_mib = 1\n").expect("write");
        let error = LocalExecution::load(Some(&file)).expect_err("out of range");
        assert!(
            error.to_string().contains("job_memory_limit_mib"),
            "{error}"
        );
        std::fs::write(&file, "max_output_bytes = 77\n").expect("write");
        let local = LocalExecution::load(Some(&file)).expect("execution keys only");
        assert_eq!(local.execution.max_output_bytes, 77);
    }
}
