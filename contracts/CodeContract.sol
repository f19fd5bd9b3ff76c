// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title CodeContract
/// @notice Code-upload contract mirroring Marlin's serverless-v2 interface for local use: the
///         JavaScript code lives only in the calldata of the upload transaction and a job refers
///         to it by that transaction's hash (`codehash` in Jobs.createJob).
/// @dev Both forms are provided:
///      - `saveCodeInCallData(string)`        selector 0xff7cdaf3 (v1 form, what the standalone executor parses)
///      - `saveCodeInCallData(string,bytes)`  selector 0x1ae53fea (current monorepo OysterServerlessCodeContract)
///      Both only emit `CodeCreated` (empty metadata for the one-argument form).
contract CodeContract {
    event CodeCreated(address indexed owner, bytes metadata);

    function saveCodeInCallData(string calldata inputData) external {
        inputData; // the code is kept in calldata only
        emit CodeCreated(msg.sender, "");
    }

    function saveCodeInCallData(string calldata inputData, bytes calldata metadata) external {
        inputData; // the code is kept in calldata only
        emit CodeCreated(msg.sender, metadata);
    }
}
