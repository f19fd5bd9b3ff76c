//! Table tests for [`decode_code_calldata`]: encodings made by ethers' ABI encoder round-trip,
//! and each kind of malformed input maps to the [`CalldataError`] that names it.

use ethers::abi::{encode, Token};

use super::*;

fn with_selector(selector: [u8; 4], tokens: &[Token]) -> Vec<u8> {
    let mut input = selector.to_vec();
    input.extend(encode(tokens));
    input
}

/// `saveCodeInCallData(string)` with arbitrary bytes in the string (same layout as `bytes`).
fn one(code: &[u8]) -> Vec<u8> {
    with_selector(SELECTOR_STRING, &[Token::Bytes(code.to_vec())])
}

/// `saveCodeInCallData(string,bytes)`.
fn two(code: &[u8], metadata: &[u8]) -> Vec<u8> {
    with_selector(
        SELECTOR_STRING_BYTES,
        &[Token::Bytes(code.to_vec()), Token::Bytes(metadata.to_vec())],
    )
}

fn word(value: u64) -> [u8; 32] {
    let mut word = [0; 32];
    word[24..].copy_from_slice(&value.to_be_bytes());
    word
}

/// `input` with the 32-byte word at argument offset `at` replaced.
fn set_word(mut input: Vec<u8>, at: usize, word: [u8; 32]) -> Vec<u8> {
    input[4 + at..4 + at + 32].copy_from_slice(&word);
    input
}

#[test]
fn selectors_are_the_keccak_of_the_signatures() {
    assert_eq!(
        ethers::utils::id("saveCodeInCallData(string)"),
        SELECTOR_STRING
    );
    assert_eq!(
        ethers::utils::id("saveCodeInCallData(string,bytes)"),
        SELECTOR_STRING_BYTES
    );
}

#[test]
fn both_forms_round_trip_through_the_ethers_encoder() {
    let big = "x".repeat(10 * 1024);
    let codes: [&[u8]; 7] = [
        b"",
        b"a",
        &[b'a'; 31],
        &[b'b'; 32],
        &[b'c'; 33],
        b"export default { fetch() { return new Response('hi') } }",
        big.as_bytes(),
    ];
    for code in codes {
        let string_token = Token::String(String::from_utf8(code.to_vec()).unwrap());
        let single = with_selector(SELECTOR_STRING, std::slice::from_ref(&string_token));
        assert_eq!(decode_code_calldata(&single).unwrap(), code);
        for metadata in [&b""[..], b"m", &[7; 64], &[9; 65]] {
            let tokens = [string_token.clone(), Token::Bytes(metadata.to_vec())];
            let double = with_selector(SELECTOR_STRING_BYTES, &tokens);
            assert_eq!(decode_code_calldata(&double).unwrap(), code);
        }
    }
}

#[test]
fn fixed_vectors_from_cast_decode() {
    // `cast calldata "saveCodeInCallData(string)" "ab"` and `... (string,bytes)" "ab" "0x01"`.
    let single = concat!(
        "ff7cdaf3",
        "0000000000000000000000000000000000000000000000000000000000000020",
        "0000000000000000000000000000000000000000000000000000000000000002",
        "6162000000000000000000000000000000000000000000000000000000000000",
    );
    let double = concat!(
        "1ae53fea",
        "0000000000000000000000000000000000000000000000000000000000000040",
        "0000000000000000000000000000000000000000000000000000000000000080",
        "0000000000000000000000000000000000000000000000000000000000000002",
        "6162000000000000000000000000000000000000000000000000000000000000",
        "0000000000000000000000000000000000000000000000000000000000000001",
        "0100000000000000000000000000000000000000000000000000000000000000",
    );
    for input in [single, double] {
        assert_eq!(
            decode_code_calldata(&hex::decode(input).unwrap()).unwrap(),
            b"ab"
        );
    }
}

#[test]
fn code_is_returned_exactly_with_nul_bytes_and_invalid_utf8() {
    let codes: [&[u8]; 5] = [
        b"let x = 1;\0\0",
        &[0; 32],
        &[0; 33],
        b"\0",
        &[0xff, 0xfe, 0, 0x80, 0],
    ];
    for code in codes {
        assert_eq!(decode_code_calldata(&one(code)).unwrap(), code);
        assert_eq!(decode_code_calldata(&two(code, b"\0\0")).unwrap(), code);
    }
}

type Case = (&'static str, Vec<u8>, CalldataError);

fn check(cases: Vec<Case>) {
    for (name, input, expected) in cases {
        assert_eq!(decode_code_calldata(&input), Err(expected), "{name}");
    }
}

/// The input with its last byte (padding in these cases) set to 1.
fn dirty_last(mut input: Vec<u8>) -> Vec<u8> {
    *input.last_mut().unwrap() = 1;
    input
}

#[test]
fn bad_selectors_and_short_heads_are_named() {
    use CalldataError as E;
    let mut create_job = one(b"abc");
    create_job[..4].copy_from_slice(&ethers::utils::id("createJob(uint8,bytes32,bytes,uint256)"));
    let mut short_two = one(b"abc")[..4 + 48].to_vec();
    short_two[..4].copy_from_slice(&SELECTOR_STRING_BYTES);
    check(vec![
        ("empty input", vec![], E::Empty),
        (
            "short selector",
            vec![0xff, 0x7c, 0xda],
            E::NoSelector { len: 3 },
        ),
        (
            "wrong selector",
            create_job,
            E::UnknownSelector([0xe7, 0xeb, 0xa1, 0x9b]),
        ),
        (
            "selector only",
            SELECTOR_STRING.to_vec(),
            E::TruncatedHead {
                needed: 32,
                available: 0,
            },
        ),
        (
            "truncated two-argument head",
            short_two,
            E::TruncatedHead {
                needed: 64,
                available: 48,
            },
        ),
    ]);
}

#[test]
fn bad_offsets_are_named() {
    use CalldataError as E;
    let valid = one(b"abc");
    let code = |offset, expected| E::NonCanonicalOffset {
        arg: Arg::Code,
        offset,
        expected,
    };
    let out_of_range = |offset| E::OffsetOutOfRange {
        arg: Arg::Code,
        offset,
        available: 96,
    };
    let mut gap = set_word(valid.clone(), 0, word(0x40));
    gap.splice(4 + 32..4 + 32, [0; 32]);
    let mut one_under_two = one(b"abc");
    one_under_two[..4].copy_from_slice(&SELECTOR_STRING_BYTES);
    let mut two_under_one = two(b"abc", b"");
    two_under_one[..4].copy_from_slice(&SELECTOR_STRING);
    check(vec![
        (
            "offset past the end",
            set_word(valid.clone(), 0, word(0x1000)),
            out_of_range(0x1000),
        ),
        (
            "offset of 2^256 - 1",
            set_word(valid.clone(), 0, [0xff; 32]),
            out_of_range(u64::MAX),
        ),
        (
            "no room for the length",
            set_word(valid.clone(), 0, word(0x50)),
            out_of_range(0x50),
        ),
        (
            "misaligned offset",
            set_word(valid.clone(), 0, word(0x21)),
            E::MisalignedOffset {
                arg: Arg::Code,
                offset: 0x21,
            },
        ),
        (
            "offset into the head",
            set_word(valid.clone(), 0, word(0)),
            code(0, 32),
        ),
        ("gap before the tail", gap, code(0x40, 32)),
        ("metadata tail first", metadata_first(), code(0x80, 64)),
        (
            "one-argument body, two-argument selector",
            one_under_two,
            code(0x20, 64),
        ),
        (
            "two-argument body, one-argument selector",
            two_under_one,
            code(0x40, 32),
        ),
        (
            "metadata offset not after the code",
            set_word(two(b"abc", b"m"), 32, word(0x40)),
            E::NonCanonicalOffset {
                arg: Arg::Metadata,
                offset: 0x40,
                expected: 0x80,
            },
        ),
    ]);
}

/// Valid ABI for `(string "abc", bytes "m")` with the metadata tail first: not strict mode.
fn metadata_first() -> Vec<u8> {
    let mut input = SELECTOR_STRING_BYTES.to_vec();
    let mut metadata = [0; 32];
    metadata[0] = b'm';
    let mut code = [0; 32];
    code[..3].copy_from_slice(b"abc");
    for part in [word(0x80), word(0x40), word(1), metadata, word(3), code] {
        input.extend(part);
    }
    input
}

#[test]
fn bad_lengths_and_short_bodies_are_named() {
    use CalldataError as E;
    let valid = one(b"abc");
    let too_large = |length| E::LengthTooLarge {
        arg: Arg::Code,
        length,
        max: MAX_ARG_BYTES,
    };
    let over = MAX_ARG_BYTES as u64 + 1;
    let truncated = |arg, needed, available| E::TruncatedBody {
        arg,
        needed,
        available,
    };
    check(vec![
        (
            "length of 2^256 - 1",
            set_word(valid.clone(), 32, [0xff; 32]),
            too_large(u64::MAX),
        ),
        (
            "length just over the limit",
            set_word(valid.clone(), 32, word(over)),
            too_large(over),
        ),
        (
            "length longer than the data",
            set_word(valid.clone(), 32, word(33)),
            truncated(Arg::Code, 64, 32),
        ),
        (
            "body cut by one byte",
            valid[..valid.len() - 1].to_vec(),
            truncated(Arg::Code, 32, 31),
        ),
        (
            "body cut at a word",
            valid[..valid.len() - 32].to_vec(),
            truncated(Arg::Code, 32, 0),
        ),
        (
            "metadata body cut",
            two(b"abc", &[1; 40])[..4 + 32 * 6].to_vec(),
            truncated(Arg::Metadata, 64, 32),
        ),
    ]);
}

#[test]
fn dirty_padding_and_trailing_bytes_are_named() {
    use CalldataError as E;
    let valid = one(b"abc");
    check(vec![
        (
            "non-zero code padding",
            dirty_last(valid.clone()),
            E::NonZeroPadding { arg: Arg::Code },
        ),
        (
            "non-zero metadata padding",
            dirty_last(two(b"abc", b"meta")),
            E::NonZeroPadding { arg: Arg::Metadata },
        ),
        (
            "a trailing zero word",
            valid.iter().copied().chain([0; 32]).collect(),
            E::TrailingBytes { extra: 32 },
        ),
        (
            "one trailing byte",
            valid.iter().copied().chain([0]).collect(),
            E::TrailingBytes { extra: 1 },
        ),
    ]);
}

#[test]
fn errors_read_as_sentences() {
    let error = decode_code_calldata(&[0xde, 0xad, 0xbe, 0xef]).unwrap_err();
    assert_eq!(
        error.to_string(),
        "selector 0xdeadbeef is not saveCodeInCallData"
    );
    let error = CalldataError::NonZeroPadding { arg: Arg::Metadata };
    assert_eq!(error.to_string(), "metadata bytes has non-zero padding");
}
