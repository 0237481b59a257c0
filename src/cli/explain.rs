//! What `strata run` says about a run: the one-line miss reason printed
//! before a command runs, and `strata run --explain`'s report (what
//! changed since the task's recorded runs, and what the next run will
//! really do, from a lookup of the local cache and the remote). Text
//! only: the lookup is `TaskRunner::probe`, the comparison
//! `ActionComponents::differences`.

use strata_application::tasks::{Absence, Availability};
use strata_domain::tasks::{ActionComponents, CacheMode, Difference};

/// Why a run misses, for `strata: <task>: miss (<reason>)`: the first
/// component that differs from the task's last recorded run, `no
/// previous run`, or, when nothing differs, that the result is not
/// cached (cleaned, evicted, corrupt, or never recorded).
pub(super) fn miss_reason(
    current: &ActionComponents,
    last: Option<&ActionComponents>,
    mode: CacheMode,
) -> String {
    match mode {
        CacheMode::Off => return "caching off".to_owned(),
        CacheMode::Write => return "mode write: always runs".to_owned(),
        CacheMode::ReadWrite | CacheMode::Read => {}
    }
    match last {
        None => "no previous run".to_owned(),
        Some(last) => current.differences(last).first().map_or_else(
            || "unchanged, but its result is not cached".to_owned(),
            Difference::component,
        ),
    }
}

fn describe(d: &Difference) -> String {
    let opt = |o: &Option<String>| o.clone().unwrap_or_else(|| "(unset)".to_owned());
    match d {
        Difference::Task { before, now } => format!("task name: {before} -> {now}"),
        Difference::Command { before, now } => format!("command: {before:?} -> {now:?}"),
        Difference::Workdir { before, now } => format!("working directory: {before:?} -> {now:?}"),
        Difference::Env { name, before, now } => {
            format!("env {name}: {} -> {}", opt(before), opt(now))
        }
        Difference::Input { path, change } => format!("input {path}: {change}"),
        Difference::Config { key, before, now } => {
            format!("config {key}: {} -> {}", opt(before), opt(now))
        }
        Difference::Platform { before, now } => format!("platform: {before} -> {now}"),
    }
}

fn absence(a: &Absence) -> String {
    match a {
        Absence::NoAction => "no entry for this digest".to_owned(),
        Absence::MissingBlob(d) => {
            format!("the entry's blob {d} is gone (cleaned, evicted or corrupt)")
        }
        Absence::Corrupt(e) => format!("the entry does not decode: {e}"),
        Absence::Unreachable(e) => format!("not reachable: {e}"),
    }
}

/// The verdict line: what the next run does, from the actual lookup.
fn verdict(mode: CacheMode, availability: Option<&Availability>, remote: Option<&str>) -> String {
    let Some(availability) = availability.filter(|_| mode.reads()) else {
        let why = match mode {
            CacheMode::Off => "caching is off for this task",
            _ => "mode write never replays",
        };
        return format!("the next run runs it: {why}\n");
    };
    let server = remote.unwrap_or("the remote");
    match availability {
        Availability::Local => {
            "the next run replays it: a local hit (the entry and every blob are in the local cache)\n"
                .to_owned()
        }
        Availability::Remote => {
            format!("the next run replays it: a remote hit from {server} (the local cache misses)\n")
        }
        Availability::Missing { local, remote } => {
            let mut out = format!(
                "the next run runs it: the local cache misses ({})",
                absence(local)
            );
            match remote {
                Some(r) => out.push_str(&format!(", and so does {server} ({})\n", absence(r))),
                None => out.push_str(", and no remote is consulted\n"),
            }
            out
        }
    }
}

/// `strata run --explain`'s report for one task.
pub(super) struct Explain<'a> {
    /// The task's name.
    pub(super) task: &'a str,
    /// The current action digest, in hex.
    pub(super) key: String,
    /// The current components.
    pub(super) current: &'a ActionComponents,
    /// The task's last recorded run on this machine.
    pub(super) last: Option<ActionComponents>,
    /// The run before it (whose digest differed).
    pub(super) prior: Option<ActionComponents>,
    /// The effective mode.
    pub(super) mode: CacheMode,
    /// The lookup of the local cache and the remote; `None` when the mode
    /// does not read.
    pub(super) availability: Option<Availability>,
    /// The remote's URL, when one is configured.
    pub(super) remote: Option<&'a str>,
}

impl Explain<'_> {
    /// The report: the digest, what the next run does (from the lookup,
    /// never from the history alone), every component that changed since
    /// the last recorded run (each variable on its own line), and why
    /// that run missed.
    pub(super) fn render(&self) -> String {
        let mut out = format!("task {}: action digest {}\n", self.task, self.key);
        out.push_str(&verdict(self.mode, self.availability.as_ref(), self.remote));
        let Some(last) = &self.last else {
            out.push_str("no recorded run of this task on this machine\n");
            return out;
        };
        let now = self.current.differences(last);
        if now.is_empty() {
            out.push_str("unchanged since the last run\n");
        } else {
            out.push_str("changed since the last run:\n");
            for d in &now {
                out.push_str(&format!("  {}\n", describe(d)));
            }
        }
        match &self.prior {
            None => out.push_str("the last run was the first recorded one\n"),
            Some(prior) => {
                out.push_str("the last run missed because, since the run before it:\n");
                for d in last.differences(prior) {
                    out.push_str(&format!("  {}\n", describe(&d)));
                }
            }
        }
        out
    }
}
