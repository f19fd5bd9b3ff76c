//! Owner-signed admin calls and EIP-712 digests computed independently of the node (ethers'
//! generic `TypedData` encoder).

use ethers::signers::{LocalWallet, Signer as _};
use ethers::types::transaction::eip712::TypedData;
use serde_json::json;

use super::CHAIN_ID;

pub fn wallet(key_hex: &str) -> LocalWallet {
    key_hex
        .parse::<LocalWallet>()
        .expect("valid key")
        .with_chain_id(CHAIN_ID)
}

pub fn address_of_key(key_hex: &str) -> String {
    format!("{:?}", wallet(key_hex).address())
}

/// The owner's `AdminRequest` signature headers, computed with ethers' generic EIP-712 encoder
/// (independent of the node's hand-written digest).
pub async fn owner_headers(
    key_hex: &str,
    route: &str,
    body: &str,
    enclave: &str,
    nonce: u64,
    expiry: u64,
) -> Vec<(String, String)> {
    let typed = chain_typed_data(
        "serverless-executor.Admin",
        "AdminRequest",
        json!([
            {"name": "route", "type": "string"},
            {"name": "bodyHash", "type": "bytes32"},
            {"name": "enclave", "type": "address"},
            {"name": "nonce", "type": "uint64"},
            {"name": "expiry", "type": "uint64"}
        ]),
        json!({
            "route": route,
            "bodyHash": format!("0x{}", hex::encode(ethers::utils::keccak256(body.as_bytes()))),
            "enclave": enclave,
            "nonce": nonce,
            "expiry": expiry
        }),
    );
    let signature = wallet(key_hex)
        .sign_typed_data(&typed)
        .await
        .expect("signs");
    vec![
        ("x-owner-signature".into(), format!("0x{signature}")),
        ("x-owner-nonce".into(), nonce.to_string()),
        ("x-owner-expiry".into(), expiry.to_string()),
    ]
}

/// EIP-712 typed data under one of our own domains, `(name, "1", CHAIN_ID)`, for ethers'
/// generic encoder: the tests' independent computation of the node's digests.
pub fn chain_typed_data(
    domain: &str,
    primary_type: &str,
    fields: serde_json::Value,
    message: serde_json::Value,
) -> TypedData {
    serde_json::from_value(json!({
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"},
                {"name": "chainId", "type": "uint256"}
            ],
            primary_type: fields
        },
        "primaryType": primary_type,
        "domain": {"name": domain, "version": "1", "chainId": CHAIN_ID},
        "message": message
    }))
    .expect("typed data")
}

/// The `Register` digest computed with ethers' generic EIP-712 encoder.
pub fn register_digest(owner: &str, job_capacity: u64, env: u8, sign_timestamp: u64) -> [u8; 32] {
    let typed: TypedData = serde_json::from_value(json!({
        "types": {
            "EIP712Domain": [
                {"name": "name", "type": "string"},
                {"name": "version", "type": "string"}
            ],
            "Register": [
                {"name": "owner", "type": "address"},
                {"name": "jobCapacity", "type": "uint256"},
                {"name": "env", "type": "uint8"},
                {"name": "signTimestamp", "type": "uint256"}
            ]
        },
        "primaryType": "Register",
        "domain": {"name": "marlin.oyster.Executors", "version": "1"},
        "message": {
            "owner": owner,
            "jobCapacity": job_capacity,
            "env": env,
            "signTimestamp": sign_timestamp
        }
    }))
    .expect("typed data");
    use ethers::types::transaction::eip712::Eip712;
    typed.encode_eip712().expect("encodes")
}

/// The direct-run receipt digest, computed with ethers' generic EIP-712 encoder.
pub fn receipt_digest(
    tx: &str,
    input: &[u8],
    output: &[u8],
    total: u64,
    code: u8,
    ts: u64,
) -> [u8; 32] {
    use ethers::types::transaction::eip712::Eip712;
    let hash = |bytes: &[u8]| format!("0x{}", hex::encode(ethers::utils::keccak256(bytes)));
    let typed = chain_typed_data(
        "serverless-executor.DirectRun",
        "DirectRunReceipt",
        json!([
            {"name": "codeTx", "type": "bytes32"},
            {"name": "inputHash", "type": "bytes32"},
            {"name": "outputHash", "type": "bytes32"},
            {"name": "totalTime", "type": "uint256"},
            {"name": "errorCode", "type": "uint8"},
            {"name": "signTimestamp", "type": "uint256"}
        ]),
        json!({
            "codeTx": tx, "inputHash": hash(input), "outputHash": hash(output),
            "totalTime": total, "errorCode": code, "signTimestamp": ts
        }),
    );
    typed.encode_eip712().expect("encodes")
}
