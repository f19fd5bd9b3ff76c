//! `code upload FILE`: sends the `saveCodeInCallData` transaction in either form and prints its
//! hash (the code id jobs name) and the calldata size.
//!
//! Receives [`UploadArgs`]; sends one transaction from the key file's account. The calldata is
//! decoded with the node's own decoder before it is sent, so what is uploaded is what a node
//! will run; code above the node's cap is refused without a transaction.

use std::io::Write as _;

use ethers::abi::Token;

use super::args::{Form, UploadArgs};
use super::client::{self, ClientError};
use super::{read_file, DevkitError};
use crate::code::calldata::{
    decode_code_calldata, MAX_ARG_BYTES, SELECTOR_STRING, SELECTOR_STRING_BYTES,
};

/// The calldata of an upload of `code` in `form`.
pub fn calldata(code: &[u8], form: Form, metadata: &[u8]) -> Vec<u8> {
    // ABI `string` and `bytes` are laid out alike; `Bytes` keeps code that is not UTF-8 exact.
    let (selector, tokens) = match form {
        Form::V1 => (SELECTOR_STRING, vec![Token::Bytes(code.to_vec())]),
        Form::V2 => (
            SELECTOR_STRING_BYTES,
            vec![Token::Bytes(code.to_vec()), Token::Bytes(metadata.to_vec())],
        ),
    };
    let mut data = selector.to_vec();
    data.extend(ethers::abi::encode(&tokens));
    data
}

/// `code upload`.
pub async fn upload(args: &UploadArgs) -> Result<u8, DevkitError> {
    let code = read_file(&args.file)?;
    if code.len() > MAX_ARG_BYTES {
        return Err(DevkitError::Usage(format!(
            "the code is {} bytes; nodes accept at most {MAX_ARG_BYTES}",
            code.len()
        )));
    }
    let metadata = hex::decode(args.metadata.trim_start_matches("0x"))
        .map_err(|_| DevkitError::Usage("--metadata is not hex".into()))?;
    if args.form == Form::V1 && !metadata.is_empty() {
        return Err(DevkitError::Usage("--metadata needs --form v2".into()));
    }
    let data = calldata(&code, args.form, &metadata);
    decode_code_calldata(&data)
        .map_err(|error| DevkitError::Usage(format!("a node would refuse this code: {error}")))?;
    let to = client::address("--code-contract", &args.code_contract)?;
    let writer = client::writer(&args.chain.rpc, &args.key_file).await?;
    let size = data.len();
    let receipt = client::send(&writer, to, data, "saveCodeInCallData").await?;
    let mut stdout = std::io::stdout().lock();
    writeln!(stdout, "{:?}", receipt.transaction_hash).map_err(DevkitError::Write)?;
    writeln!(
        std::io::stderr(),
        "code uploaded: transaction {:?} (the code id), calldata {size} bytes, block {}",
        receipt.transaction_hash,
        receipt.block_number.map_or(0, |number| number.as_u64())
    )
    .map_err(DevkitError::Write)?;
    Ok(super::exit::OK)
}

impl From<ClientError> for DevkitError {
    fn from(error: ClientError) -> Self {
        Self::Chain(error)
    }
}
