//! User code: how it is carried in a code-upload transaction, which form it has, and how the
//! node keeps it.
//!
//! Pure building blocks for the `CodeStore` actor and the workerd runner, with no I/O and no
//! ethers types:
//! - [`calldata`]: strict ABI decoding of `saveCodeInCallData(string)` and
//!   `saveCodeInCallData(string,bytes)` (job outcome 2 when it fails);
//! - [`form`]: JavaScript module, raw WebAssembly command or bundle, told by the bytes;
//! - [`bundle`]: strict decoding of a ustar bundle into the loader's framing (outcome 3);
//! - [`cache`]: the byte-bounded LRU cache of decoded code, keyed by the upload's tx hash.
//!
//! The chain side (fetching the transaction and judging it, outcome 1) is
//! `crate::chain::code_tx`.

pub mod bundle;
pub mod cache;
pub mod calldata;
pub mod form;
