// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {IAttestationVerifier} from "./AttestationVerifier.sol";
import {ECDSA} from "./lib/ECDSA.sol";
import {IERC20, SafeTransfer} from "./lib/IERC20.sol";

/// @title Executors
/// @notice Executor registry mirroring Marlin's serverless-v2 `Executors` interface for local use
///         (anvil, tests, demo). Same events, function signatures, EIP-712 Register digest and
///         checks as upstream; simplified internals:
///         - plain contract with a constructor (no UUPS proxy, no AccessControl library): the
///           deployer is the admin and `setJobs` (once) names the single holder of JOBS_ROLE;
///         - no image whitelist: the attestation is checked by `ATTESTATION_VERIFIER.verify` and
///           its age only (use PermissiveAttestationVerifier locally);
///         - no sortition tree: one array of executors per env; `selectExecutors` walks it and does
///           a stake-weighted draw without replacement.
contract Executors {
    using SafeTransfer for IERC20;

    // ------------------------------------------------------------------ errors
    error AccessControlUnauthorizedAccount(address account, bytes32 neededRole);
    error ExecutorsJobsAlreadySet();
    error ExecutorsZeroAddress();
    error ExecutorsUnsupportedEnv();
    error ExecutorsEnvAlreadyInitialized();
    error ExecutorsExecutorAlreadyExists();
    error ExecutorsSignatureTooOld();
    error ExecutorsInvalidSigner();
    error ExecutorsInvalidAmount();
    error ExecutorsNotOwner();
    error ExecutorsAlreadyDraining();
    error ExecutorsAlreadyRevived();
    error ExecutorsNotDraining();
    error ExecutorsHasPendingJobs();
    error ExecutorsInsufficientStake();
    error ExecutorsInvalidBips();
    error AttestationAutherPubkeyLengthInvalid();
    error AttestationAutherAttestationTooOld();
    error AttestationAutherKeyNotVerified();

    // ------------------------------------------------------------------ events
    event ExecutorRegistered(address indexed enclaveAddress, address indexed owner, uint256 jobCapacity, uint8 env);
    event ExecutorDeregistered(address indexed enclaveAddress);
    event ExecutorDrained(address indexed enclaveAddress);
    event ExecutorRevived(address indexed enclaveAddress);
    event ExecutorStakeAdded(address indexed enclaveAddress, uint256 addedAmount);
    event ExecutorStakeRemoved(address indexed enclaveAddress, uint256 removedAmount);
    event JobsSet(address indexed jobs);

    // ------------------------------------------------------------------ constants
    bytes32 public constant DEFAULT_ADMIN_ROLE = 0x00;
    /// @dev keccak256("JOBS_ROLE") = 0x2464ce10d3e48aedc0f9ee5bb7129700dbde33b46f59f849f204831f1e2e1b5c
    bytes32 public constant JOBS_ROLE = keccak256("JOBS_ROLE");

    /// @dev keccak256("EIP712Domain(string name,string version)")
    bytes32 private constant DOMAIN_TYPEHASH = keccak256("EIP712Domain(string name,string version)");
    /// @dev 0x871063a5a882629313a49affd6d5731126799cfa9053a1481fe360bb79fd49a3
    bytes32 public constant DOMAIN_SEPARATOR =
        keccak256(abi.encode(DOMAIN_TYPEHASH, keccak256("marlin.oyster.Executors"), keccak256("1")));
    /// @dev 0xcb0a8deacc8469b7863064f592608a4aaa1d53f404c1fb80308ea559b5911317
    bytes32 public constant REGISTER_TYPEHASH =
        keccak256("Register(address owner,uint256 jobCapacity,uint8 env,uint256 signTimestamp)");

    // ------------------------------------------------------------------ immutables / config
    IAttestationVerifier public immutable ATTESTATION_VERIFIER;
    IERC20 public immutable STAKING_TOKEN;
    uint256 public immutable MIN_STAKE_AMOUNT;
    /// @notice Maximum age, in seconds, of an attestation and of a Register signature.
    uint256 public immutable ATTESTATION_MAX_AGE;

    address public admin;
    /// @notice The Jobs contract, sole holder of JOBS_ROLE (set once by the admin).
    address public JOBS;

    // ------------------------------------------------------------------ state
    /// @dev owner, activeJobs, draining and env share one storage slot that is never zero while the
    ///      executor exists, so taking/releasing a job slot always costs the same gas whichever executor
    ///      is picked (eth_estimateGas of createJob stays valid when the pseudo-random pick differs).
    struct Executor {
        uint256 jobCapacity;
        uint256 stakeAmount;
        address owner;
        uint64 activeJobs;
        bool draining;
        uint8 env;
    }

    mapping(address => Executor) private executorData;
    /// @notice Image id (keccak256(PCR0 || PCR1 || PCR2)) of each verified enclave key; 0 = not verified.
    mapping(address => bytes32) public getVerifiedKey;
    mapping(uint8 => bool) public isTreeInitialized;

    mapping(uint8 => address[]) private envExecutors;
    /// @dev index + 1 of the executor in envExecutors[env]; 0 = absent
    mapping(address => uint256) private envIndex;

    // ------------------------------------------------------------------ modifiers
    modifier onlyAdmin() {
        if (msg.sender != admin) revert AccessControlUnauthorizedAccount(msg.sender, DEFAULT_ADMIN_ROLE);
        _;
    }

    modifier onlyJobs() {
        if (msg.sender != JOBS || msg.sender == address(0)) revert AccessControlUnauthorizedAccount(msg.sender, JOBS_ROLE);
        _;
    }

    modifier onlyExecutorOwner(address _enclaveAddress) {
        if (executorData[_enclaveAddress].owner != msg.sender || msg.sender == address(0)) revert ExecutorsNotOwner();
        _;
    }

    /// @param attestationVerifier contract implementing IAttestationVerifier
    /// @param stakingToken ERC-20 staked by executors (POND)
    /// @param minStakeAmount executors with less stake are never selected
    /// @param attestationMaxAge seconds; bounds both the attestation age and the Register signature age
    constructor(address attestationVerifier, address stakingToken, uint256 minStakeAmount, uint256 attestationMaxAge) {
        if (attestationVerifier == address(0) || stakingToken == address(0)) revert ExecutorsZeroAddress();
        ATTESTATION_VERIFIER = IAttestationVerifier(attestationVerifier);
        STAKING_TOKEN = IERC20(stakingToken);
        MIN_STAKE_AMOUNT = minStakeAmount;
        ATTESTATION_MAX_AGE = attestationMaxAge;
        admin = msg.sender;
    }

    // ------------------------------------------------------------------ admin

    /// @notice Names the Jobs contract (the holder of JOBS_ROLE). Admin only, once.
    function setJobs(address jobs) external onlyAdmin {
        if (JOBS != address(0)) revert ExecutorsJobsAlreadySet();
        if (jobs == address(0)) revert ExecutorsZeroAddress();
        JOBS = jobs;
        emit JobsSet(jobs);
    }

    /// @notice AccessControl-style view: DEFAULT_ADMIN_ROLE = admin, JOBS_ROLE = the Jobs contract.
    function hasRole(bytes32 role, address account) external view returns (bool) {
        if (account == address(0)) return false;
        if (role == DEFAULT_ADMIN_ROLE) return account == admin;
        if (role == JOBS_ROLE) return account == JOBS;
        return false;
    }

    // ------------------------------------------------------------------ executor lifecycle

    /// @notice Registers an enclave as an executor owned by msg.sender.
    /// @dev Checks, in order: env initialised; 64-byte pubkey; not already registered; attestation age;
    ///      ATTESTATION_VERIFIER.verify; Register signature age; Register signer == enclave. Then pulls
    ///      the stake from msg.sender.
    function registerExecutor(
        bytes calldata _attestationSignature,
        IAttestationVerifier.Attestation calldata _attestation,
        uint256 _jobCapacity,
        uint256 _signTimestamp,
        bytes calldata _signature,
        uint256 _stakeAmount,
        uint8 _env
    ) external {
        if (!isTreeInitialized[_env]) revert ExecutorsUnsupportedEnv();

        address enclaveAddress = _pubKeyToAddress(_attestation.enclavePubKey);
        if (executorData[enclaveAddress].owner != address(0)) revert ExecutorsExecutorAlreadyExists();

        _verifyEnclaveKey(enclaveAddress, _attestationSignature, _attestation);
        _verifySign(enclaveAddress, msg.sender, _jobCapacity, _env, _signTimestamp, _signature);

        if (_stakeAmount == 0 && MIN_STAKE_AMOUNT != 0) revert ExecutorsInvalidAmount();

        executorData[enclaveAddress] = Executor({
            jobCapacity: _jobCapacity,
            activeJobs: 0,
            stakeAmount: _stakeAmount,
            owner: msg.sender,
            draining: false,
            env: _env
        });
        envExecutors[_env].push(enclaveAddress);
        envIndex[enclaveAddress] = envExecutors[_env].length;

        emit ExecutorRegistered(enclaveAddress, msg.sender, _jobCapacity, _env);

        if (_stakeAmount != 0) {
            STAKING_TOKEN.safeTransferFrom(msg.sender, address(this), _stakeAmount);
            emit ExecutorStakeAdded(enclaveAddress, _stakeAmount);
        }
    }

    /// @notice Removes a drained executor with no active jobs, revokes its key and returns its stake.
    function deregisterExecutor(address _enclaveAddress) external onlyExecutorOwner(_enclaveAddress) {
        Executor memory executor = executorData[_enclaveAddress];
        if (!executor.draining) revert ExecutorsNotDraining();
        if (executor.activeJobs != 0) revert ExecutorsHasPendingJobs();

        _removeFromEnv(_enclaveAddress, executor.env);
        delete executorData[_enclaveAddress];
        delete getVerifiedKey[_enclaveAddress];

        emit ExecutorDeregistered(_enclaveAddress);

        if (executor.stakeAmount != 0) {
            STAKING_TOKEN.safeTransfer(executor.owner, executor.stakeAmount);
            emit ExecutorStakeRemoved(_enclaveAddress, executor.stakeAmount);
        }
    }

    /// @notice Stops new jobs being assigned to the executor (running jobs continue).
    function drainExecutor(address _enclaveAddress) external onlyExecutorOwner(_enclaveAddress) {
        if (executorData[_enclaveAddress].draining) revert ExecutorsAlreadyDraining();
        executorData[_enclaveAddress].draining = true;
        emit ExecutorDrained(_enclaveAddress);
    }

    /// @notice Makes a drained executor selectable again.
    function reviveExecutor(address _enclaveAddress) external onlyExecutorOwner(_enclaveAddress) {
        if (!executorData[_enclaveAddress].draining) revert ExecutorsAlreadyRevived();
        executorData[_enclaveAddress].draining = false;
        emit ExecutorRevived(_enclaveAddress);
    }

    function addExecutorStake(address _enclaveAddress, uint256 _amount) external onlyExecutorOwner(_enclaveAddress) {
        if (_amount == 0) revert ExecutorsInvalidAmount();
        executorData[_enclaveAddress].stakeAmount += _amount;
        STAKING_TOKEN.safeTransferFrom(msg.sender, address(this), _amount);
        emit ExecutorStakeAdded(_enclaveAddress, _amount);
    }

    /// @notice Withdraws stake; the executor must be draining and have no active jobs.
    function removeExecutorStake(address _enclaveAddress, uint256 _amount) external onlyExecutorOwner(_enclaveAddress) {
        Executor storage executor = executorData[_enclaveAddress];
        if (!executor.draining) revert ExecutorsNotDraining();
        if (executor.activeJobs != 0) revert ExecutorsHasPendingJobs();
        if (_amount == 0) revert ExecutorsInvalidAmount();
        if (_amount > executor.stakeAmount) revert ExecutorsInsufficientStake();
        executor.stakeAmount -= _amount;
        STAKING_TOKEN.safeTransfer(msg.sender, _amount);
        emit ExecutorStakeRemoved(_enclaveAddress, _amount);
    }

    // ------------------------------------------------------------------ views

    /// @notice executors(enclave) -> (jobCapacity, activeJobs, stakeAmount, owner, draining, env); all zero if unknown.
    function executors(address _enclaveAddress)
        external
        view
        returns (uint256 jobCapacity, uint256 activeJobs, uint256 stakeAmount, address owner, bool draining, uint8 env)
    {
        Executor memory e = executorData[_enclaveAddress];
        return (e.jobCapacity, e.activeJobs, e.stakeAmount, e.owner, e.draining, e.env);
    }

    function getOwner(address _enclaveAddress) external view returns (address) {
        return executorData[_enclaveAddress].owner;
    }

    /// @notice Reverts AttestationAutherKeyNotVerified unless `_key` is a registered (not deregistered) enclave.
    function allowOnlyVerified(address _key) external view {
        if (getVerifiedKey[_key] == bytes32(0)) revert AttestationAutherKeyNotVerified();
    }

    /// @notice Number of registered executors (any state) in `_env`.
    function nodesInTree(uint8 _env) external view returns (uint256) {
        return envExecutors[_env].length;
    }

    /// @notice Whether `_enclaveAddress` could be selected now (env initialised, not draining, free capacity, stake >= min).
    function isNodePresentInTree(uint8 _env, address _enclaveAddress) external view returns (bool) {
        Executor memory e = executorData[_enclaveAddress];
        return isTreeInitialized[_env] && e.owner != address(0) && e.env == _env && _selectable(e);
    }

    // ------------------------------------------------------------------ JOBS_ROLE

    function initTree(uint8 _env) external onlyJobs {
        if (isTreeInitialized[_env]) revert ExecutorsEnvAlreadyInitialized();
        isTreeInitialized[_env] = true;
    }

    /// @notice Marks the env unsupported: no new registrations or selections in it.
    function removeTree(uint8 _env) external onlyJobs {
        if (!isTreeInitialized[_env]) revert ExecutorsUnsupportedEnv();
        isTreeInitialized[_env] = false;
    }

    /// @notice Stake-weighted pseudo-random selection, without replacement, of up to `_count` selectable
    ///         executors of `_env` (not draining, activeJobs < jobCapacity, stake >= MIN_STAKE_AMOUNT).
    ///         Increments activeJobs of each selected executor. Returns fewer if not enough are available.
    /// @dev Seed: keccak256(blockhash(block.number - 1), block.timestamp). Weight = stake + 1 (so a zero
    ///      stake is still selectable when MIN_STAKE_AMOUNT is 0). Not secure randomness (local use).
    function selectExecutors(uint8 _env, uint256 _count) external onlyJobs returns (address[] memory selected) {
        if (!isTreeInitialized[_env]) return new address[](0);
        address[] storage all = envExecutors[_env];
        uint256 n = all.length;
        address[] memory candidates = new address[](n);
        uint256[] memory weights = new uint256[](n);
        uint256 m;
        uint256 totalWeight;
        for (uint256 i = 0; i < n; i++) {
            Executor storage e = executorData[all[i]];
            if (!e.draining && e.activeJobs < e.jobCapacity && e.stakeAmount >= MIN_STAKE_AMOUNT) {
                candidates[m] = all[i];
                uint256 w = e.stakeAmount + 1;
                weights[m] = w;
                totalWeight += w;
                m++;
            }
        }
        uint256 k = _count < m ? _count : m;
        selected = new address[](k);
        uint256 seed = uint256(keccak256(abi.encode(block.number == 0 ? bytes32(0) : blockhash(block.number - 1), block.timestamp)));
        for (uint256 j = 0; j < k; j++) {
            uint256 r = uint256(keccak256(abi.encode(seed, j))) % totalWeight;
            // branch-free walk over all m candidates, so the gas used does not depend on the pick
            // (equivalent to: first t with r < weights[t], subtracting the weights passed over)
            uint256 idx = m;
            for (uint256 t = 0; t < m; t++) {
                assembly ("memory-safe") {
                    let w := mload(add(add(weights, 0x20), mul(t, 0x20)))
                    let open := eq(idx, m)
                    let hit := and(open, lt(r, w))
                    idx := add(mul(hit, t), mul(iszero(hit), idx))
                    r := sub(r, mul(and(open, iszero(hit)), w))
                }
            }
            selected[j] = candidates[idx];
            totalWeight -= weights[idx];
            weights[idx] = 0;
            executorData[candidates[idx]].activeJobs += 1;
        }
    }

    /// @notice Frees one job slot of the executor.
    function releaseExecutor(address _enclaveAddress) external onlyJobs {
        _release(_enclaveAddress);
    }

    /// @notice Slashes `_bips`/10000 of the executor's stake to the Jobs contract and frees its job slot.
    function slashExecutor(address _enclaveAddress, uint256 _bips) external onlyJobs returns (uint256 amount) {
        if (_bips > 10_000) revert ExecutorsInvalidBips();
        Executor storage executor = executorData[_enclaveAddress];
        amount = (executor.stakeAmount * _bips) / 10_000;
        executor.stakeAmount -= amount;
        _release(_enclaveAddress);
        STAKING_TOKEN.safeTransfer(msg.sender, amount);
    }

    // ------------------------------------------------------------------ internals

    function _selectable(Executor memory e) private view returns (bool) {
        return !e.draining && e.activeJobs < e.jobCapacity && e.stakeAmount >= MIN_STAKE_AMOUNT;
    }

    function _release(address _enclaveAddress) private {
        Executor storage executor = executorData[_enclaveAddress];
        if (executor.activeJobs != 0) executor.activeJobs -= 1;
    }

    function _pubKeyToAddress(bytes calldata _pubKey) private pure returns (address) {
        if (_pubKey.length != 64) revert AttestationAutherPubkeyLengthInvalid();
        return address(uint160(uint256(keccak256(_pubKey))));
    }

    function _verifyEnclaveKey(
        address _enclaveAddress,
        bytes calldata _attestationSignature,
        IAttestationVerifier.Attestation calldata _attestation
    ) private {
        // timestampInMilliseconds / 1000 > block.timestamp - ATTESTATION_MAX_AGE, without underflow
        if (
            block.timestamp > ATTESTATION_MAX_AGE
                && _attestation.timestampInMilliseconds / 1000 <= block.timestamp - ATTESTATION_MAX_AGE
        ) revert AttestationAutherAttestationTooOld();
        ATTESTATION_VERIFIER.verify(_attestationSignature, _attestation);
        bytes32 imageId = keccak256(abi.encodePacked(_attestation.PCR0, _attestation.PCR1, _attestation.PCR2));
        if (imageId == bytes32(0)) imageId = bytes32(uint256(1)); // 0 means "not verified"
        getVerifiedKey[_enclaveAddress] = imageId;
    }

    function _verifySign(
        address _enclaveAddress,
        address _owner,
        uint256 _jobCapacity,
        uint8 _env,
        uint256 _signTimestamp,
        bytes calldata _signature
    ) private view {
        // block.timestamp > _signTimestamp + ATTESTATION_MAX_AGE, without overflow
        if (block.timestamp > _signTimestamp && block.timestamp - _signTimestamp > ATTESTATION_MAX_AGE) {
            revert ExecutorsSignatureTooOld();
        }
        bytes32 structHash = keccak256(abi.encode(REGISTER_TYPEHASH, _owner, _jobCapacity, _env, _signTimestamp));
        bytes32 digest = keccak256(abi.encodePacked("\x19\x01", DOMAIN_SEPARATOR, structHash));
        address signer = ECDSA.recover(digest, _signature);
        if (signer != _enclaveAddress) revert ExecutorsInvalidSigner();
    }

    function _removeFromEnv(address _enclaveAddress, uint8 _env) private {
        uint256 idx1 = envIndex[_enclaveAddress];
        if (idx1 == 0) return;
        address[] storage list = envExecutors[_env];
        uint256 last = list.length - 1;
        if (idx1 - 1 != last) {
            address moved = list[last];
            list[idx1 - 1] = moved;
            envIndex[moved] = idx1;
        }
        list.pop();
        delete envIndex[_enclaveAddress];
    }
}
