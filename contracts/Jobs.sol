// SPDX-License-Identifier: MIT
pragma solidity ^0.8.20;

import {ECDSA} from "./lib/ECDSA.sol";
import {IERC20, SafeTransfer} from "./lib/IERC20.sol";
import {Executors} from "./Executors.sol";

/// @notice Callbacks made on the job owner (only when it is a contract).
interface IJobOwner {
    /// selector 0x30317d8b
    function oysterResultCall(uint256 jobId, bytes calldata output, uint8 errorCode, uint256 totalTime) external;
    /// selector 0xbe5171f0
    function oysterFailureCall(uint256 jobId, uint256 slashAmount) external;
}

/// @title Jobs
/// @notice Job registry mirroring Marlin's serverless-v2 `Jobs` interface for local use (anvil,
///         tests, demo): same events, function signatures, EIP-712 SubmitOutput digest, checks (in
///         the same order, with the same error names) and payouts as upstream. Differences: a plain
///         contract with a constructor (no UUPS proxy, no AccessControl library; the deployer is the
///         admin), and env fees are snapshotted into the job at creation.
/// @dev Job lifetime (same as upstream): a job is deleted after its 3rd accepted output, or by
///      slashOnExecutionTimeout. With NO_OF_NODES_TO_SELECT < 3 the job therefore stays stored after
///      its last output (a repeated submitOutput reverts JobsExecutorAlreadySubmittedOutput) until
///      someone calls slashOnExecutionTimeout after the deadline, which sends the unpaid executor
///      shares to the USDC pool (and slashes nobody, since every selected executor answered).
///      Payouts (USDC, to the executor's owner), with T = executionTime (totalTime of the 1st output,
///      capped to the deadline) * executionFeePerMs: 1st output 4/9 of T, 2nd 1/3 of T, 3rd the rest.
///      At the 1st output the job owner is refunded (deadline - executionTime) * (fee + reward) and
///      the USDC pool gets executionTime * stakingRewardPerMs.
contract Jobs {
    using SafeTransfer for IERC20;

    // ------------------------------------------------------------------ errors
    error AccessControlUnauthorizedAccount(address account, bytes32 neededRole);
    error JobsZeroAddress();
    error JobsInvalidConfig();
    error JobsGlobalEnvAlreadySupported();
    error JobsGlobalEnvAlreadyUnsupported();
    error JobsUnsupportedEnv();
    error JobsInvalidDeadline();
    error JobsUnavailableResources();
    error JobsExecutionTimeOver();
    error JobsSignatureTooOld();
    error JobsNotSelectedExecutor();
    error JobsExecutorAlreadySubmittedOutput();
    error JobsInvalidJob();
    error JobsDeadlineNotOver();
    /// @dev raised by Executors.allowOnlyVerified; declared here so the Jobs ABI decodes it
    error AttestationAutherKeyNotVerified();

    // ------------------------------------------------------------------ events
    event JobCreated(
        uint256 indexed jobId,
        uint8 indexed env,
        address indexed jobOwner,
        bytes32 codehash,
        bytes codeInputs,
        uint256 deadline,
        address[] selectedExecutors
    );
    event JobResponded(
        uint256 indexed jobId, address indexed executor, bytes output, uint256 totalTime, uint8 errorCode, uint8 outputCount
    );
    event JobResultCallbackCalled(uint256 indexed jobId, bool callback_success);
    event JobFailureCallbackCalled(uint256 indexed jobId, bool callback_success);
    event SlashedOnExecutionTimeout(uint256 indexed jobId, address indexed enclaveAddress);
    event GlobalEnvAdded(uint8 indexed env, uint256 executionFeePerMs, uint256 stakingRewardPerMs);
    event GlobalEnvRemoved(uint8 indexed env);

    // ------------------------------------------------------------------ constants
    bytes32 public constant DEFAULT_ADMIN_ROLE = 0x00;
    uint256 public constant SLASH_MAX_BIPS = 10_000;
    /// @notice After this many outputs a job is deleted (hard-coded, as upstream).
    uint256 public constant MAX_OUTPUTS = 3;

    /// @dev keccak256("EIP712Domain(string name,string version)")
    bytes32 private constant DOMAIN_TYPEHASH = keccak256("EIP712Domain(string name,string version)");
    /// @dev 0x92348788277b460cc420185f9a17ff6b57b89f1c70d19a46fce67bb5b5319731
    bytes32 public constant DOMAIN_SEPARATOR =
        keccak256(abi.encode(DOMAIN_TYPEHASH, keccak256("marlin.oyster.Jobs"), keccak256("1")));
    /// @dev 0x42945626249c0945b404564212f1ba09d966575b80478b5e114d067e3ca59bf6
    bytes32 public constant SUBMIT_OUTPUT_TYPEHASH =
        keccak256("SubmitOutput(uint256 jobId,bytes output,uint256 totalTime,uint8 errorCode,uint256 signTimestamp)");

    // ------------------------------------------------------------------ immutables
    IERC20 public immutable STAKING_TOKEN;
    IERC20 public immutable USDC_TOKEN;
    Executors public immutable EXECUTORS;
    /// @notice seconds
    uint256 public immutable SIGN_MAX_AGE;
    /// @notice seconds (multiplied by 1000 against millisecond deadlines)
    uint256 public immutable EXECUTION_BUFFER_TIME;
    uint256 public immutable NO_OF_NODES_TO_SELECT;
    address public immutable STAKING_PAYMENT_POOL;
    address public immutable USDC_PAYMENT_POOL;
    uint256 public immutable SLASH_PERCENT_IN_BIPS;

    address public admin;

    // ------------------------------------------------------------------ state
    struct ExecutionEnv {
        uint256 executionFeePerMs;
        uint256 stakingRewardPerMs;
    }

    /// @notice executionEnv(env) -> (executionFeePerMs, stakingRewardPerMs)
    mapping(uint8 => ExecutionEnv) public executionEnv;
    mapping(uint8 => bool) public isEnvSupported;

    struct Job {
        uint256 deadline; // milliseconds
        uint256 execStartTime; // seconds (block.timestamp at creation); 0 once deleted
        address jobOwner;
        uint8 env;
        uint8 outputCount;
        uint256 executionTime; // ms, fixed by the 1st output (capped to deadline)
        uint256 executionFeePerMs; // snapshot at creation
        uint256 stakingRewardPerMs; // snapshot at creation
        address[] selectedExecutors;
        mapping(address => bool) hasSubmitted;
    }

    /// @notice jobs(jobId) -> (deadline, execStartTime, jobOwner, env, outputCount, executionTime,
    ///         executionFeePerMs, stakingRewardPerMs). jobId is the array index; out of range panics 0x32.
    Job[] public jobs;

    modifier onlyAdmin() {
        if (msg.sender != admin) revert AccessControlUnauthorizedAccount(msg.sender, DEFAULT_ADMIN_ROLE);
        _;
    }

    /// @param stakingToken POND
    /// @param usdcToken fee token
    /// @param executors the Executors contract (must name this contract with setJobs)
    /// @param signMaxAge seconds a SubmitOutput signature stays valid
    /// @param executionBufferTime seconds added after the (millisecond) deadline
    /// @param noOfNodesToSelect executors selected per job
    /// @param stakingPaymentPool receives slashed POND when a job got at least one output
    /// @param usdcPaymentPool receives staking rewards and unpaid executor shares
    /// @param slashPercentInBips share of stake slashed on timeout, out of SLASH_MAX_BIPS (10000)
    constructor(
        address stakingToken,
        address usdcToken,
        address executors,
        uint256 signMaxAge,
        uint256 executionBufferTime,
        uint256 noOfNodesToSelect,
        address stakingPaymentPool,
        address usdcPaymentPool,
        uint256 slashPercentInBips
    ) {
        if (
            stakingToken == address(0) || usdcToken == address(0) || executors == address(0)
                || stakingPaymentPool == address(0) || usdcPaymentPool == address(0)
        ) revert JobsZeroAddress();
        if (noOfNodesToSelect == 0 || slashPercentInBips > SLASH_MAX_BIPS) revert JobsInvalidConfig();
        if (executionBufferTime > type(uint64).max || signMaxAge > type(uint64).max) revert JobsInvalidConfig();
        STAKING_TOKEN = IERC20(stakingToken);
        USDC_TOKEN = IERC20(usdcToken);
        EXECUTORS = Executors(executors);
        SIGN_MAX_AGE = signMaxAge;
        EXECUTION_BUFFER_TIME = executionBufferTime;
        NO_OF_NODES_TO_SELECT = noOfNodesToSelect;
        STAKING_PAYMENT_POOL = stakingPaymentPool;
        USDC_PAYMENT_POOL = usdcPaymentPool;
        SLASH_PERCENT_IN_BIPS = slashPercentInBips;
        admin = msg.sender;
    }

    // ------------------------------------------------------------------ admin

    /// @notice Adds execution env `_env` (and initialises its executor set in Executors).
    function addGlobalEnv(uint8 _env, uint256 _executionFeePerMs, uint256 _stakingRewardPerMs) external onlyAdmin {
        if (isEnvSupported[_env]) revert JobsGlobalEnvAlreadySupported();
        isEnvSupported[_env] = true;
        executionEnv[_env] = ExecutionEnv(_executionFeePerMs, _stakingRewardPerMs);
        EXECUTORS.initTree(_env);
        emit GlobalEnvAdded(_env, _executionFeePerMs, _stakingRewardPerMs);
    }

    function removeGlobalEnv(uint8 _env) external onlyAdmin {
        if (!isEnvSupported[_env]) revert JobsGlobalEnvAlreadyUnsupported();
        delete isEnvSupported[_env];
        delete executionEnv[_env];
        EXECUTORS.removeTree(_env);
        emit GlobalEnvRemoved(_env);
    }

    // ------------------------------------------------------------------ jobs

    /// @notice Creates a job: selects NO_OF_NODES_TO_SELECT executors and escrows
    ///         `_deadline * (executionFeePerMs + stakingRewardPerMs)` USDC from the caller.
    /// @param _codehash hash of the code-upload transaction
    /// @param _deadline milliseconds
    /// @return jobId the index of the job (0, 1, 2, ...)
    function createJob(uint8 _env, bytes32 _codehash, bytes calldata _codeInputs, uint256 _deadline)
        external
        returns (uint256 jobId)
    {
        if (!isEnvSupported[_env]) revert JobsUnsupportedEnv();
        ExecutionEnv memory fees = executionEnv[_env];

        // execStartTime*1000 + deadline + buffer*1000 and the escrow must not overflow later on
        uint256 fixedMs = block.timestamp * 1000 + EXECUTION_BUFFER_TIME * 1000;
        if (_deadline > type(uint256).max - fixedMs) revert JobsInvalidDeadline();
        uint256 feeSum = fees.executionFeePerMs + fees.stakingRewardPerMs;
        if (feeSum != 0 && _deadline > type(uint256).max / feeSum) revert JobsInvalidDeadline();

        address[] memory selected = EXECUTORS.selectExecutors(_env, NO_OF_NODES_TO_SELECT);
        if (selected.length < NO_OF_NODES_TO_SELECT) revert JobsUnavailableResources();

        jobId = jobs.length;
        Job storage job = jobs.push();
        job.deadline = _deadline;
        job.execStartTime = block.timestamp;
        job.jobOwner = msg.sender;
        job.env = _env;
        job.executionFeePerMs = fees.executionFeePerMs;
        job.stakingRewardPerMs = fees.stakingRewardPerMs;
        job.selectedExecutors = selected;

        USDC_TOKEN.safeTransferFrom(msg.sender, address(this), _deadline * feeSum);

        emit JobCreated(jobId, _env, msg.sender, _codehash, _codeInputs, _deadline, selected);
    }

    /// @notice Accepts an executor's signed output (anyone may relay it).
    /// @dev Checks in order: (1) execution window, JobsExecutionTimeOver; (2) signature age,
    ///      JobsSignatureTooOld; (3) ECDSA recover of the SubmitOutput digest + Executors.allowOnlyVerified;
    ///      (4) JobsNotSelectedExecutor; (5) JobsExecutorAlreadySubmittedOutput.
    function submitOutput(
        bytes calldata _signature,
        uint256 _jobId,
        bytes calldata _output,
        uint256 _totalTime,
        uint8 _errorCode,
        uint256 _signTimestamp
    ) external {
        Job storage job = jobs[_jobId];
        if (block.timestamp * 1000 > job.execStartTime * 1000 + job.deadline + EXECUTION_BUFFER_TIME * 1000) {
            revert JobsExecutionTimeOver();
        }
        // block.timestamp > _signTimestamp + SIGN_MAX_AGE, without overflow
        if (block.timestamp > _signTimestamp && block.timestamp - _signTimestamp > SIGN_MAX_AGE) {
            revert JobsSignatureTooOld();
        }
        address executor = _recoverSubmitOutput(_signature, _jobId, _output, _totalTime, _errorCode, _signTimestamp);
        EXECUTORS.allowOnlyVerified(executor);
        if (!_isSelected(job.selectedExecutors, executor)) revert JobsNotSelectedExecutor();
        if (job.hasSubmitted[executor]) revert JobsExecutorAlreadySubmittedOutput();

        EXECUTORS.releaseExecutor(executor);
        job.hasSubmitted[executor] = true;
        uint8 outputCount = job.outputCount + 1;
        job.outputCount = outputCount;
        if (_totalTime > job.deadline) _totalTime = job.deadline;
        if (outputCount == 1) job.executionTime = _totalTime;

        address jobOwner = job.jobOwner;
        _payOnOutput(job, executor, outputCount);

        emit JobResponded(_jobId, executor, _output, _totalTime, _errorCode, outputCount);

        if (outputCount >= MAX_OUTPUTS) _deleteJob(_jobId);

        if (outputCount == 1 && jobOwner.code.length != 0) {
            try IJobOwner(jobOwner).oysterResultCall(_jobId, _output, _errorCode, _totalTime) {
                emit JobResultCallbackCalled(_jobId, true);
            } catch {
                emit JobResultCallbackCalled(_jobId, false);
            }
        }
    }

    /// @notice After deadline + buffer: settles the escrow, slashes selected executors that did not
    ///         answer (emitting SlashedOnExecutionTimeout for each) and deletes the job. Anyone may call.
    function slashOnExecutionTimeout(uint256 _jobId) external {
        Job storage job = jobs[_jobId];
        uint256 start = job.execStartTime;
        if (start == 0) revert JobsInvalidJob();
        if (block.timestamp * 1000 <= start * 1000 + job.deadline + EXECUTION_BUFFER_TIME * 1000) {
            revert JobsDeadlineNotOver();
        }

        address jobOwner = job.jobOwner;
        uint8 outputCount = job.outputCount;

        // USDC: no output -> full refund; otherwise unpaid executor shares -> USDC pool
        if (outputCount == 0) {
            USDC_TOKEN.safeTransfer(jobOwner, job.deadline * (job.executionFeePerMs + job.stakingRewardPerMs));
        } else {
            uint256 total = job.executionTime * job.executionFeePerMs;
            uint256 paid = (total * 4) / 9;
            if (outputCount >= 2) paid += total / 3;
            USDC_TOKEN.safeTransfer(USDC_PAYMENT_POOL, total - paid);
        }

        // POND: slash every selected executor that did not submit
        uint256 slashed;
        address[] memory selected = job.selectedExecutors;
        for (uint256 i = 0; i < selected.length; i++) {
            if (!job.hasSubmitted[selected[i]]) {
                slashed += EXECUTORS.slashExecutor(selected[i], SLASH_PERCENT_IN_BIPS);
                emit SlashedOnExecutionTimeout(_jobId, selected[i]);
            }
        }

        _deleteJob(_jobId);

        if (outputCount == 0) {
            STAKING_TOKEN.safeTransfer(jobOwner, slashed);
            if (jobOwner.code.length != 0) {
                try IJobOwner(jobOwner).oysterFailureCall(_jobId, slashed) {
                    emit JobFailureCallbackCalled(_jobId, true);
                } catch {
                    emit JobFailureCallbackCalled(_jobId, false);
                }
            }
        } else {
            STAKING_TOKEN.safeTransfer(STAKING_PAYMENT_POOL, slashed);
        }
    }

    // ------------------------------------------------------------------ views

    function getSelectedExecutors(uint256 _jobId) external view returns (address[] memory) {
        return jobs[_jobId].selectedExecutors;
    }

    function hasSubmittedOutput(uint256 _jobId, address _executor) external view returns (bool) {
        return jobs[_jobId].hasSubmitted[_executor];
    }

    /// @notice Number of jobs ever created (the next jobId).
    function jobCount() external view returns (uint256) {
        return jobs.length;
    }

    function getJobExecutionFeePerMs(uint8 _env) external view returns (uint256) {
        return executionEnv[_env].executionFeePerMs;
    }

    /// @notice The EIP-712 digest an executor signs for submitOutput.
    function submitOutputDigest(
        uint256 _jobId,
        bytes calldata _output,
        uint256 _totalTime,
        uint8 _errorCode,
        uint256 _signTimestamp
    ) public pure returns (bytes32) {
        bytes32 structHash = keccak256(
            abi.encode(SUBMIT_OUTPUT_TYPEHASH, _jobId, keccak256(_output), _totalTime, _errorCode, _signTimestamp)
        );
        return keccak256(abi.encodePacked("\x19\x01", DOMAIN_SEPARATOR, structHash));
    }

    // ------------------------------------------------------------------ internals

    function _recoverSubmitOutput(
        bytes calldata _signature,
        uint256 _jobId,
        bytes calldata _output,
        uint256 _totalTime,
        uint8 _errorCode,
        uint256 _signTimestamp
    ) private pure returns (address) {
        return ECDSA.recover(submitOutputDigest(_jobId, _output, _totalTime, _errorCode, _signTimestamp), _signature);
    }

    function _isSelected(address[] storage _selected, address _executor) private view returns (bool) {
        uint256 n = _selected.length;
        for (uint256 i = 0; i < n; i++) {
            if (_selected[i] == _executor) return true;
        }
        return false;
    }

    function _payOnOutput(Job storage job, address _executor, uint8 _outputCount) private {
        uint256 executionTime = job.executionTime;
        uint256 total = executionTime * job.executionFeePerMs;
        uint256 share;
        if (_outputCount == 1) share = (total * 4) / 9;
        else if (_outputCount == 2) share = total / 3;
        else if (_outputCount == 3) share = total - (total * 4) / 9 - total / 3;

        USDC_TOKEN.safeTransfer(EXECUTORS.getOwner(_executor), share);

        if (_outputCount == 1) {
            uint256 refund = (job.deadline - executionTime) * (job.executionFeePerMs + job.stakingRewardPerMs);
            USDC_TOKEN.safeTransfer(job.jobOwner, refund);
            USDC_TOKEN.safeTransfer(USDC_PAYMENT_POOL, executionTime * job.stakingRewardPerMs);
        }
    }

    function _deleteJob(uint256 _jobId) private {
        // value fields and the selectedExecutors array are cleared; the hasSubmitted mapping cannot be
        // (jobIds are never reused and execStartTime == 0 marks the job deleted)
        delete jobs[_jobId];
    }
}
