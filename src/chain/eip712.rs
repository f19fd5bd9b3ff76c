//! EIP-712 digests: Marlin's `Register` and `SubmitOutput` (bit for bit, protocol.md §2.1 and §3.4)
//! and our own `AdminRequest` for owner-signed admin calls.
//!
//! Pure functions, no state. Marlin's two domains carry no chainId (a protocol weakness we keep
//! for drop-in compatibility); our admin domain does carry one.

use ethers::utils::keccak256;

use crate::domain::{Address, ExecutionEnv};

const DOMAIN_TYPE: &str = "EIP712Domain(string name,string version)";
const DOMAIN_WITH_CHAIN_TYPE: &str = "EIP712Domain(string name,string version,uint256 chainId)";
const REGISTER_TYPE: &str =
    "Register(address owner,uint256 jobCapacity,uint8 env,uint256 signTimestamp)";
const SUBMIT_OUTPUT_TYPE: &str =
    "SubmitOutput(uint256 jobId,bytes output,uint256 totalTime,uint8 errorCode,uint256 signTimestamp)";
const ADMIN_REQUEST_TYPE: &str =
    "AdminRequest(string route,bytes32 bodyHash,address enclave,uint64 nonce,uint64 expiry)";

const DIRECT_RUN_RECEIPT_TYPE: &str = "DirectRunReceipt(bytes32 codeTx,bytes32 inputHash,bytes32 outputHash,uint256 totalTime,uint8 errorCode,uint256 signTimestamp)";

/// Name of the domain of direct-run receipts: never `marlin.oyster.Jobs`, so a receipt can
/// never be replayed as a `submitOutput`.
pub const DIRECT_RUN_DOMAIN_NAME: &str = "serverless-executor.DirectRun";

/// Name of the domain under which owners sign admin calls; never accepted by any contract.
pub const ADMIN_DOMAIN_NAME: &str = "serverless-executor.Admin";

/// The fields of Marlin's `Register` message, which `Executors.registerExecutor` verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RegisterMessage {
    /// Must be the `msg.sender` of `registerExecutor`.
    pub owner: Address,
    /// Jobs this node runs at once; announced on chain.
    pub job_capacity: u64,
    /// The execution environment.
    pub env: ExecutionEnv,
    /// Unix seconds; the contract rejects signatures older than its max age.
    pub sign_timestamp: u64,
}

/// The fields of Marlin's `SubmitOutput` message, which `Jobs.submitOutput` verifies.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubmitOutputMessage<'a> {
    /// Big-endian uint256 job id.
    pub job_id: [u8; 32],
    /// The output bytes, hashed into the digest.
    pub output: &'a [u8],
    /// Milliseconds.
    pub total_time_ms: u64,
    /// The outcome code (0..=7).
    pub error_code: u8,
    /// Unix seconds.
    pub sign_timestamp: u64,
}

/// An owner's authorisation of one admin call, bound to this enclave, a nonce and an expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AdminRequestMessage<'a> {
    /// The chain id of the domain (the node's `common_chain_id`).
    pub chain_id: u64,
    /// The request path, e.g. `/mutable-config`.
    pub route: &'a str,
    /// keccak-256 of the raw request body.
    pub body_hash: [u8; 32],
    /// The enclave address of the node the call is meant for.
    pub enclave: Address,
    /// Strictly increasing per node; a used nonce is refused.
    pub nonce: u64,
    /// Unix seconds after which the authorisation is void.
    pub expiry: u64,
}

/// What the node signs for a job run through `POST /api/serverless`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct DirectRunReceipt<'a> {
    /// The chain id of the domain (the node's `common_chain_id`).
    pub chain_id: u64,
    /// The code-upload transaction.
    pub code_tx: [u8; 32],
    /// The input, hashed.
    pub input: &'a [u8],
    /// The output, hashed.
    pub output: &'a [u8],
    /// Milliseconds.
    pub total_time_ms: u64,
    /// The outcome code.
    pub error_code: u8,
    /// Unix seconds.
    pub sign_timestamp: u64,
}

/// The digest of a direct-run receipt, under its own domain and type.
pub fn direct_run_receipt_digest(receipt: &DirectRunReceipt<'_>) -> [u8; 32] {
    let struct_hash = keccak256(concat_words(&[
        keccak256(DIRECT_RUN_RECEIPT_TYPE),
        receipt.code_tx,
        keccak256(receipt.input),
        keccak256(receipt.output),
        u64_word(receipt.total_time_ms),
        u64_word(u64::from(receipt.error_code)),
        u64_word(receipt.sign_timestamp),
    ]));
    typed_data_digest(
        chain_domain_separator(DIRECT_RUN_DOMAIN_NAME, receipt.chain_id),
        struct_hash,
    )
}

/// The digest `Executors` recovers the enclave address from.
pub fn register_digest(message: &RegisterMessage) -> [u8; 32] {
    let struct_hash = keccak256(concat_words(&[
        keccak256(REGISTER_TYPE),
        address_word(message.owner),
        u64_word(message.job_capacity),
        u64_word(u64::from(message.env.0)),
        u64_word(message.sign_timestamp),
    ]));
    typed_data_digest(
        marlin_domain_separator("marlin.oyster.Executors"),
        struct_hash,
    )
}

/// The digest `Jobs.submitOutput` recovers the enclave address from.
pub fn submit_output_digest(message: &SubmitOutputMessage<'_>) -> [u8; 32] {
    let struct_hash = keccak256(concat_words(&[
        keccak256(SUBMIT_OUTPUT_TYPE),
        message.job_id,
        keccak256(message.output),
        u64_word(message.total_time_ms),
        u64_word(u64::from(message.error_code)),
        u64_word(message.sign_timestamp),
    ]));
    typed_data_digest(marlin_domain_separator("marlin.oyster.Jobs"), struct_hash)
}

/// The digest an owner signs to authorise one admin call.
pub fn admin_request_digest(message: &AdminRequestMessage<'_>) -> [u8; 32] {
    let domain = chain_domain_separator(ADMIN_DOMAIN_NAME, message.chain_id);
    let struct_hash = keccak256(concat_words(&[
        keccak256(ADMIN_REQUEST_TYPE),
        keccak256(message.route),
        message.body_hash,
        address_word(message.enclave),
        u64_word(message.nonce),
        u64_word(message.expiry),
    ]));
    typed_data_digest(domain, struct_hash)
}

/// keccak-256, re-exported so callers outside `chain/` need no ethers import.
pub fn keccak(bytes: impl AsRef<[u8]>) -> [u8; 32] {
    keccak256(bytes)
}

fn chain_domain_separator(name: &str, chain_id: u64) -> [u8; 32] {
    keccak256(concat_words(&[
        keccak256(DOMAIN_WITH_CHAIN_TYPE),
        keccak256(name),
        keccak256("1"),
        u64_word(chain_id),
    ]))
}

fn marlin_domain_separator(name: &str) -> [u8; 32] {
    keccak256(concat_words(&[
        keccak256(DOMAIN_TYPE),
        keccak256(name),
        keccak256("1"),
    ]))
}

fn typed_data_digest(domain_separator: [u8; 32], struct_hash: [u8; 32]) -> [u8; 32] {
    let mut preimage = Vec::with_capacity(66);
    preimage.extend_from_slice(&[0x19, 0x01]);
    preimage.extend_from_slice(&domain_separator);
    preimage.extend_from_slice(&struct_hash);
    keccak256(preimage)
}

fn concat_words(words: &[[u8; 32]]) -> Vec<u8> {
    words.concat()
}

fn address_word(address: Address) -> [u8; 32] {
    let mut word = [0u8; 32];
    word[12..].copy_from_slice(&address.0);
    word
}

fn u64_word(value: u64) -> [u8; 32] {
    let mut word = [0u8; 32];
    word[24..].copy_from_slice(&value.to_be_bytes());
    word
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hex32(text: &str) -> [u8; 32] {
        hex::decode(text.trim_start_matches("0x"))
            .unwrap()
            .try_into()
            .unwrap()
    }

    /// Constants from protocol.md's appendix, computed there with an independent keccak.
    #[test]
    fn domain_separators_and_typehashes_match_the_protocol_appendix() {
        assert_eq!(
            marlin_domain_separator("marlin.oyster.Jobs"),
            hex32("0x92348788277b460cc420185f9a17ff6b57b89f1c70d19a46fce67bb5b5319731")
        );
        assert_eq!(
            marlin_domain_separator("marlin.oyster.Executors"),
            hex32("0x871063a5a882629313a49affd6d5731126799cfa9053a1481fe360bb79fd49a3")
        );
        assert_eq!(
            keccak256(SUBMIT_OUTPUT_TYPE),
            hex32("0x42945626249c0945b404564212f1ba09d966575b80478b5e114d067e3ca59bf6")
        );
        assert_eq!(
            keccak256(REGISTER_TYPE),
            hex32("0xcb0a8deacc8469b7863064f592608a4aaa1d53f404c1fb80308ea559b5911317")
        );
    }

    #[test]
    fn direct_run_receipt_never_equals_the_submit_output_digest() {
        let receipt = DirectRunReceipt {
            chain_id: 31337,
            code_tx: [1; 32],
            input: b"in",
            output: b"out",
            total_time_ms: 5,
            error_code: 0,
            sign_timestamp: 9,
        };
        let output = submit_output_digest(&SubmitOutputMessage {
            job_id: [1; 32],
            output: b"out",
            total_time_ms: 5,
            error_code: 0,
            sign_timestamp: 9,
        });
        assert_ne!(direct_run_receipt_digest(&receipt), output);
    }

    #[test]
    fn admin_digest_changes_with_every_field() {
        let base = AdminRequestMessage {
            chain_id: 31337,
            route: "/mutable-config",
            body_hash: [1; 32],
            enclave: Address([2; 20]),
            nonce: 3,
            expiry: 4,
        };
        let digest = admin_request_digest(&base);
        let variants = [
            AdminRequestMessage {
                chain_id: 1,
                ..base
            },
            AdminRequestMessage {
                route: "/immutable-config",
                ..base
            },
            AdminRequestMessage {
                body_hash: [9; 32],
                ..base
            },
            AdminRequestMessage {
                enclave: Address([9; 20]),
                ..base
            },
            AdminRequestMessage { nonce: 4, ..base },
            AdminRequestMessage { expiry: 5, ..base },
        ];
        for variant in variants {
            assert_ne!(admin_request_digest(&variant), digest, "{variant:?}");
        }
    }
}
