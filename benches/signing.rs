//! Microbenchmarks of the signing hot path: EIP-712 digests, k256 signing and recovery.

#![allow(missing_docs)]

use criterion::{black_box, criterion_group, criterion_main, Criterion};
use k256::ecdsa::SigningKey;
use serverless_executor::chain::ecdsa::{recover_address, sign_digest};
use serverless_executor::chain::eip712::{
    register_digest, submit_output_digest, RegisterMessage, SubmitOutputMessage,
};
use serverless_executor::domain::{Address, ExecutionEnv};

fn signing(c: &mut Criterion) {
    let key = SigningKey::from_slice(&[0x42; 32]).expect("valid key");
    let output = vec![b'x'; 1024];
    let message = SubmitOutputMessage {
        job_id: [7; 32],
        output: &output,
        total_time_ms: 123,
        error_code: 0,
        sign_timestamp: 1_700_000_000,
    };
    c.bench_function("submit_output_digest_1KiB", |b| {
        b.iter(|| submit_output_digest(black_box(&message)))
    });
    let register = RegisterMessage {
        owner: Address([1; 20]),
        job_capacity: 20,
        env: ExecutionEnv::JAVASCRIPT,
        sign_timestamp: 1,
    };
    c.bench_function("register_digest", |b| {
        b.iter(|| register_digest(black_box(&register)))
    });
    let digest = submit_output_digest(&message);
    c.bench_function("sign_digest", |b| {
        b.iter(|| sign_digest(&key, black_box(&digest)))
    });
    let signature = sign_digest(&key, &digest).expect("signs");
    c.bench_function("recover_address", |b| {
        b.iter(|| recover_address(black_box(&digest), &signature.0))
    });
}

criterion_group!(benches, signing);
criterion_main!(benches);
