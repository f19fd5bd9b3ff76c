//! Microbenchmark of `decode_code_calldata` on a ~10 KiB code blob, in both call forms.
//! Run with `cargo bench --bench calldata`.

#![allow(missing_docs)]

use std::hint::black_box;

use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use ethers::abi::{encode, Token};
use serverless_executor::code::calldata::{
    decode_code_calldata, SELECTOR_STRING, SELECTOR_STRING_BYTES,
};

fn calldata(selector: [u8; 4], tokens: &[Token]) -> Vec<u8> {
    let mut input = selector.to_vec();
    input.extend(encode(tokens));
    input
}

fn decode(c: &mut Criterion) {
    let line = "export default { async fetch(request) { return new Response('ok'); } };\n";
    let code = line.repeat(10 * 1024 / line.len() + 1);
    let single = calldata(SELECTOR_STRING, &[Token::String(code.clone())]);
    let double = calldata(
        SELECTOR_STRING_BYTES,
        &[Token::String(code.clone()), Token::Bytes(vec![0xab; 64])],
    );
    let mut group = c.benchmark_group("decode_code_calldata");
    group.throughput(Throughput::Bytes(code.len() as u64));
    group.bench_function("string_10KiB", |b| {
        b.iter(|| decode_code_calldata(black_box(&single)))
    });
    group.bench_function("string_bytes_10KiB", |b| {
        b.iter(|| decode_code_calldata(black_box(&double)))
    });
    group.finish();
}

criterion_group!(benches, decode);
criterion_main!(benches);
