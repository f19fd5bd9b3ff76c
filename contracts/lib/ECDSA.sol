// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title ECDSA
/// @notice Minimal secp256k1 signature recovery for the local serverless-v2 contracts.
/// @dev Written for this project (no OpenZeppelin import); behaviour and error names follow
///      OpenZeppelin 5 `ECDSA.recover(bytes32, bytes)`:
///      - only 65-byte signatures r(32) || s(32) || v(1) are accepted,
///        else `ECDSAInvalidSignatureLength(length)`;
///      - s must be in the lower half of the curve order (EIP-2), else `ECDSAInvalidSignatureS(s)`;
///      - v must be 27 or 28 and the recovered address non-zero, else `ECDSAInvalidSignature()`.
library ECDSA {
    error ECDSAInvalidSignature();
    error ECDSAInvalidSignatureLength(uint256 length);
    error ECDSAInvalidSignatureS(bytes32 s);

    /// @dev secp256k1n / 2
    uint256 internal constant HALF_ORDER = 0x7FFFFFFFFFFFFFFFFFFFFFFFFFFFFFFF5D576E7357A4501DDFE92F46681B20A0;

    /// @notice Recovers the signer of `digest` from a 65-byte r||s||v signature; reverts when invalid.
    function recover(bytes32 digest, bytes memory signature) internal pure returns (address) {
        if (signature.length != 65) revert ECDSAInvalidSignatureLength(signature.length);
        bytes32 r;
        bytes32 s;
        uint8 v;
        assembly ("memory-safe") {
            r := mload(add(signature, 0x20))
            s := mload(add(signature, 0x40))
            v := byte(0, mload(add(signature, 0x60)))
        }
        return recover(digest, v, r, s);
    }

    /// @notice Recovers the signer of `digest` from its (v, r, s) parts; reverts when invalid.
    function recover(bytes32 digest, uint8 v, bytes32 r, bytes32 s) internal pure returns (address) {
        if (uint256(s) > HALF_ORDER) revert ECDSAInvalidSignatureS(s);
        if (v != 27 && v != 28) revert ECDSAInvalidSignature();
        address signer = ecrecover(digest, v, r, s);
        if (signer == address(0)) revert ECDSAInvalidSignature();
        return signer;
    }
}
