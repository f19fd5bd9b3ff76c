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
}

impl GasWallet {
    /// Takes ownership of the key; transactions will be signed for `chain_id`.
    pub fn new(key: SecretKey, chain_id: u64) -> Self {
        let signing_key = key.signing_key().clone();
        let address = address_of(signing_key.verifying_key());
        let wallet = LocalWallet::from(signing_key).with_chain_id(chain_id);
        Self { wallet, address }
    }

    /// The account that pays gas.
    pub fn address(&self) -> Address {
        self.address
    }

    /// The ethers wallet, for transaction signing inside `chain/`.
    pub fn wallet(&self) -> &LocalWallet {
        &self.wallet
    }
}

impl fmt::Debug for GasWallet {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GasWallet")
            .field("address", &self.address)
            .finish_non_exhaustive()
    }
}
