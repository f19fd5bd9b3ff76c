//! Owner signatures on the admin routes against the real node binary and a real anvil: once the
//! owner is set, every configuration call needs a fresh owner signature (Marlin's open API is
//! only available in the explicit compatibility mode).

#![allow(clippy::unwrap_used)]

mod common;

use common::*;
use serde_json::json;

#[tokio::test]
async fn after_the_owner_is_set_mutable_config_needs_a_fresh_owner_signature() {
    let (_chain, node) = admin_node(false).await;
    let owner = address_of_key(OWNER_KEY);
    node.post_json("/immutable-config", &json!({"owner_address_hex": owner}))
        .await;
    let enclave = node.enclave_address();
    let body = json!({"gas_key_hex": GAS_KEY}).to_string();
    let gas_address = || async { node.get_json("/executor-details").await["gas_address"].clone() };
    let zero = json!(format!("0x{}", "0".repeat(40)));

    let (status, text) = node.post_raw("/mutable-config", body.clone(), &[]).await;
    assert_eq!(status, 401, "{text}");

    let other_enclave = address_of_key(STRANGER_KEY);
    let refused = [
        (
            "expired",
            owner_headers(OWNER_KEY, "/mutable-config", &body, &enclave, 1, now() - 1).await,
        ),
        (
            "too far",
            owner_headers(
                OWNER_KEY,
                "/mutable-config",
                &body,
                &enclave,
                1,
                now() + 3600,
            )
            .await,
        ),
        (
            "wrong signer",
            owner_headers(
                STRANGER_KEY,
                "/mutable-config",
                &body,
                &enclave,
                1,
                now() + 60,
            )
            .await,
        ),
        (
            "wrong enclave",
            owner_headers(
                OWNER_KEY,
                "/mutable-config",
                &body,
                &other_enclave,
                1,
                now() + 60,
            )
            .await,
        ),
        (
            "wrong route",
            owner_headers(
                OWNER_KEY,
                "/immutable-config",
                &body,
                &enclave,
                1,
                now() + 60,
            )
            .await,
        ),
        (
            "other body",
            owner_headers(OWNER_KEY, "/mutable-config", "{}", &enclave, 1, now() + 60).await,
        ),
    ];
    for (case, headers) in refused {
        let (status, text) = node
            .post_raw("/mutable-config", body.clone(), &headers)
            .await;
        assert_eq!(status, 403, "{case}: {text}");
        assert_eq!(gas_address().await, zero, "{case} changed state");
    }
    let mut partial =
        owner_headers(OWNER_KEY, "/mutable-config", &body, &enclave, 1, now() + 60).await;
    partial.pop();
    assert_eq!(
        node.post_raw("/mutable-config", body.clone(), &partial)
            .await
            .0,
        400
    );

    let good = owner_headers(OWNER_KEY, "/mutable-config", &body, &enclave, 7, now() + 60).await;
    let (status, text) = node.post_raw("/mutable-config", body.clone(), &good).await;
    assert_eq!(
        (status, text.as_str()),
        (200, "Mutable params configured!\n")
    );
    assert_eq!(gas_address().await, json!(address_of_key(GAS_KEY)));

    let (status, text) = node.post_raw("/mutable-config", body.clone(), &good).await;
    assert_eq!(status, 403, "replayed: {text}");
    let rotate = json!({"gas_key_hex": STRANGER_KEY}).to_string();
    let lower_nonce = owner_headers(
        OWNER_KEY,
        "/mutable-config",
        &rotate,
        &enclave,
        6,
        now() + 60,
    )
    .await;
    assert_eq!(
        node.post_raw("/mutable-config", rotate.clone(), &lower_nonce)
            .await
            .0,
        403
    );
    assert_eq!(gas_address().await, json!(address_of_key(GAS_KEY)));
    let next = owner_headers(
        OWNER_KEY,
        "/mutable-config",
        &rotate,
        &enclave,
        8,
        now() + 60,
    )
    .await;
    assert_eq!(node.post_raw("/mutable-config", rotate, &next).await.0, 200);
    assert_eq!(gas_address().await, json!(address_of_key(STRANGER_KEY)));
}

#[tokio::test]
async fn compat_mode_accepts_marlins_unsigned_calls_after_the_owner_is_set() {
    let (_chain, node) = admin_node(true).await;
    node.post_json(
        "/immutable-config",
        &json!({"owner_address_hex": address_of_key(OWNER_KEY)}),
    )
    .await;
    let (status, body) = node
        .post_json("/mutable-config", &json!({"gas_key_hex": GAS_KEY}))
        .await;
    assert_eq!(
        (status, body.as_str()),
        (200, "Mutable params configured!\n")
    );
    let (status, _) = node
        .post_json("/mutable-config", &json!({"gas_key_hex": STRANGER_KEY}))
        .await;
    assert_eq!(status, 200);
    assert_eq!(
        node.get_json("/executor-details").await["gas_address"],
        address_of_key(STRANGER_KEY)
    );
}
