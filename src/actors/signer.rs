//! `Signer` holds the enclave key and signs the node's EIP-712 messages.
//!
//! Receives: [`SignRegistration`], [`SignOutput`], [`SignReceipt`]. Sends: nothing. Runs on the
//! actors' thread, beside `JobScheduler`, which asks for a signature at the end of every job:
//! on a thread of its own, each signature cost two crossings between threads (≈ 0.1 ms a job,
//! more than signing itself, ≈ 60 µs). Invariant: the only holder of the enclave key; the key
//! never leaves this actor and is zeroized when it stops.

use actix::{Actor, Context, Handler};

use crate::chain::ecdsa::{address_of, public_key_bytes, sign_digest, Signature65};
use crate::chain::eip712::{
    direct_run_receipt_digest, register_digest, submit_output_digest, DirectRunReceipt,
    SubmitOutputMessage,
};
use crate::domain::EnclaveIdentity;
use crate::messages::signing::{SignOutput, SignReceipt, SignRegistration, SignerError};
use crate::secrets::SecretKey;

/// The enclave key's owner.
#[derive(Debug)]
pub struct Signer {
    key: SecretKey,
}

impl Signer {
    /// Takes the enclave key; the identity is public and can be handed to other actors.
    pub fn new(key: SecretKey) -> (Self, EnclaveIdentity) {
        let verifying_key = key.signing_key().verifying_key();
        let identity = EnclaveIdentity {
            address: address_of(verifying_key),
            public_key: public_key_bytes(verifying_key),
        };
        (Self { key }, identity)
    }

    fn sign(&self, digest: &[u8; 32]) -> Result<Signature65, SignerError> {
        sign_digest(self.key.signing_key(), digest).map_err(|_| SignerError::Signing)
    }
}

impl Actor for Signer {
    type Context = Context<Self>;
}

impl Handler<SignRegistration> for Signer {
    type Result = Result<Signature65, SignerError>;

    fn handle(&mut self, msg: SignRegistration, _: &mut Context<Self>) -> Self::Result {
        self.sign(&register_digest(&msg.message))
    }
}

impl Handler<SignOutput> for Signer {
    type Result = Result<Signature65, SignerError>;

    fn handle(&mut self, msg: SignOutput, _: &mut Context<Self>) -> Self::Result {
        self.sign(&submit_output_digest(&SubmitOutputMessage {
            job_id: msg.job_id,
            output: &msg.output,
            total_time_ms: msg.total_time_ms,
            error_code: msg.error_code,
            sign_timestamp: msg.sign_timestamp,
        }))
    }
}

impl Handler<SignReceipt> for Signer {
    type Result = Result<Signature65, SignerError>;

    fn handle(&mut self, msg: SignReceipt, _: &mut Context<Self>) -> Self::Result {
        self.sign(&direct_run_receipt_digest(&DirectRunReceipt {
            chain_id: msg.chain_id,
            code_tx: msg.code_tx,
            input: &msg.input,
            output: &msg.output,
            total_time_ms: msg.total_time_ms,
            error_code: msg.error_code,
            sign_timestamp: msg.sign_timestamp,
        }))
    }
}
