//! The validators every config section shares: each turns one raw value into a typed one, or
//! into a [`ConfigError`] that names its key.

use std::path::PathBuf;
use std::time::Duration;

use url::Url;

use super::ConfigError;
use crate::domain::Address;

pub(super) fn invalid(key: &'static str, reason: impl Into<String>) -> ConfigError {
    ConfigError::Invalid {
        key,
        reason: reason.into(),
    }
}

pub(super) fn url_with_scheme(
    key: &'static str,
    text: &str,
    schemes: &[&str],
) -> Result<Url, ConfigError> {
    let url = Url::parse(text).map_err(|error| invalid(key, format!("not a URL ({error})")))?;
    if !schemes.contains(&url.scheme()) {
        return Err(invalid(
            key,
            format!("scheme must be one of {}", schemes.join(", ")),
        ));
    }
    Ok(url)
}

pub(super) fn address(key: &'static str, text: &str) -> Result<Address, ConfigError> {
    let address = Address::parse_hex(text).map_err(|error| invalid(key, error.to_string()))?;
    if address.is_zero() {
        return Err(invalid(key, "must not be the zero address"));
    }
    Ok(address)
}

pub(super) fn non_empty_path(key: &'static str, text: &str) -> Result<PathBuf, ConfigError> {
    if text.trim().is_empty() {
        return Err(invalid(key, "must not be empty"));
    }
    Ok(PathBuf::from(text))
}

/// A single path component of letters, digits, `-` and `_`.
pub(super) fn cgroup_name(key: &'static str, text: &str) -> Result<String, ConfigError> {
    let valid = !text.is_empty()
        && text
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_');
    if !valid {
        return Err(invalid(key, "must be letters, digits, '-' or '_'"));
    }
    Ok(text.to_owned())
}

pub(super) fn positive_millis(key: &'static str, value: u64) -> Result<Duration, ConfigError> {
    in_range(key, value, 1, u64::MAX).map(Duration::from_millis)
}

pub(super) fn positive_secs(key: &'static str, value: u64) -> Result<Duration, ConfigError> {
    in_range(key, value, 1, u64::MAX).map(Duration::from_secs)
}

pub(super) fn in_range<T: PartialOrd + std::fmt::Display + Copy>(
    key: &'static str,
    value: T,
    min: T,
    max: T,
) -> Result<T, ConfigError> {
    if value < min || value > max {
        return Err(invalid(key, format!("{value} is outside {min}..={max}")));
    }
    Ok(value)
}
