//! The node as a good citizen behind a load balancer (HAProxy, `deploy/haproxy/`): what it
//! tells the balancer and how it leaves.
//!
//! - [`drain`]: the shutdown phase shared by the routes, the agent and `main`.
//! - [`readiness`]: the one computation of "can this node take a direct run now, and if not
//!   why", used by `GET /ready` and by the agent-check port.
//! - [`agent`]: the agent-check TCP endpoint (`lb_agent_port`): one line per connection.
//! - [`shutdown`]: serving until SIGTERM, then the graceful drain.
//!
//! Reads the scheduler's shared counts (`SchedulerLoad`); sends no actor messages.

pub mod agent;
pub mod drain;
pub mod readiness;
pub mod shutdown;
