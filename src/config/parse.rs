//! Reads the config file's text as JSON or TOML (by its extension) into [`RawConfig`], with
//! errors that name the key first. Pure; receives and sends nothing.

use std::path::Path;

use super::raw::RawConfig;
use super::ConfigError;

/// Parses `text`, read from `path`, in the format its extension names.
pub(super) fn parse(path: &Path, text: &str) -> Result<RawConfig, ConfigError> {
    let parse_error = |message: String| ConfigError::Parse {
        path: path.to_owned(),
        message,
    };
    match path.extension().and_then(|ext| ext.to_str()) {
        Some("json") => {
            let mut deserializer = serde_json::Deserializer::from_str(text);
            serde_path_to_error::deserialize(&mut deserializer)
                .map_err(|error| parse_error(describe(error.path(), error.inner())))
        }
        Some("toml") => {
            let deserializer = toml::Deserializer::new(text);
            serde_path_to_error::deserialize(deserializer)
                .map_err(|error| parse_error(describe(error.path(), &error.inner().message())))
        }
        _ => Err(ConfigError::Format {
            path: path.to_owned(),
        }),
    }
}

/// Puts the key first: serde names missing/unknown keys in its message, and the path names
/// the key of a mistyped value.
pub(super) fn describe(
    path: &serde_path_to_error::Path,
    message: &dyn std::fmt::Display,
) -> String {
    let path = path.to_string();
    if path == "." || path.is_empty() {
        message.to_string()
    } else {
        format!("key `{path}`: {message}")
    }
}
