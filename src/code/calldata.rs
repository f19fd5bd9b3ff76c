//! Strict ABI decoding of a code-upload transaction's input: `saveCodeInCallData(string)`
//! (selector `0xff7cdaf3`, Marlin's v1 code contract) and `saveCodeInCallData(string,bytes)`
//! (`0x1ae53fea`, the current one). Pure: receives bytes, returns the code or a
//! [`CalldataError`] (job outcome 2).
//!
//! Invariants: the accepted encoding is Solidity's *strict encoding mode* (the one every
//! encoder produces: solc's `abi.encodeCall`, ethers, alloy, cast), where each tail starts
//! exactly where the previous part ends, so there are no gaps, overlaps or trailing bytes;
//! offsets are whole words; padding is zero; lengths are bounded by [`MAX_ARG_BYTES`]. The
//! returned code is the `string`'s bytes exactly: no UTF-8 check and no stripping, so code
//! that really ends in NUL bytes keeps them (Marlin strips every trailing zero).

/// `bytes4(keccak256("saveCodeInCallData(string)"))`.
pub const SELECTOR_STRING: [u8; 4] = [0xff, 0x7c, 0xda, 0xf3];
/// `bytes4(keccak256("saveCodeInCallData(string,bytes)"))`.
pub const SELECTOR_STRING_BYTES: [u8; 4] = [0x1a, 0xe5, 0x3f, 0xea];
/// Upper bound for either dynamic argument. No chain accepts a transaction this large
/// (geth's pool caps transactions at 128 KiB), so a bigger length word is malformed input.
pub const MAX_ARG_BYTES: usize = 4 * 1024 * 1024;

const WORD: usize = 32;

/// Which argument a decoding error is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Arg {
    /// The `string` holding the code.
    Code,
    /// The `bytes` metadata of the two-argument form.
    Metadata,
}

impl std::fmt::Display for Arg {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Self::Code => "code string",
            Self::Metadata => "metadata bytes",
        })
    }
}

/// Why calldata is not a valid `saveCodeInCallData` call. Offsets are counted from the first
/// byte after the selector, as in the ABI; values that do not fit a `u64` are shown as
/// `u64::MAX`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum CalldataError {
    /// No bytes at all (a plain value transfer).
    #[error("calldata is empty")]
    Empty,
    /// Fewer than the 4 bytes of a selector.
    #[error("calldata of {len} bytes has no complete selector")]
    NoSelector {
        /// Input length.
        len: usize,
    },
    /// A selector other than the two `saveCodeInCallData` overloads.
    #[error("selector 0x{} is not saveCodeInCallData", hex::encode(.0))]
    UnknownSelector([u8; 4]),
    /// The head (one offset word per argument) is cut short.
    #[error("head needs {needed} bytes but the arguments have {available}")]
    TruncatedHead {
        /// Bytes the head needs.
        needed: usize,
        /// Bytes present.
        available: usize,
    },
    /// An offset points past the end of the arguments.
    #[error("{arg} offset {offset} points outside the {available} bytes of arguments")]
    OffsetOutOfRange {
        /// The argument.
        arg: Arg,
        /// The offset word.
        offset: u64,
        /// Bytes present.
        available: usize,
    },
    /// An offset is not a multiple of 32.
    #[error("{arg} offset {offset} is not a multiple of 32")]
    MisalignedOffset {
        /// The argument.
        arg: Arg,
        /// The offset word.
        offset: u64,
    },
    /// An offset leaves a gap, overlaps another part or points into the head.
    #[error("{arg} offset {offset} is not the strict-mode offset {expected}")]
    NonCanonicalOffset {
        /// The argument.
        arg: Arg,
        /// The offset word.
        offset: u64,
        /// Where the strict encoding puts this tail.
        expected: usize,
    },
    /// A length word above [`MAX_ARG_BYTES`].
    #[error("{arg} length {length} exceeds the limit of {max} bytes")]
    LengthTooLarge {
        /// The argument.
        arg: Arg,
        /// The length word.
        length: u64,
        /// The limit.
        max: usize,
    },
    /// The length word promises more bytes than the input has.
    #[error("{arg} needs {needed} bytes after its length word but {available} remain")]
    TruncatedBody {
        /// The argument.
        arg: Arg,
        /// Padded bytes the length calls for.
        needed: usize,
        /// Bytes present after the length word.
        available: usize,
    },
    /// A padding byte after the argument's data is not zero.
    #[error("{arg} has non-zero padding")]
    NonZeroPadding {
        /// The argument.
        arg: Arg,
    },
    /// Bytes after the last tail (including a partial word).
    #[error("{extra} bytes follow the encoded arguments")]
    TrailingBytes {
        /// How many.
        extra: usize,
    },
}

/// Decodes the input of a code-upload transaction and returns the code string's bytes exactly.
pub fn decode_code_calldata(input: &[u8]) -> Result<Vec<u8>, CalldataError> {
    let (selector, args) = match input {
        [] => return Err(CalldataError::Empty),
        [a, b, c, d, args @ ..] => ([*a, *b, *c, *d], args),
        _ => return Err(CalldataError::NoSelector { len: input.len() }),
    };
    let arity = match selector {
        SELECTOR_STRING => 1,
        SELECTOR_STRING_BYTES => 2,
        other => return Err(CalldataError::UnknownSelector(other)),
    };
    let head = arity * WORD;
    if args.len() < head {
        return Err(CalldataError::TruncatedHead {
            needed: head,
            available: args.len(),
        });
    }
    let code = read_tail(args, 0, head, Arg::Code)?;
    let mut end = code.end;
    if arity == 2 {
        end = read_tail(args, WORD, end, Arg::Metadata)?.end;
    }
    if end != args.len() {
        return Err(CalldataError::TrailingBytes {
            extra: args.len() - end,
        });
    }
    Ok(args[code.data].to_vec())
}

/// Where one dynamic argument's data lies, and where its padded tail ends.
struct Tail {
    data: std::ops::Range<usize>,
    end: usize,
}

/// Reads the offset word at `slot`, checks it equals `expected` (strict mode), then reads the
/// length word and the zero-padded data behind it.
fn read_tail(args: &[u8], slot: usize, expected: usize, arg: Arg) -> Result<Tail, CalldataError> {
    let raw = word_at(args, slot);
    let offset = to_usize(raw).filter(|offset| offset.saturating_add(WORD) <= args.len());
    let Some(offset) = offset else {
        return Err(CalldataError::OffsetOutOfRange {
            arg,
            offset: saturated(raw),
            available: args.len(),
        });
    };
    if offset % WORD != 0 {
        return Err(CalldataError::MisalignedOffset {
            arg,
            offset: saturated(raw),
        });
    }
    if offset != expected {
        return Err(CalldataError::NonCanonicalOffset {
            arg,
            offset: saturated(raw),
            expected,
        });
    }
    let length_word = word_at(args, offset);
    let length = to_usize(length_word)
        .filter(|length| *length <= MAX_ARG_BYTES)
        .ok_or(CalldataError::LengthTooLarge {
            arg,
            length: saturated(length_word),
            max: MAX_ARG_BYTES,
        })?;
    let start = offset + WORD;
    let padded = length.div_ceil(WORD) * WORD;
    let available = args.len() - start;
    if padded > available {
        return Err(CalldataError::TruncatedBody {
            arg,
            needed: padded,
            available,
        });
    }
    let end = start + padded;
    if args[start + length..end].iter().any(|byte| *byte != 0) {
        return Err(CalldataError::NonZeroPadding { arg });
    }
    Ok(Tail {
        data: start..start + length,
        end,
    })
}

/// The 32-byte word at `at`; callers have checked `at + 32 <= args.len()`.
fn word_at(args: &[u8], at: usize) -> &[u8; WORD] {
    args[at..at + WORD]
        .try_into()
        .expect("the caller checked that a whole word is present")
}

/// The word as a `u64` when it fits one.
fn to_u64(word: &[u8; WORD]) -> Option<u64> {
    let (high, low) = word.split_at(WORD - 8);
    if high.iter().any(|byte| *byte != 0) {
        return None;
    }
    Some(u64::from_be_bytes(low.try_into().ok()?))
}

/// The word as a `usize` when it fits one.
fn to_usize(word: &[u8; WORD]) -> Option<usize> {
    to_u64(word).and_then(|value| usize::try_from(value).ok())
}

/// The word as a `u64` for error messages, `u64::MAX` when larger.
fn saturated(word: &[u8; WORD]) -> u64 {
    to_u64(word).unwrap_or(u64::MAX)
}

#[cfg(test)]
mod tests;
