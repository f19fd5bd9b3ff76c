//! Admin routes against the real node binary, a real anvil and our deployed contracts: Marlin's
//! paths, bodies and status codes (the owner-signature rules are in `http_admin_signatures.rs`).

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn root_answers_200_with_empty_body() {
    let (_chain, node) = admin_node(false).await;
    assert_eq!(node.get("/").await, (200, String::new()));
}

#[tokio::test]
async fn immutable_config_validates_like_marlin_then_sets_once() {
    let (_chain, node) = admin_node(false).await;
    let cases = [
        ("abc", "Invalid owner address hex string: "),
        (
            "0x12345G7890",
            "Invalid owner address hex string: not a hex digit\n",
        ),
        (
            "0xZZ",
            "Invalid owner address hex string: not a hex digit\n",
        ),
        ("0x123456", "Owner address must be 20 bytes long!\n"),
        (
            "0x0000000000000000000000000000000000000000",
            "Owner address must not be the zero address!\n",
        ),
    ];
    for (owner, expected) in cases {
        let (status, body) = node
            .post_json("/immutable-config", &json!({"owner_address_hex": owner}))
            .await;
        assert_eq!(status, 400, "{owner}");
        assert!(body.starts_with(expected), "{owner}: {body}");
        assert!(
            !body.contains("FromHexError") && !body.contains('{'),
            "no Debug text: {body}"
        );
        assert!(
            !body.contains('G') && !body.contains('Z') && !body.contains("position"),
            "error bodies never echo request values: {body}"
        );
    }
    assert_eq!(
        node.get_json("/executor-details").await["owner_address"],
        format!("0x{}", "0".repeat(40))
    );

    let owner = address_of_key(OWNER_KEY);
    let without_prefix = owner.trim_start_matches("0x").to_uppercase();
    let (status, body) = node
        .post_json(
            "/immutable-config",
            &json!({"owner_address_hex": without_prefix}),
        )
        .await;
    assert_eq!(
        (status, body.as_str()),
        (200, "Immutable params configured!\n")
    );
    assert_eq!(
        node.get_json("/executor-details").await["owner_address"],
        owner
    );

    let stranger = address_of_key(STRANGER_KEY);
    let (status, body) = node
        .post_json("/immutable-config", &json!({"owner_address_hex": stranger}))
        .await;
    assert_eq!(
        (status, body.as_str()),
        (400, "Immutable params already configured!\n")
    );
    // Marlin checks "already configured" before parsing.
    let (status, body) = node
        .post_json("/immutable-config", &json!({"owner_address_hex": "zz"}))
        .await;
    assert_eq!(
        (status, body.as_str()),
        (400, "Immutable params already configured!\n")
    );
    assert_eq!(
        node.get_json("/executor-details").await["owner_address"],
        owner
    );
}

#[tokio::test]
async fn malformed_requests_get_400_and_oversized_bodies_413() {
    let (_chain, node) = admin_node(false).await;
    let (status, body) = node
        .post_raw("/immutable-config", "{not json".into(), &[])
        .await;
    assert_eq!(status, 400);
    assert!(body.starts_with("Json deserialize error: "), "{body}");
    let (status, body) = node
        .post_json("/immutable-config", &json!({"owner": "0x00"}))
        .await;
    assert_eq!(status, 400);
    assert!(body.contains("owner_address_hex"), "{body}");

    let response = node
        .http
        .post(node.url("/immutable-config"))
        .header("content-type", "text/plain")
        .body(json!({"owner_address_hex": address_of_key(OWNER_KEY)}).to_string())
        .send()
        .await
        .unwrap();
    assert_eq!(response.status().as_u16(), 400);
    assert!(response
        .text()
        .await
        .unwrap()
        .starts_with("Content type error"));

    let huge = json!({"owner_address_hex": "a".repeat(64 * 1024)}).to_string();
    let (status, _) = node.post_raw("/immutable-config", huge, &[]).await;
    assert_eq!(status, 413);
    assert_eq!(
        node.get("/").await.0,
        200,
        "node still serves after a refused body"
    );
}

#[tokio::test]
async fn mutable_config_validates_the_key_and_rotates_it() {
    let (_chain, node) = admin_node(false).await;
    let cases = [
        ("1234", 400, "Gas private key must be 32 bytes long!\n"),
        (
            "0x59c6995e998f97a5z0044966f0945389dc9e86dae88c7a8412f4603b6b78690d",
            400,
            "Invalid gas private key hex string: ",
        ),
        (
            &"ff".repeat(32) as &str,
            400,
            "Invalid gas private key provided: ",
        ),
        (&"00".repeat(32), 400, "Invalid gas private key provided: "),
    ];
    for (key, code, expected) in cases {
        let (status, body) = node
            .post_json("/mutable-config", &json!({"gas_key_hex": key}))
            .await;
        assert_eq!(status, code, "{key}");
        assert!(body.starts_with(expected), "{key}: {body}");
    }
    let enclave_key = hex::encode(node.enclave_key);
    let (status, body) = node
        .post_json("/mutable-config", &json!({"gas_key_hex": enclave_key}))
        .await;
    assert_eq!(
        status, 400,
        "the enclave key must not double as gas key: {body}"
    );

    // Before an owner exists the route is open, as in Marlin.
    let (status, body) = node
        .post_json("/mutable-config", &json!({"gas_key_hex": GAS_KEY}))
        .await;
    assert_eq!(
        (status, body.as_str()),
        (200, "Mutable params configured!\n")
    );
    assert_eq!(
        node.get_json("/executor-details").await["gas_address"],
        address_of_key(GAS_KEY)
    );
    let (status, _) = node
        .post_json(
            "/mutable-config",
            &json!({"gas_key_hex": format!("0x{STRANGER_KEY}")}),
        )
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        node.get_json("/executor-details").await["gas_address"],
        address_of_key(STRANGER_KEY)
    );
}

#[tokio::test]
async fn executor_details_reports_identity_in_marlins_format() {
    let (_chain, node) = admin_node(false).await;
    let details = node.get_json("/executor-details").await;
    let zero = format!("0x{}", "0".repeat(40));
    assert_eq!(details["enclave_address"], node.enclave_address());
    assert_eq!(details["owner_address"], zero);
    assert_eq!(details["gas_address"], zero);
    let public_key = details["enclave_public_key"].as_str().unwrap();
    assert_eq!(public_key.len(), 130);
    let key = k256::ecdsa::SigningKey::from_slice(&node.enclave_key).unwrap();
    let point = key.verifying_key().to_encoded_point(false);
    assert_eq!(
        public_key,
        format!("0x{}", hex::encode(&point.as_bytes()[1..]))
    );
    assert_eq!(details.as_object().unwrap().len(), 4);
}

#[tokio::test]
async fn registration_message_needs_both_configs_and_recovers_to_the_enclave() {
    let (_chain, node) = admin_node(false).await;
    assert_eq!(
        node.get("/signed-registration-message").await,
        (400, "Immutable params not configured yet!\n".to_owned())
    );
    let owner = address_of_key(OWNER_KEY);
    node.post_json("/immutable-config", &json!({"owner_address_hex": owner}))
        .await;
    assert_eq!(
        node.get("/signed-registration-message").await,
        (400, "Mutable params not configured yet!\n".to_owned())
    );
    let body = json!({"gas_key_hex": GAS_KEY}).to_string();
    let headers = node.owner_signed("/mutable-config", &body, 1).await;
    assert_eq!(
        node.post_raw("/mutable-config", body, &headers).await.0,
        200
    );

    let before = now();
    let message = node.get_json("/signed-registration-message").await;
    assert_eq!(message["job_capacity"], 4, "the node's configured capacity");
    assert_eq!(message["env"], 1);
    assert_eq!(message["owner"], owner);
    let timestamp = message["sign_timestamp"].as_u64().unwrap();
    assert!(timestamp >= before && timestamp <= now());
    let signature = message["signature"].as_str().unwrap();
    assert_eq!(signature.len(), 132);
    let signature: ethers::types::Signature = signature.parse().unwrap();
    assert!(signature.v == 27 || signature.v == 28);
    let digest = register_digest(&owner, 4, 1, timestamp);
    let signer = signature.recover(ethers::types::H256(digest)).unwrap();
    assert_eq!(format!("{signer:?}"), node.enclave_address());
}

#[tokio::test]
async fn rpc_outage_fails_mutable_config_with_500_and_keeps_the_old_key() {
    let chain = TestChain::start().await;
    let dead_rpc = format!("http://127.0.0.1:{}", free_port());
    let options = NodeOptions {
        http_rpc_url: Some(dead_rpc),
        ..NodeOptions::default()
    };
    let node = TestNode::start(&chain, options).await;
    let (status, body) = node
        .post_json("/mutable-config", &json!({"gas_key_hex": GAS_KEY}))
        .await;
    assert_eq!(status, 500);
    assert!(
        body.starts_with("Failed to fetch current nonce for the gas address: "),
        "{body}"
    );
    assert!(
        !body.contains("127.0.0.1"),
        "no internals in the body: {body}"
    );
    assert_eq!(
        node.get_json("/executor-details").await["gas_address"],
        format!("0x{}", "0".repeat(40))
    );
    assert_eq!(node.get("/").await.0, 200);
}
