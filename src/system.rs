//! Start order and wiring of the actors; returns the handles the HTTP layer needs.
//!
//! Order: `Signer` (own thread) → `TxSender` → `NodeSetup` → execution (`CodeStore`,
//! `CgroupPool` (own thread), `PortPool`, `WorkerdRunner`, `JobScheduler`) → `ChainListener`
//! (supervised). Every address is passed explicitly to the constructor that needs it; nothing
//! is looked up from a registry. Start refuses, naming what is missing, when workerd or the
//! cgroup controllers are not usable, or when a configured jail layer fails its self-check: a
//! node that cannot contain jobs must not announce capacity.

mod cleanup;
mod contract_params;

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use actix::{Actor, Addr, Arbiter, Supervisor};
use tracing::info;

use crate::actors::cgroup_pool::CgroupPool;
use crate::actors::chain_listener::{ChainListener, ChainSink, ListenerStatus};
use crate::actors::code_store::CodeStore;
use crate::actors::job_scheduler::{
    Capacity, ChainLinks, JobScheduler, ReceiptLinks, SchedulerLinks, SchedulerLoad,
};
use crate::actors::node_setup::{AuthPolicy, NodeSetup, NodeSetupParts};
use crate::actors::port_pool::PortPool;
use crate::actors::signer::Signer;
use crate::actors::tx_sender::TxSender;
use crate::actors::workerd_runner::{PoolSettings, WorkerdRunner};
use crate::balancer::drain::DrainState;
use crate::balancer::readiness::ReadinessProbe;
use crate::cgroup::{CgroupError, CgroupLimits, Cgroups, CpuQuota};
use crate::chain::rpc::{ChainRpc, RpcError};
use crate::config::{Config, ExecutionConfig, ExecutionMode};
use crate::domain::EnclaveIdentity;
use crate::http::{DirectRunState, HttpState};
use crate::metrics::Metrics;
use crate::node_lock::{Guarded, LockError, NodeLock, LOCK_DIR};
use crate::sandbox::settings::{JailError, JailSettings};
use crate::secrets::SecretKey;
use crate::workerd::run::{RunError, RunnerSettings};
use cleanup::prepare_job_dir;
pub use cleanup::{remove_job_files, shut_down, stop_sandbox, Cleanup};
use contract_params::{execution_buffer, sign_max_age};

const CPU_PERIOD: Duration = Duration::from_millis(100);

/// What `main` keeps after start.
#[derive(Debug)]
pub struct Handles {
    /// Routes' view of the actors.
    pub http: HttpState,
    /// This node's public identity.
    pub identity: EnclaveIdentity,
    /// Held for the node's lifetime: actix restarts a supervised actor only while someone
    /// holds its address, so dropping this would end chain listening at the first lost socket.
    pub chain_listener: Addr<ChainListener>,
    /// Told to end its warm processes on shutdown, so nothing of the node is left behind.
    pub runner: Addr<WorkerdRunner>,
    /// What a clean shutdown removes; holds the node's locks on its cgroup parent and job
    /// directory.
    pub cleanup: Cleanup,
    /// No other node rewrites this node's chain checkpoint.
    _state_dir_lock: NodeLock,
}

/// Why the node could not start its actors.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The HTTP RPC client could not be built.
    #[error("cannot set up the chain RPC client")]
    Rpc(#[from] RpcError),
    /// The cgroup controllers are missing or not writable.
    #[error("cannot contain jobs: {0}")]
    Cgroups(#[from] CgroupError),
    /// workerd is not where the config says.
    #[error("workerd not found at {0} (config key `workerd_runtime_path`)")]
    Workerd(String),
    /// The job directory cannot be prepared.
    #[error("cannot prepare the job directory {path} (config key `job_dir`)")]
    JobDir {
        /// The directory.
        path: String,
        /// What the OS said.
        #[source]
        source: std::io::Error,
    },
    /// Another node uses the same cgroup parent.
    #[error(transparent)]
    Lock(#[from] LockError),
    /// The runner could not be built.
    #[error("cannot set up the workerd runner")]
    Runner(#[from] RunError),
    /// A configured jail layer cannot be set up on this host (the message names it).
    #[error(transparent)]
    Jail(#[from] JailError),
}

/// Starts every actor. Must run inside an actix `System`.
pub async fn start(config: &Config, enclave_key: SecretKey) -> Result<Handles, StartError> {
    let (signer, identity) = Signer::new(enclave_key);
    // On the actors' thread: the scheduler asks for a signature at every job's end, and a
    // signer on a thread of its own cost two crossings between threads per job.
    let signer = signer.start();

    let rpc = ChainRpc::new(&config.chain.http_rpc_url, config.chain.rpc_timeout)?;
    let metrics = Arc::new(Metrics::default());
    let tx_sender = TxSender::new(
        rpc.clone(),
        config.chain.chain_id,
        config.chain.jobs,
        config.chain.max_fee_cap_wei,
        Arc::clone(&metrics),
    )
    .start();
    let setup = NodeSetup::new(NodeSetupParts {
        identity,
        policy: AuthPolicy {
            chain_id: config.chain.chain_id,
            enclave: identity.address,
            max_ttl: config.admin.signature_max_ttl,
            compat_unauthenticated: config.admin.compat_unauthenticated_admin,
        },
        job_capacity: config.job_capacity,
        signer: signer.clone().recipient(),
        tx_sender: tx_sender.clone().recipient(),
    })
    .start();

    let chain_links = ChainLinks {
        enclave: identity.address,
        signer: signer.clone().recipient(),
        submit: tx_sender.clone().recipient(),
        timeouts: tx_sender.clone().recipient(),
        resync: tx_sender.clone().recipient(),
        execution_buffer: execution_buffer(config, &rpc).await,
        sign_max_age: sign_max_age(config, &rpc).await,
        metrics: Arc::clone(&metrics),
    };
    let receipts = ReceiptLinks {
        signer: signer.recipient(),
        chain_id: config.chain.chain_id,
    };
    let (scheduler, load, runner, cleanup) =
        start_execution(config, rpc.clone(), chain_links, receipts, &metrics).await?;
    let state_dir_lock = NodeLock::take(
        Path::new(LOCK_DIR),
        Guarded::StateDir(&config.chain.state_dir),
    )?;
    let readiness = ReadinessProbe {
        load,
        drain: DrainState::default(),
        direct_enabled: config.direct_run.enabled,
        workerd: config.execution.workerd.clone(),
        cgroup_parents: cleanup.cgroups.parent_dirs(),
    };
    let sink = ChainSink {
        registered: setup.clone().recipient(),
        deregistered: setup.clone().recipient(),
        serving: scheduler.clone().recipient(),
        jobs: scheduler.clone().recipient(),
        responded: scheduler.clone().recipient(),
        reorged: scheduler.clone().recipient(),
        status: ListenerStatus::default(),
    };
    let listener_status = sink.status.clone();
    let chain = config.chain.clone();
    let enclave = identity.address;
    let listener_metrics = Arc::clone(&metrics);
    let chain_listener = Supervisor::start(move |_| {
        ChainListener::new(&chain, rpc, enclave, sink, listener_metrics)
    });
    Ok(Handles {
        http: HttpState {
            setup,
            metrics,
            readiness,
            chain_listener: listener_status,
            direct_run: DirectRunState {
                scheduler,
                settings: config.direct_run.clone(),
            },
        },
        identity,
        chain_listener,
        runner,
        cleanup,
        _state_dir_lock: state_dir_lock,
    })
}

async fn start_execution(
    config: &Config,
    rpc: ChainRpc,
    chain: ChainLinks,
    receipts: ReceiptLinks,
    metrics: &Arc<Metrics>,
) -> Result<
    (
        Addr<JobScheduler>,
        SchedulerLoad,
        Addr<WorkerdRunner>,
        Cleanup,
    ),
    StartError,
> {
    let execution = &config.execution;
    let capacity = Capacity {
        chain: usize::try_from(config.job_capacity).unwrap_or(usize::MAX),
        direct: config.direct_run.capacity,
        direct_queue: execution.queue_capacity,
        direct_queue_timeout: config.direct_run.queue_timeout,
    };
    let running = capacity.chain.saturating_add(capacity.direct);
    let (runner, cleanup) = start_sandbox(execution, running, metrics).await?;
    info!(
        chain_slots = capacity.chain,
        direct_slots = capacity.direct,
        "Job slots."
    );
    let links = SchedulerLinks {
        code: CodeStore::new(rpc, config.chain.code_contract, execution.code_cache_bytes)
            .start()
            .recipient(),
        runner: runner.clone().recipient(),
        metrics: Arc::clone(metrics),
        chain,
        receipts,
    };
    let scheduler = JobScheduler::new(links, capacity);
    let load = scheduler.load();
    Ok((scheduler.start(), load, runner, cleanup))
}

/// Starts what runs jobs, the same for the node and for `serverless-executor run`: checks
/// workerd, takes the lock on the cgroup parent, prepares the job directory and the cgroups,
/// and starts `CgroupPool`, `PortPool` and `WorkerdRunner` sized for `running` jobs at once.
/// Refuses with one error naming what is missing when jobs cannot be contained.
pub async fn start_sandbox(
    execution: &ExecutionConfig,
    running: usize,
    metrics: &Arc<Metrics>,
) -> Result<(Addr<WorkerdRunner>, Cleanup), StartError> {
    if !execution.workerd.is_file() {
        return Err(StartError::Workerd(execution.workerd.display().to_string()));
    }
    // Before anything under the parent is touched: another node's jobs may live there.
    let locks = Path::new(LOCK_DIR);
    let lock = NodeLock::take(locks, Guarded::CgroupParent(&execution.cgroup_parent))?;
    let job_dir_lock = NodeLock::take(locks, Guarded::JobDir(&execution.job_dir))?;
    prepare_job_dir(&execution.job_dir)?;
    let settings = runner_settings(execution)?;
    settings
        .jail
        .self_check(&settings.launcher, &settings.workerd, &execution.job_dir)?;
    info!(jail = ?settings.jail, "Job jail ready (self-check passed).");
    let cgroups = Cgroups::detect(
        Path::new("/proc/self/mountinfo"),
        &execution.cgroup_root,
        &execution.cgroup_parent,
    )?;
    let stale = cgroups.clean_stale().await?;
    info!(cgroups = %cgroups.describe(), stale_removed = stale, "Job containment ready.");
    let warm_mode = execution.mode != ExecutionMode::Cold;
    // The scheduler bounds running jobs to `running`; the pool may hold as many again while
    // finished jobs' cgroups are still being killed and removed, so a new job never waits on an
    // old job's cleanup. Idle warm processes hold theirs too.
    let idle_max = if warm_mode {
        execution.warm_processes
    } else {
        0
    };
    let cgroup_capacity = running.saturating_mul(2).saturating_add(idle_max);
    let cgroups = Arc::new(cgroups);
    let cgroup_thread = Arbiter::new();
    let pool = CgroupPool::new(
        Arc::clone(&cgroups),
        limits(execution),
        cgroup_capacity,
        Arc::clone(metrics),
    );
    let cleanup = Cleanup {
        cgroups,
        job_dir: execution.job_dir.clone(),
        cgroup_thread,
        _locks: [lock, job_dir_lock],
    };
    let cgroups = CgroupPool::start_in_arbiter(&cleanup.cgroup_thread.handle(), move |_| pool);
    let ports = PortPool::new().start();
    let pool = PoolSettings {
        mode: execution.mode,
        idle_target: idle_max,
        idle_max,
        jobs_per_process: match execution.mode {
            ExecutionMode::Isolate => execution.isolate_jobs_per_process,
            _ => 1,
        },
        cgroups: cgroups.recipient(),
        ports: ports.recipient(),
        metrics: Arc::clone(metrics),
    };
    let runner = WorkerdRunner::new(settings, pool).start();
    info!(mode = ?execution.mode, warm_processes = idle_max, "Execution mode.");
    Ok((runner, cleanup))
}

fn limits(execution: &ExecutionConfig) -> CgroupLimits {
    CgroupLimits {
        memory_bytes: execution.memory_limit_bytes,
        cpu: Some(CpuQuota {
            quota: CPU_PERIOD * u32::try_from(execution.cpu_percent).unwrap_or(u32::MAX) / 100,
            period: CPU_PERIOD,
        }),
        pids_max: execution.pids_max,
    }
}

fn runner_settings(execution: &ExecutionConfig) -> Result<RunnerSettings, StartError> {
    let launcher = std::env::current_exe().map_err(RunError::Spawn)?;
    let jail = JailSettings::prepare(
        &execution.jail,
        execution.network_isolation,
        &execution.workerd,
        &execution.job_dir,
    )?;
    Ok(RunnerSettings {
        workerd: execution.workerd.clone(),
        launcher,
        job_root: execution.job_dir.clone(),
        max_output_bytes: execution.max_output_bytes,
        memory_limit_bytes: execution.memory_limit_bytes,
        jail,
    })
}
