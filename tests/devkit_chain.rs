//! The README quickstart against a real chain and node — its bash block run as written, then
//! the same steps checked one by one: `run` locally → `code upload` → `job create` → `job
//! watch` → `verify` (match); then `verify` catching a registered but
//! dishonest executor's tampered output (output differs), a signer that the trusted
//! `Executors` registry does not know (signer not registered) and a code transaction a node
//! refuses (code transaction invalid); code that reads randomness differs on re-run and is
//! marked "non-deterministic code suspected". `job watch --ws` follows a job live, and fails with
//! exit status 1 once the websocket is lost for good.

#![allow(clippy::unwrap_used)]

mod common;
mod devkit_support;

use std::time::Duration;

use common::contracts::{client, code_calldata, contract, send, send_raw};
use common::jobs::registered_node;
use common::proxy::TcpRelay;
use common::*;
use devkit_support::{
    anvil_call, direct_run, fund_user, kit, run_readme_quickstart, second_registry, spawn_kit,
    stdout, watch_ws_in_background,
};
use ethers::types::{Bytes, U256};
use serverless_executor::chain::ecdsa::sign_digest;
use serverless_executor::chain::eip712::{submit_output_digest, SubmitOutputMessage};

const INPUT: &str = r#"{"numbers":[3,1,4]}"#;
const OUTPUT: &str = r#"{"count":3,"sum":8,"max":4}"#;

/// `code upload FILE --rpc RPC --code-contract CONTRACT --key-file KEY`.
fn upload_args<'a>(file: &'a str, rpc: &'a str, contract: &'a str, key: &'a str) -> [&'a str; 9] {
    [
        "code",
        "upload",
        file,
        "--rpc",
        rpc,
        "--code-contract",
        contract,
        "--key-file",
        key,
    ]
}

#[actix::test]
async fn quickstart_then_verify_catches_tampering_and_unknown_signers() {
    let chain = TestChain::start().await;
    let mut node = registered_node(&chain, GAS_KEY).await;
    // Another registry, in which nobody is registered, deployed before the jobs.
    let other_registry = second_registry(&chain);
    let dir = tempfile::tempdir().unwrap();
    let key_file = dir.path().join("user.key");
    std::fs::write(&key_file, format!("0x{STRANGER_KEY}\n")).unwrap();
    let key_file = key_file.to_str().unwrap();
    let rpc = chain.anvil.http_url();
    let deployment = &chain.deployment;

    // 0. The README's quickstart block itself, by bash, against this chain and node.
    let quickstart = run_readme_quickstart(&chain, key_file, dir.path());
    let said = stdout(&quickstart);
    assert!(
        said.contains(OUTPUT) && said.contains("settled: answered by all 1"),
        "{said}"
    );
    assert!(said.contains("verdict: match"), "{said}");
    fund_user(&chain, STRANGER_KEY).await;
    let example = repo().join("examples/json.js");
    let example = example.to_str().unwrap();
    let workerd = tool("workerd");
    let workerd = workerd.to_str().unwrap();

    // 1. Locally.
    let local = kit(&["run", example, "--input", INPUT, "--workerd", workerd]);
    assert_eq!(stdout(&local), OUTPUT);

    // 2. Upload; 3. create; 4. watch.
    let upload = kit(&upload_args(
        example,
        &rpc,
        &deployment.code_contract,
        key_file,
    ));
    let code_tx = stdout(&upload).trim().to_owned();
    // A key file that is not a key (one hex digit short): refused, and not shown.
    let bad_key = dir.path().join("bad.key");
    std::fs::write(&bad_key, &STRANGER_KEY[1..]).unwrap();
    let refused = kit(&upload_args(
        example,
        &rpc,
        &deployment.code_contract,
        bad_key.to_str().unwrap(),
    ));
    assert_eq!(refused.status.code(), Some(1), "{refused:?}");
    let said = String::from_utf8_lossy(&refused.stderr);
    assert!(
        said.contains("key file") && !said.contains(&STRANGER_KEY[1..33]),
        "{said}"
    );
    assert!(
        code_tx.starts_with("0x") && code_tx.len() == 66,
        "{code_tx}"
    );
    let create = |code_tx: &str| {
        let created = kit(&[
            "job",
            "create",
            "--rpc",
            &rpc,
            "--jobs",
            &deployment.jobs,
            "--code-tx",
            code_tx,
            "--input",
            INPUT,
            "--deadline",
            "5000",
            "--key-file",
            key_file,
        ]);
        stdout(&created).trim().to_owned()
    };
    let job = create(&code_tx);
    let watch = kit(&[
        "job",
        "watch",
        &job,
        "--rpc",
        &rpc,
        "--jobs",
        &deployment.jobs,
    ]);
    let watched = stdout(&watch);
    assert!(
        watched.contains(&node.enclave_address()) && watched.contains("error_code 0"),
        "{watched}"
    );
    assert!(watched.contains("settled: answered by all 1"), "{watched}");
    // The same over the websocket: the backfill after subscribing finds the answer.
    let ws = chain.anvil.ws_url();
    let over_ws = kit(&[
        "job",
        "watch",
        &job,
        "--ws",
        &ws,
        "--jobs",
        &deployment.jobs,
    ]);
    assert_eq!(stdout(&over_ws), watched, "the same lines over --ws");

    // 5. Verify: the node's answer is what the code gives.
    let verify = |job: &str, executors: &str| {
        kit(&[
            "verify",
            "--job",
            job,
            "--rpc",
            &rpc,
            "--jobs",
            &deployment.jobs,
            "--executors",
            executors,
            "--code-contract",
            &deployment.code_contract,
            "--workerd",
            workerd,
        ])
    };
    let honest = verify(&job, &deployment.executors);
    let report = stdout(&honest);
    assert!(report.contains("verdict: match"), "{report}");

    // Code "uploaded" to the user's own address instead of the code contract: the node answers
    // outcome 1, and verify judges the transaction as the node does.
    let user = format!("{:?}", client(&chain, STRANGER_KEY).address());
    let stray = send_raw(&chain, STRANGER_KEY, &user, code_calldata(INPUT.as_bytes())).await;
    let stray_job = create(&stray);
    let watched = stdout(&kit(&[
        "job",
        "watch",
        &stray_job,
        "--rpc",
        &rpc,
        "--jobs",
        &deployment.jobs,
    ]));
    assert!(watched.contains("error_code 1"), "{watched}");
    let stray_verify = verify(&stray_job, &deployment.executors);
    assert_eq!(stray_verify.status.code(), Some(4), "{stray_verify:?}");
    let report = String::from_utf8_lossy(&stray_verify.stdout);
    assert!(
        report.contains("NOT valid code: code transaction was not sent to the code contract (a node answers outcome 1)")
            && report.contains("output and code: equal to the re-run")
            && report.contains("verdict: code transaction invalid (code transaction was not sent to the code contract)"),
        "the answer agrees with the node's verdict, the code check fails: {report}"
    );

    // Code that reads randomness: the re-run differs, and the verdict says why it may.
    let dir_random = dir.path().join("random.js");
    std::fs::write(
        &dir_random,
        "export default { fetch() { return new Response(String(Math.random())); } };",
    )
    .unwrap();
    let random_tx = stdout(&kit(&upload_args(
        dir_random.to_str().unwrap(),
        &rpc,
        &deployment.code_contract,
        key_file,
    )))
    .trim()
    .to_owned();
    let random_job = create(&random_tx);
    stdout(&kit(&[
        "job",
        "watch",
        &random_job,
        "--rpc",
        &rpc,
        "--jobs",
        &deployment.jobs,
    ]));
    let random = verify(&random_job, &deployment.executors);
    assert_eq!(random.status.code(), Some(4), "{random:?}");
    let report = String::from_utf8_lossy(&random.stdout);
    assert!(
        report.contains(
            "verdict: output differs (non-deterministic code suspected: uses Math.random)"
        ),
        "{report}"
    );

    // An auditor who trusts another registry: the signer is not registered there.
    let unknown = verify(&job, &other_registry);
    assert_eq!(unknown.status.code(), Some(4), "{unknown:?}");
    let report = String::from_utf8_lossy(&unknown.stdout);
    assert!(
        report.contains("verdict: signer not registered"),
        "{report}"
    );

    // A direct-run receipt, verified against its request; then with its body tampered.
    let verify_direct = |(request, head, body): (&str, &str, &[u8])| {
        let request_file = dir.path().join("request.json");
        std::fs::write(&request_file, request).unwrap();
        let response_file = dir.path().join("response.txt");
        std::fs::write(&response_file, [head.as_bytes(), body].concat()).unwrap();
        kit(&[
            "verify",
            "--direct",
            "--request",
            request_file.to_str().unwrap(),
            "--response",
            response_file.to_str().unwrap(),
            "--rpc",
            &rpc,
            "--executors",
            &deployment.executors,
            "--code-contract",
            &deployment.code_contract,
            "--workerd",
            workerd,
        ])
    };
    let (request, head, body) = direct_run(&node, &code_tx, INPUT).await;
    let receipt = stdout(&verify_direct((&request, &head, &body)));
    assert!(receipt.contains("verdict: match"), "{receipt}");
    let forged = verify_direct((&request, &head, br#"{"count":3,"sum":1,"max":4}"#));
    assert_eq!(forged.status.code(), Some(4), "{forged:?}");
    let report = String::from_utf8_lossy(&forged.stdout);
    assert!(
        report.contains("verdict: output differs, signer not registered"),
        "a tampered body no longer recovers to the enclave: {report}"
    );
    // The stray code transaction directly: the node's outcome 1, agreed, and the check fails.
    let (request, head, body) = direct_run(&node, &stray, INPUT).await;
    let stray_direct = verify_direct((&request, &head, &body));
    assert_eq!(stray_direct.status.code(), Some(4), "{stray_direct:?}");
    let report = String::from_utf8_lossy(&stray_direct.stdout);
    assert!(
        report.contains("receipt error_code 1")
            && report.contains("output and code: equal to the re-run")
            && report.contains("verdict: code transaction invalid (code transaction was not sent to the code contract)"),
        "{report}"
    );

    // A registered but dishonest executor: its enclave key signs a tampered output.
    node.crash();
    let job = create(&code_tx);
    let id = U256::from_dec_str(&job).unwrap();
    let mut id_bytes = [0u8; 32];
    id.to_big_endian(&mut id_bytes);
    let tampered = br#"{"count":3,"sum":9000,"max":4}"#.to_vec();
    let sign_timestamp = now();
    let digest = submit_output_digest(&SubmitOutputMessage {
        job_id: id_bytes,
        output: &tampered,
        total_time_ms: 10,
        error_code: 0,
        sign_timestamp,
    });
    let enclave = k256::ecdsa::SigningKey::from_slice(&node.enclave_key).unwrap();
    let signature = sign_digest(&enclave, &digest).unwrap();
    // Followed live through a relay that first closes the websocket, then freezes the new one
    // (a half-dead socket: only an unanswered ping shows it): the watch reconnects both times.
    let relay = TcpRelay::start(chain.anvil.port).await;
    let mut live = watch_ws_in_background(&job, &relay.ws_url(), &deployment.jobs).await;
    relay.drop_connections();
    live.wait_for("; reconnecting (", 1).await;
    wait_until(Duration::from_secs(10), "the watch to reconnect", || {
        std::future::ready(relay.connections() >= 2)
    })
    .await;
    relay.stall_connections();
    live.wait_for("; reconnecting (", 2).await;
    let jobs = contract("Jobs", &deployment.jobs, client(&chain, STRANGER_KEY));
    let call = jobs
        .method::<_, ()>(
            "submitOutput",
            (
                Bytes::from(signature.0.to_vec()),
                id,
                Bytes::from(tampered),
                U256::from(10u64),
                0u8,
                U256::from(sign_timestamp),
            ),
        )
        .unwrap();
    send(call).await.unwrap();
    let (status, live_out, live_err) = live.finish().await;
    assert_eq!(status, Some(0), "{live_out} {live_err}");
    assert!(
        live_err.contains(&format!("the websocket {} dropped (", relay.ws_url())),
        "{live_err}"
    );
    assert!(
        live_out.contains("9000") && live_out.contains("settled: answered by all 1"),
        "the live subscription printed the answer: {live_out}"
    );
    let dishonest = verify(&job, &deployment.executors);
    assert_eq!(dishonest.status.code(), Some(4), "{dishonest:?}");
    let report = String::from_utf8_lossy(&dishonest.stdout);
    assert!(report.contains("verdict: output differs"), "{report}");
    assert!(
        report.contains("equal to the event's executor") && report.contains("owner "),
        "signer and registration pass: {report}"
    );

    // A receipt that is slow to come (automine off until the upload waits): a plain progress
    // line on stderr, which is not a terminal here.
    anvil_call(&rpc, "evm_setAutomine", serde_json::json!([false])).await;
    let mut slow = spawn_kit(&upload_args(
        example,
        &rpc,
        &deployment.code_contract,
        key_file,
    ));
    slow.wait_for("waiting for the saveCodeInCallData receipt of 0x", 1)
        .await;
    anvil_call(&rpc, "evm_mine", serde_json::json!([])).await;
    let (status, uploaded, said) = slow.finish().await;
    assert_eq!(status, Some(0), "{said}");
    assert!(
        uploaded.starts_with("0x") && said.contains("code uploaded"),
        "{said}"
    );
    anvil_call(&rpc, "evm_setAutomine", serde_json::json!([true])).await;

    // The websocket drops for good (the chain stops): a clear error and exit status 1.
    let unanswered = create(&code_tx);
    let lost = watch_ws_in_background(&unanswered, &ws, &deployment.jobs).await;
    drop(chain);
    let (status, _, stderr) = lost.finish().await;
    assert_eq!(status, Some(1), "{stderr}");
    assert!(
        stderr.contains("dropped") && stderr.contains("reconnecting (1 of 5)"),
        "{stderr}"
    );
    assert!(
        stderr.contains(&format!(
            "the websocket {ws} dropped and 5 reconnects failed"
        )),
        "{stderr}"
    );
}
