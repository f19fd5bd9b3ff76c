//! The one place that classifies errors from sending or estimating a transaction.
//!
//! Receives an `ethers` [`ProviderError`] from `eth_estimateGas`, `eth_call` or
//! `eth_sendRawTransaction` and returns a [`TxErrorKind`]; sends nothing. It reads only typed
//! data: the JSON-RPC error object's `code`, `message` and `data` fields, and the transport
//! error types. It never matches a `Debug` dump (STYLE.md §3.5), which is how Marlin ended up
//! treating "replacement transaction underpriced" as a plain low fee (protocol.md §6.2).

use std::error::Error as StdError;

use ethers::providers::{JsonRpcError, ProviderError, RetryClientError, RpcError};
use serde_json::Value;

use crate::domain::decode_hex;

/// JSON-RPC code for "execution reverted" (geth, anvil and reth put the revert data in `data`).
pub const EXECUTION_REVERTED_CODE: i64 = 3;
/// EIP-1474 "limit exceeded": the provider is rate limiting us, a transport condition.
pub const LIMIT_EXCEEDED_CODE: i64 = -32005;

/// What went wrong with a transaction, as far as the sender's policy needs to know.
///
/// Names follow the condition, not one node's wording: `FeeTooLow` covers both the pool's
/// minimum price and the block base fee, `OutOfGas` covers every "the gas limit is too low to
/// run this" message, and `AlreadyKnown` covers geth's "already known" and anvil's "transaction
/// already imported".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum TxErrorKind {
    /// The nonce was already used: maybe by one of our own attempts that got mined.
    NonceTooLow,
    /// The nonce leaves a gap; our local counter is ahead of the chain.
    NonceTooHigh,
    /// A tx with this nonce is pending and ours does not outbid it by the node's bump rule.
    /// Kept apart from [`TxErrorKind::FeeTooLow`]: the pending tx may be our own earlier attempt.
    ReplacementUnderpriced,
    /// The fee is below the pool minimum or the max fee is below the block base fee.
    FeeTooLow,
    /// The gas key cannot pay `gas * price + value`.
    InsufficientFunds,
    /// The gas limit exceeds the block gas limit.
    GasLimitTooHigh,
    /// The gas limit is below the intrinsic gas or what execution needs.
    OutOfGas,
    /// Execution reverted; `data` is the revert data (a custom error or `Error(string)`), if
    /// the node returned any non-empty data.
    Reverted {
        /// ABI-encoded revert data.
        data: Option<Vec<u8>>,
    },
    /// The node already has exactly this transaction: treat as sent and watch its hash.
    AlreadyKnown,
    /// The request or response was lost or garbled, or the provider rate-limits us. The tx may
    /// still have reached the node.
    Transport,
    /// The request timed out; the tx may still have reached the node.
    Timeout,
    /// Anything else.
    Unknown,
}

/// Message fragments as geth, reth and anvil word them, matched case-insensitively against the
/// JSON-RPC error's `message` field. First match wins, so the replacement row must stay above
/// "transaction underpriced", which it contains.
const MESSAGE_KINDS: &[(&str, TxErrorKind)] = &[
    (
        "replacement transaction underpriced",
        TxErrorKind::ReplacementUnderpriced,
    ),
    ("nonce too low", TxErrorKind::NonceTooLow),
    ("nonce too high", TxErrorKind::NonceTooHigh),
    ("already known", TxErrorKind::AlreadyKnown),
    ("transaction already imported", TxErrorKind::AlreadyKnown),
    ("insufficient funds", TxErrorKind::InsufficientFunds),
    (
        "max fee per gas less than block base fee",
        TxErrorKind::FeeTooLow,
    ),
    ("transaction underpriced", TxErrorKind::FeeTooLow),
    ("exceeds block gas limit", TxErrorKind::GasLimitTooHigh),
    ("intrinsic gas too high", TxErrorKind::GasLimitTooHigh),
    ("intrinsic gas too low", TxErrorKind::OutOfGas),
    ("gas required exceeds allowance", TxErrorKind::OutOfGas),
    ("out of gas", TxErrorKind::OutOfGas),
];

/// Classifies an error from a provider call made while estimating or sending a transaction.
pub fn classify_rpc_error(error: &ProviderError) -> TxErrorKind {
    match error {
        ProviderError::JsonRpcClientError(inner) => classify_client_error(inner.as_ref()),
        ProviderError::HTTPError(http) if http.is_timeout() => TxErrorKind::Timeout,
        ProviderError::HTTPError(_) | ProviderError::SerdeJson(_) | ProviderError::HexError(_) => {
            TxErrorKind::Transport
        }
        _ => TxErrorKind::Unknown,
    }
}

/// A client error is either the node's JSON-RPC error object or a transport failure.
fn classify_client_error(error: &(dyn RpcError + Send + Sync + 'static)) -> TxErrorKind {
    if let Some(response) = error.as_error_response() {
        return classify_json_rpc_error(response);
    }
    if error.as_serde_error().is_some() {
        return TxErrorKind::Transport;
    }
    let error: &(dyn StdError + 'static) = error;
    if is_timeout(error) {
        TxErrorKind::Timeout
    } else {
        TxErrorKind::Transport
    }
}

/// Classifies the node's JSON-RPC error object by its code, then its message.
pub fn classify_json_rpc_error(error: &JsonRpcError) -> TxErrorKind {
    let message = error.message.to_ascii_lowercase();
    if error.code == EXECUTION_REVERTED_CODE || message.contains("revert") {
        return TxErrorKind::Reverted {
            data: revert_data(error.data.as_ref()),
        };
    }
    if let Some((_, kind)) = MESSAGE_KINDS
        .iter()
        .find(|(fragment, _)| message.contains(fragment))
    {
        return kind.clone();
    }
    if error.code == LIMIT_EXCEEDED_CODE {
        TxErrorKind::Transport
    } else {
        TxErrorKind::Unknown
    }
}

/// Revert data as geth, reth and anvil send it (a hex string), or nested one level as
/// `{ "data": "0x…" }` as Hardhat does. Empty data (`0x`) means no reason was given.
fn revert_data(data: Option<&Value>) -> Option<Vec<u8>> {
    let hex = match data? {
        Value::String(hex) => hex,
        Value::Object(object) => object.get("data")?.as_str()?,
        _ => return None,
    };
    decode_hex(hex).ok().filter(|bytes| !bytes.is_empty())
}

/// True if the error or any of its sources is a timeout: reqwest's own, or the retry client
/// giving up.
fn is_timeout(error: &(dyn StdError + 'static)) -> bool {
    let mut next = Some(error);
    while let Some(error) = next {
        let reqwest_timeout = error
            .downcast_ref::<reqwest::Error>()
            .is_some_and(reqwest::Error::is_timeout);
        let retry_timeout = matches!(
            error.downcast_ref::<RetryClientError>(),
            Some(RetryClientError::TimeoutError)
        );
        if reqwest_timeout || retry_timeout {
            return true;
        }
        next = error.source();
    }
    false
}

/// Whether sending again can succeed. The sender's policy, in one table (reliability.md §3.5):
///
/// | kind | retry | what the sender does first |
/// |---|---|---|
/// | `NonceTooLow` | yes | check our hashes' receipts; if none, resync the nonce, re-sign |
/// | `NonceTooHigh` | yes | resync the nonce from `getTransactionCount(pending)` |
/// | `ReplacementUnderpriced` | yes | bump both fees by at least 12.5 % |
/// | `FeeTooLow` | yes | raise the max fee above the current base fee |
/// | `InsufficientFunds` | no | raise a health alarm; keep jobs queued until their deadline |
/// | `GasLimitTooHigh` | no | fail this tx only |
/// | `OutOfGas` | no | fail this tx only (Marlin's +200000 gas loop only burns funds) |
/// | `Reverted` | no | classify by revert data; never retry blindly |
/// | `AlreadyKnown` | no | success: watch the hash |
/// | `Transport` | yes | back off; re-query by hash, the tx may have gone through |
/// | `Timeout` | yes | as `Transport` |
/// | `Unknown` | yes | back off and resync the nonce, bounded by the tx's deadline |
pub const fn is_retryable(kind: &TxErrorKind) -> bool {
    match kind {
        TxErrorKind::NonceTooLow
        | TxErrorKind::NonceTooHigh
        | TxErrorKind::ReplacementUnderpriced
        | TxErrorKind::FeeTooLow
        | TxErrorKind::Transport
        | TxErrorKind::Timeout
        | TxErrorKind::Unknown => true,
        TxErrorKind::InsufficientFunds
        | TxErrorKind::GasLimitTooHigh
        | TxErrorKind::OutOfGas
        | TxErrorKind::Reverted { .. }
        | TxErrorKind::AlreadyKnown => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ethers::providers::{HttpClientError, WsClientError};
    use serde_json::json;

    /// Wraps a JSON-RPC error object exactly as ethers' `Http` transport does.
    fn http_rpc_error(code: i64, message: &str, data: Option<Value>) -> ProviderError {
        let error = JsonRpcError {
            code,
            message: message.to_owned(),
            data,
        };
        ProviderError::from(HttpClientError::JsonRpcError(error))
    }

    /// One row per line: `code, message, data => expected kind`.
    macro_rules! assert_classifies {
        ($($code:literal, $message:literal, $data:expr => $kind:expr;)*) => {
            $(
                let error = http_rpc_error($code, $message, $data);
                assert_eq!(classify_rpc_error(&error), $kind, "{} {}", $code, $message);
            )*
        };
    }

    #[test]
    fn json_rpc_errors_classify_by_code_and_message() {
        use TxErrorKind::*;
        let selector = || Reverted {
            data: Some(vec![0x3d, 0xd8, 0xca, 0x95]),
        };
        let no_data = || Reverted { data: None };
        // Rows marked "anvil" are anvil 1.7.1's actual answers; the others are geth's and reth's.
        assert_classifies! {
            -32003, "nonce too low", None => NonceTooLow; // anvil
            -32000, "nonce too low: address 0xab, tx: 0 state: 3", None => NonceTooLow;
            -32003, "Nonce too high", None => NonceTooHigh;
            -32003, "replacement transaction underpriced", None => ReplacementUnderpriced; // anvil
            -32000, "transaction underpriced", None => FeeTooLow;
            -32003, "max fee per gas less than block base fee", None => FeeTooLow; // anvil
            -32003, "Insufficient funds for gas * price + value", None
                => InsufficientFunds; // anvil
            -32000, "insufficient funds for gas * price + value: balance 0", None
                => InsufficientFunds;
            -32000, "exceeds block gas limit", None => GasLimitTooHigh;
            -32000, "intrinsic gas too high -- tx.gas_limit > env.block.gas_limit", None
                => GasLimitTooHigh; // anvil
            -32000, "intrinsic gas too low", None => OutOfGas; // anvil
            -32003, "Out of gas: gas required exceeds allowance: 65536", None => OutOfGas; // anvil
            3, "execution reverted: custom error 0x3dd8ca95", Some(json!("0x3dd8ca95"))
                => selector(); // anvil
            3, "execution reverted", Some(json!("0x")) => no_data(); // anvil
            -32000, "execution reverted", None => no_data();
            3, "execution reverted", Some(json!("not hex")) => no_data();
            -32603, "VM Exception while processing transaction: revert",
                Some(json!({ "data": "0x3dd8ca95" })) => selector();
            -32000, "already known", None => AlreadyKnown;
            -32003, "transaction already imported", None => AlreadyKnown; // anvil
            -32005, "limit exceeded", None => Transport;
            -32000, "something new", None => Unknown;
            -32601, "the method eth_foo does not exist", None => Unknown;
        }
    }

    #[test]
    fn replacement_underpriced_is_not_a_plain_low_fee() {
        let error = http_rpc_error(-32000, "replacement transaction underpriced", None);
        assert_ne!(classify_rpc_error(&error), TxErrorKind::FeeTooLow);
        let first_match = MESSAGE_KINDS
            .iter()
            .position(|(fragment, _)| fragment.contains("underpriced"));
        assert_eq!(first_match, Some(0));
    }

    #[test]
    fn transport_errors_are_transport_or_timeout() {
        let garbled = serde_json::from_str::<Value>("{").expect_err("invalid json");
        let cases: Vec<(ProviderError, TxErrorKind)> = vec![
            (
                ProviderError::from(HttpClientError::SerdeJson {
                    err: garbled,
                    text: "<html>502</html>".to_owned(),
                }),
                TxErrorKind::Transport,
            ),
            (
                ProviderError::JsonRpcClientError(Box::new(WsClientError::UnexpectedClose)),
                TxErrorKind::Transport,
            ),
            (
                ProviderError::JsonRpcClientError(Box::new(RetryClientError::TimeoutError)),
                TxErrorKind::Timeout,
            ),
            (
                ProviderError::CustomError("signer exploded".to_owned()),
                TxErrorKind::Unknown,
            ),
        ];
        for (error, expected) in cases {
            assert_eq!(classify_rpc_error(&error), expected, "{error}");
        }
    }

    #[test]
    fn retry_policy_matches_the_table() {
        assert!(is_retryable(&TxErrorKind::ReplacementUnderpriced));
        assert!(is_retryable(&TxErrorKind::Timeout));
        assert!(!is_retryable(&TxErrorKind::AlreadyKnown));
        assert!(!is_retryable(&TxErrorKind::InsufficientFunds));
        assert!(!is_retryable(&TxErrorKind::Reverted { data: None }));
    }
}
