//! `NodeSetup` owns the node's configuration lifecycle: owner, gas address, admin nonce and
//! whether `Executors` says we are registered.
//!
//! Receives: [`ConfigureOwner`], [`ConfigureGasKey`], [`GetExecutorDetails`],
//! [`GetSignedRegistration`], [`GetNodeStatus`] (from HTTP routes) and [`ExecutorRegistered`],
//! [`ExecutorDeregistered`] (from `ChainListener`). Sends: [`SetGasKey`] to `TxSender`,
//! [`SignRegistration`] to `Signer`. Invariant: holds no secret; the gas key only passes through
//! on its way to `TxSender`.

mod auth;

use std::time::{SystemTime, UNIX_EPOCH};

use actix::{
    Actor, ActorFutureExt, AtomicResponse, Context, Handler, Recipient, ResponseFuture, WrapFuture,
};
use tracing::{info, warn};

pub use auth::AuthPolicy;
use auth::{authorize, AuthState};

use crate::chain::eip712::RegisterMessage;
use crate::domain::{decode_hex, Address, EnclaveIdentity, ExecutionEnv};
use crate::messages::chain::{ExecutorDeregistered, ExecutorRegistered};
use crate::messages::setup::{
    AdminCall, ConfigureGasKey, ConfigureOwner, ExecutorDetails, GetExecutorDetails, GetNodeStatus,
    GetSignedRegistration, NodeStatus, SetupError, SignedRegistration,
};
use crate::messages::signing::SignRegistration;
use crate::messages::tx::SetGasKey;
use crate::secrets::{KeyError, SecretKey};

/// The configuration lifecycle's owner.
#[derive(Debug)]
pub struct NodeSetup {
    identity: EnclaveIdentity,
    policy: AuthPolicy,
    job_capacity: u64,
    signer: Recipient<SignRegistration>,
    tx_sender: Recipient<SetGasKey>,
    owner: Option<Address>,
    gas_address: Option<Address>,
    last_admin_nonce: Option<u64>,
    registration: Option<ExecutorRegistered>,
}

/// What `NodeSetup` is built from; wired in `system.rs`.
#[derive(Debug)]
pub struct NodeSetupParts {
    /// This node's public identity.
    pub identity: EnclaveIdentity,
    /// How admin calls are authorised.
    pub policy: AuthPolicy,
    /// Announced in the registration message.
    pub job_capacity: u64,
    /// Signs registration messages.
    pub signer: Recipient<SignRegistration>,
    /// Receives the gas key.
    pub tx_sender: Recipient<SetGasKey>,
}

impl NodeSetup {
    /// A node with no owner, no gas key and no registration yet.
    pub fn new(parts: NodeSetupParts) -> Self {
        Self {
            identity: parts.identity,
            policy: parts.policy,
            job_capacity: parts.job_capacity,
            signer: parts.signer,
            tx_sender: parts.tx_sender,
            owner: None,
            gas_address: None,
            last_admin_nonce: None,
            registration: None,
        }
    }

    /// Checks the call's authorisation and records its nonce as used.
    fn authorize(&mut self, call: &AdminCall) -> Result<(), SetupError> {
        let state = AuthState {
            owner: self.owner,
            last_nonce: self.last_admin_nonce,
        };
        if let Some(nonce) = authorize(&self.policy, state, call, now_unix())? {
            self.last_admin_nonce = Some(nonce);
        }
        Ok(())
    }
}

impl Actor for NodeSetup {
    type Context = Context<Self>;
}

impl Handler<ConfigureOwner> for NodeSetup {
    type Result = Result<(), SetupError>;

    fn handle(&mut self, msg: ConfigureOwner, _: &mut Context<Self>) -> Self::Result {
        if self.owner.is_some() {
            return Err(SetupError::OwnerAlreadySet);
        }
        let owner = parse_owner(&msg.owner_hex)?;
        self.owner = Some(owner);
        info!(%owner, "Owner configured.");
        Ok(())
    }
}

impl Handler<ConfigureGasKey> for NodeSetup {
    type Result = AtomicResponse<Self, Result<Address, SetupError>>;

    fn handle(&mut self, msg: ConfigureGasKey, _: &mut Context<Self>) -> Self::Result {
        let key = self
            .authorize(&msg.call)
            .and_then(|()| parse_gas_key(&msg.gas_key_hex, self.identity.address));
        let tx_sender = self.tx_sender.clone();
        let install = async move {
            let key = key?;
            match tx_sender.send(SetGasKey { key }).await {
                Ok(Ok(address)) => Ok(address),
                Ok(Err(error)) => {
                    warn!(error = %error, "Gas key not installed: nonce query failed.");
                    Err(SetupError::GasNonceUnavailable)
                }
                Err(_) => Err(SetupError::Unavailable),
            }
        };
        AtomicResponse::new(Box::pin(install.into_actor(self).map(|result, act, _| {
            let address = result?;
            act.gas_address = Some(address);
            Ok(address)
        })))
    }
}

impl Handler<GetExecutorDetails> for NodeSetup {
    type Result = actix::MessageResult<GetExecutorDetails>;

    fn handle(&mut self, _: GetExecutorDetails, _: &mut Context<Self>) -> Self::Result {
        actix::MessageResult(ExecutorDetails {
            enclave_address: self.identity.address,
            enclave_public_key: format!("0x{}", hex::encode(self.identity.public_key)),
            owner_address: self.owner.unwrap_or(Address::ZERO),
            gas_address: self.gas_address.unwrap_or(Address::ZERO),
        })
    }
}

impl Handler<GetSignedRegistration> for NodeSetup {
    type Result = ResponseFuture<Result<SignedRegistration, SetupError>>;

    fn handle(&mut self, _: GetSignedRegistration, _: &mut Context<Self>) -> Self::Result {
        let ready = match (self.owner, self.gas_address) {
            (None, _) => Err(SetupError::OwnerNotSet),
            (Some(_), None) => Err(SetupError::GasKeyNotSet),
            (Some(owner), Some(_)) => Ok(RegisterMessage {
                owner,
                job_capacity: self.job_capacity,
                env: ExecutionEnv::JAVASCRIPT,
                sign_timestamp: now_unix(),
            }),
        };
        let signer = self.signer.clone();
        Box::pin(async move {
            let message = ready?;
            let signature = signer
                .send(SignRegistration { message })
                .await
                .map_err(|_| SetupError::Unavailable)?
                .map_err(|_| SetupError::Signing)?;
            Ok(SignedRegistration {
                job_capacity: message.job_capacity,
                sign_timestamp: message.sign_timestamp,
                env: message.env,
                owner: message.owner,
                signature,
            })
        })
    }
}

impl Handler<GetNodeStatus> for NodeSetup {
    type Result = actix::MessageResult<GetNodeStatus>;

    fn handle(&mut self, _: GetNodeStatus, _: &mut Context<Self>) -> Self::Result {
        actix::MessageResult(NodeStatus {
            status: "ok",
            enclave_address: self.identity.address,
            owner_configured: self.owner.is_some(),
            gas_configured: self.gas_address.is_some(),
            registered: self.registration.is_some(),
        })
    }
}

impl Handler<ExecutorRegistered> for NodeSetup {
    type Result = ();

    fn handle(&mut self, msg: ExecutorRegistered, _: &mut Context<Self>) {
        if self.owner.is_some_and(|owner| owner != msg.owner) {
            warn!(chain_owner = %msg.owner, "Registered on chain by an owner other than the configured one.");
        }
        if self.registration.as_ref() != Some(&msg) {
            info!(
                enclave = %self.identity.address,
                owner = %msg.owner,
                job_capacity = msg.job_capacity,
                env = %msg.env,
                block = ?msg.block_number,
                "Executor registered on chain."
            );
        }
        self.registration = Some(msg);
    }
}

impl Handler<ExecutorDeregistered> for NodeSetup {
    type Result = ();

    fn handle(&mut self, msg: ExecutorDeregistered, _: &mut Context<Self>) {
        if self.registration.take().is_some() {
            info!(enclave = %self.identity.address, block = ?msg.block_number, "Executor deregistered on chain.");
        }
    }
}

fn parse_owner(hex_text: &str) -> Result<Address, SetupError> {
    let bytes = decode_hex(hex_text).map_err(SetupError::OwnerHex)?;
    let array: [u8; 20] = bytes.try_into().map_err(|_| SetupError::OwnerLength)?;
    let owner = Address(array);
    if owner.is_zero() {
        return Err(SetupError::OwnerZero);
    }
    Ok(owner)
}

fn parse_gas_key(hex_text: &str, enclave: Address) -> Result<SecretKey, SetupError> {
    let bytes = zeroize::Zeroizing::new(decode_hex(hex_text).map_err(SetupError::GasKeyHex)?);
    let key = SecretKey::from_slice(&bytes).map_err(|error| match error {
        KeyError::Length(_) => SetupError::GasKeyLength,
        _ => SetupError::GasKeyScalar,
    })?;
    if crate::chain::ecdsa::address_of(key.signing_key().verifying_key()) == enclave {
        return Err(SetupError::GasKeyIsEnclaveKey);
    }
    Ok(key)
}

/// Unix time in milliseconds (0 if the clock is before 1970): compared with block timestamps
/// to time chain jobs.
pub fn now_unix_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| u64::try_from(elapsed.as_millis()).unwrap_or(u64::MAX))
        .unwrap_or(0)
}

/// Unix seconds from the wall clock: signature timestamps are compared with block timestamps.
pub fn now_unix() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|elapsed| elapsed.as_secs())
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn owner_parsing_follows_marlins_error_order() {
        assert!(matches!(parse_owner("abc"), Err(SetupError::OwnerHex(_))));
        assert!(matches!(
            parse_owner("0x1234"),
            Err(SetupError::OwnerLength)
        ));
        assert!(matches!(
            parse_owner(&"0".repeat(40)),
            Err(SetupError::OwnerZero)
        ));
        assert_eq!(parse_owner(&"11".repeat(20)).unwrap(), Address([0x11; 20]));
    }

    #[test]
    fn gas_key_parsing_refuses_bad_lengths_scalars_and_the_enclave_key() {
        let enclave = Address([1; 20]);
        assert!(matches!(
            parse_gas_key("zz", enclave),
            Err(SetupError::GasKeyHex(_))
        ));
        assert!(matches!(
            parse_gas_key(&"11".repeat(31), enclave),
            Err(SetupError::GasKeyLength)
        ));
        assert!(matches!(
            parse_gas_key(&"ff".repeat(32), enclave),
            Err(SetupError::GasKeyScalar)
        ));
        assert!(matches!(
            parse_gas_key(&"00".repeat(32), enclave),
            Err(SetupError::GasKeyScalar)
        ));
        let key = SecretKey::from_slice(&[0x22; 32]).unwrap();
        let own = crate::chain::ecdsa::address_of(key.signing_key().verifying_key());
        assert!(matches!(
            parse_gas_key(&"22".repeat(32), own),
            Err(SetupError::GasKeyIsEnclaveKey)
        ));
        assert!(parse_gas_key(&format!("0x{}", "22".repeat(32)), enclave).is_ok());
    }
}
