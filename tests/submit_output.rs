//! The `SubmitOutput` signature made by `Signer` is accepted by `Jobs.submitOutput` on anvil
//! (the digest bit for bit), and a direct-run receipt over the same fields is refused: a receipt
//! can never be replayed as a job output.

#![allow(clippy::unwrap_used)]

mod common;

use actix::Actor;
use common::contracts::{
    client, contract, create_job, fund_stake, register_executor, send, upload_code,
};
use common::*;
use ethers::types::{Bytes, U256};
use serverless_executor::actors::signer::Signer;
use serverless_executor::chain::eip712::{
    submit_output_digest, RegisterMessage, SubmitOutputMessage,
};
use serverless_executor::domain::{Address, ExecutionEnv};
use serverless_executor::messages::signing::{SignOutput, SignReceipt, SignRegistration};
use serverless_executor::secrets::SecretKey;

#[actix::test]
async fn signed_output_is_accepted_and_a_receipt_is_refused() {
    let chain = TestChain::start().await;
    let key = k256::ecdsa::SigningKey::random(&mut rand::rngs::OsRng);
    let (signer, identity) = Signer::new(SecretKey::from_slice(&key.to_bytes()).unwrap());
    let signer = signer.start();

    let owner = Address::parse_hex(&address_of_key(OWNER_KEY)).unwrap();
    let register = RegisterMessage {
        owner,
        job_capacity: 4,
        env: ExecutionEnv::JAVASCRIPT,
        sign_timestamp: now(),
    };
    let signature = signer
        .send(SignRegistration { message: register })
        .await
        .unwrap()
        .unwrap();
    let message = serde_json::json!({
        "job_capacity": 4, "env": 1, "sign_timestamp": register.sign_timestamp, "signature": signature.to_string()
    });
    fund_stake(&chain, OWNER_KEY, U256::exp10(18)).await;
    let public_key = format!("0x{}", hex::encode(identity.public_key));
    register_executor(&chain, OWNER_KEY, &public_key, &message, U256::exp10(18))
        .await
        .unwrap();

    let code_tx = upload_code(&chain, STRANGER_KEY, b"export default {};").await;
    let jobs = contract("Jobs", &chain.deployment.jobs, client(&chain, STRANGER_KEY));
    let output = b"2,2,2,3,5,5".to_vec();
    let sign_timestamp = now();
    for (total_time, error_code) in [(123u64, 0u8), (5000, 4)] {
        let job_id = create_job(&chain, STRANGER_KEY, &code_tx, b"{\"num\":600}", 5000).await;
        let mut id = [0u8; 32];
        job_id.to_big_endian(&mut id);
        let ours = submit_output_digest(&SubmitOutputMessage {
            job_id: id,
            output: &output,
            total_time_ms: total_time,
            error_code,
            sign_timestamp,
        });
        let theirs: [u8; 32] = jobs
            .method::<_, [u8; 32]>(
                "submitOutputDigest",
                (
                    job_id,
                    Bytes::from(output.clone()),
                    U256::from(total_time),
                    error_code,
                    U256::from(sign_timestamp),
                ),
            )
            .unwrap()
            .call()
            .await
            .unwrap();
        assert_eq!(ours, theirs, "digest bit for bit");

        let receipt = signer
            .send(SignReceipt {
                chain_id: CHAIN_ID,
                code_tx: [0; 32],
                input: Vec::new(),
                output: output.clone(),
                total_time_ms: total_time,
                error_code,
                sign_timestamp,
            })
            .await
            .unwrap()
            .unwrap();
        let submit = |signature: Vec<u8>| {
            jobs.method::<_, ()>(
                "submitOutput",
                (
                    Bytes::from(signature),
                    job_id,
                    Bytes::from(output.clone()),
                    U256::from(total_time),
                    error_code,
                    U256::from(sign_timestamp),
                ),
            )
            .unwrap()
        };
        assert!(
            send(submit(receipt.0.to_vec())).await.is_err(),
            "a receipt is not an output signature"
        );

        let signed = signer
            .send(SignOutput {
                job_id: id,
                output: output.clone(),
                total_time_ms: total_time,
                error_code,
                sign_timestamp,
            })
            .await
            .unwrap()
            .unwrap();
        let mined = send(submit(signed.0.to_vec())).await.unwrap();
        let job_responded = "0x44e2fe4ddd3ee1cc7d02ec47111be654474a6fc73411e678e3152b806bfc0233";
        let responded = mined
            .logs
            .iter()
            .find(|log| format!("{:?}", log.topics[0]) == job_responded)
            .expect("JobResponded emitted");
        assert_eq!(
            format!("{:?}", responded.topics[2]).trim_start_matches("0x000000000000000000000000"),
            identity.address.to_string().trim_start_matches("0x")
        );
    }
}
