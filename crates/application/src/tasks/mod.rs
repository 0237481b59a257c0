//! `strata run`'s use case (issue 13): replay a task from the local or
//! remote action cache, or run it and record it.
//!
//! - `ports.rs`: what the use case needs from the outside: the local
//!   AC/CAS session ([`LocalTaskCache`]), the command ([`TaskProcess`]),
//!   the project's output files ([`TaskFiles`]), the terminal
//!   ([`Console`]) and the remote ([`RemoteTaskCache`]).
//! - `run_task.rs`: [`TaskRunner`], the lookup / run / record / upload
//!   sequence and its rules (a remote never fails a task; non-zero exits
//!   are not recorded unless asked; uploads are bounded and size-limited),
//!   and [`TaskRunner::probe`], the same lookup without running or
//!   replaying (`--explain`).
//!
//! It knows the domain only: no file system, no process, no HTTP.

mod ports;
mod run_task;

pub use ports::{
    Console, Execution, HitSource, LocalSession, LocalTaskCache, RemoteError, RemoteTaskCache,
    RunEvent, TaskError, TaskFiles, TaskProcess,
};
pub use run_task::{Absence, Availability, RemotePolicy, RunOutcome, RunReport, TaskRunner};
