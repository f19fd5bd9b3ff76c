// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title IAttestationVerifier
/// @notice Interface of Marlin's AttestationVerifier as used by serverless-v2's Executors
///         (this project's mirror of the serverless-v2 interface, for local use).
interface IAttestationVerifier {
    struct Attestation {
        bytes enclavePubKey;
        bytes PCR0;
        bytes PCR1;
        bytes PCR2;
        uint256 timestampInMilliseconds;
    }

    /// @notice Reverts unless `signature` is a valid verifier signature over `attestation`.
    function verify(bytes calldata signature, Attestation calldata attestation) external view;
}

/// @title PermissiveAttestationVerifier
/// @notice LOCAL USE ONLY: accepts every attestation (verify never reverts). It stands in for
///         Marlin's AttestationVerifier, which checks a Nitro attestation signed by a verified
///         verifier enclave; there is no TEE on a local anvil chain. Executors still checks the
///         attestation age and the enclave's Register signature.
contract PermissiveAttestationVerifier is IAttestationVerifier {
    function verify(bytes calldata, Attestation calldata) external pure override {}
}
