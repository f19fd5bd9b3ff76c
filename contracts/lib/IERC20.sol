// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

/// @title IERC20
/// @notice The ERC-20 subset used by the local serverless-v2 contracts, plus a helper that turns a
///         `false` return into a revert (our TestToken always reverts or returns true).
interface IERC20 {
    event Transfer(address indexed from, address indexed to, uint256 value);
    event Approval(address indexed owner, address indexed spender, uint256 value);

    function totalSupply() external view returns (uint256);
    function balanceOf(address account) external view returns (uint256);
    function allowance(address owner, address spender) external view returns (uint256);
    function transfer(address to, uint256 value) external returns (bool);
    function approve(address spender, uint256 value) external returns (bool);
    function transferFrom(address from, address to, uint256 value) external returns (bool);
}

library SafeTransfer {
    error SafeTransferFailed(address token);

    function safeTransfer(IERC20 token, address to, uint256 value) internal {
        if (value == 0) return;
        if (!token.transfer(to, value)) revert SafeTransferFailed(address(token));
    }

    function safeTransferFrom(IERC20 token, address from, address to, uint256 value) internal {
        if (value == 0) return;
        if (!token.transferFrom(from, to, value)) revert SafeTransferFailed(address(token));
    }
}
