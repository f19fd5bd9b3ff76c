//! The gas wallet: the gas key in the form ethers signs transactions with.
//!
//! Held only by `TxSender`. The underlying k256 key zeroizes itself on drop; this type has no
//! `Display`/`Serialize` and its `Debug` shows the address only.

use std::fmt;

use ethers::signers::{LocalWallet, Signer as _};

use crate::chain::ecdsa::address_of;
use crate::domain::Address;
use crate::secrets::SecretKey;

/// A gas key bound to a chain id.
pub struct GasWallet {
    wallet: LocalWallet,
    address: Address,
    chain_id: u64,
}

impl GasWallet {
    /// Takes ownership of the key; transactions will be signed for `chain_id`.
    pub fn new(key: SecretKey, chain_id: u64) -> Self {
        let signing_key = key.signing_key().clone();
        let address = address_of(signing_key.verifying_key());
        let wallet = LocalWallet::from(signing_key).with_chain_id(chain_id);
        Self {
            wallet,
            address,
            chain_id,
        }
    }

    /// The account that pays gas.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The chain id transactions are signed for.
    pub fn chain_id(&self) -> u64 {
        self.chain_id
    }

    /// Signs a transaction (EIP-155 / typed, with this wallet's chain id).
    pub(crate) fn sign(
        &self,
        tx: &ethers::types::transaction::eip2718::TypedTransaction,
    ) -> Result<ethers::types::Signature, ethers::signers::WalletError> {
        self.wallet.sign_transaction_sync(tx)
    }
}

impl fmt::Debug for GasWallet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GasWallet")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}
