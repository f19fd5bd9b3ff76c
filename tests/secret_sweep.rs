//! Secret leakage sweep: drive every admin route through success and failure with the real gas
//! and enclave keys in play, then search every captured log line and response body for those
//! keys in hex (any case, with or without `0x`), decimal and base64.

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use ethers::types::U256;
use serde_json::json;

fn forms(key_hex: &str) -> Vec<String> {
    let bytes = hex::decode(key_hex).unwrap();
    let mut forms = vec![
        key_hex.to_lowercase(),
        key_hex.to_uppercase(),
        U256::from_big_endian(&bytes).to_string(),
        base64_encode(&bytes),
    ];
    // Any 16-byte run of the key in hex is already a leak.
    forms.push(key_hex[8..40].to_lowercase());
    forms
}

/// Standard base64, written here to keep the test independent of the node's dependencies.
fn base64_encode(bytes: &[u8]) -> String {
    const TABLE: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::new();
    for chunk in bytes.chunks(3) {
        let b = [
            chunk[0],
            *chunk.get(1).unwrap_or(&0),
            *chunk.get(2).unwrap_or(&0),
        ];
        let n = (u32::from(b[0]) << 16) | (u32::from(b[1]) << 8) | u32::from(b[2]);
        for i in 0..4 {
            if i <= chunk.len() {
                out.push(TABLE[(n >> (18 - 6 * i)) as usize & 63] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[tokio::test]
async fn no_log_line_or_response_contains_a_secret_key() {
    let chain = TestChain::start().await;
    let node = TestNode::start(&chain, NodeOptions::default()).await;
    let enclave_hex = hex::encode(node.enclave_key);
    let mut responses = Vec::new();
    let owner = address_of_key(OWNER_KEY);

    let bodies = [
        json!({"gas_key_hex": GAS_KEY}),
        json!({"gas_key_hex": enclave_hex}),
        json!({"gas_key_hex": format!("0x{GAS_KEY}zz")}),
        json!({"gas_key_hex": [GAS_KEY]}),
        json!({"gas_key_hex": GAS_KEY, "unexpected": GAS_KEY}),
        json!({"owner_address_hex": GAS_KEY}),
    ];
    for body in &bodies {
        responses.push(node.post_json("/mutable-config", body).await.1);
        responses.push(node.post_json("/immutable-config", body).await.1);
    }
    responses.push(
        node.post_raw(
            "/mutable-config",
            format!("{{\"gas_key_hex\": \"{GAS_KEY}\""),
            &[],
        )
        .await
        .1,
    );
    responses.push(
        node.post_raw(
            "/mutable-config",
            format!("{{\"gas_key_hex\": 0x{GAS_KEY}}}"),
            &[],
        )
        .await
        .1,
    );
    responses.push(
        node.post_json("/immutable-config", &json!({"owner_address_hex": owner}))
            .await
            .1,
    );
    let body = json!({"gas_key_hex": GAS_KEY}).to_string();
    responses.push(node.post_raw("/mutable-config", body.clone(), &[]).await.1);
    let headers = node.owner_signed("/mutable-config", &body, 1).await;
    responses.push(
        node.post_raw("/mutable-config", body.clone(), &headers)
            .await
            .1,
    );
    responses.push(node.post_raw("/mutable-config", body, &headers).await.1);
    for path in [
        "/",
        "/executor-details",
        "/signed-registration-message",
        "/health",
    ] {
        responses.push(node.get(path).await.1);
    }
    assert!(
        responses
            .iter()
            .any(|r| r == "Mutable params configured!\n"),
        "the sweep configured the key"
    );

    let logs = node.logs();
    assert!(
        logs.contains("Gas key installed."),
        "the sweep captured the node's log: {logs}"
    );
    for (name, key) in [("gas key", GAS_KEY), ("enclave key", enclave_hex.as_str())] {
        for form in forms(key) {
            assert!(!logs.contains(&form), "{name} in logs as {form}");
            for response in &responses {
                assert!(
                    !response.contains(&form),
                    "{name} in a response as {form}: {response}"
                );
            }
        }
    }
}
