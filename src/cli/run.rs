//! `strata run`: the task cache's command line (issue 13). Wiring only:
//! the task file and settings come from `task_file`, the digest rules
//! from `strata_domain::tasks`, the lookup / run / record sequence from
//! `strata_application::tasks`, and the adapters from
//! `strata_infrastructure::tasks`. Its texts (the miss reason, the
//! `--explain` report) are its neighbour `explain`; `strata cache` is
//! the neighbour `cache`.

use std::collections::BTreeMap;
use std::io::{IsTerminal, Write};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use strata_application::tasks::{
    Console, HitSource, RemotePolicy, RunEvent, RunOutcome, TaskRunner,
};
use strata_domain::tasks::{
    ActionComponents, CacheMode, Platform, TaskCommand, TaskName, TaskSpec,
};
use strata_infrastructure::tasks::{
    ActionLock, DiskTaskCache, HttpRemoteCache, InputScanner, ProjectFiles, ProstTaskResultCodec,
    RunHistory, Sha2Hasher, ShellProcess, StatsLog,
};

use super::explain::{Explain, miss_reason};
use super::task_file::{GlobalSettings, TaskFile, find_task_file, parse_mode};

/// Inputs from which hashing shows a progress bar (on a terminal).
const PROGRESS_MIN_FILES: usize = 500;

/// `strata run`.
#[derive(clap::Args, Debug)]
pub(crate) struct RunArgs {
    /// The task of strata.tasks.toml to run (omit with `-- CMD`).
    task: Option<String>,
    /// Ad hoc: an input glob, relative to the current directory (repeatable).
    #[arg(long = "inputs", value_name = "GLOB")]
    inputs: Vec<String>,
    /// Ad hoc: an output file or directory (repeatable).
    #[arg(long = "outputs", value_name = "PATH")]
    outputs: Vec<String>,
    /// Override the task's cache mode: read-write, read, write or off.
    #[arg(long)]
    mode: Option<String>,
    /// No status lines on stderr (hit, miss, upload); warnings stay.
    #[arg(long, short)]
    quiet: bool,
    /// Say why the task's last run missed, and whether the next one hits;
    /// runs nothing.
    #[arg(long)]
    explain: bool,
    /// Ad hoc: the command and its arguments, after `--`.
    #[arg(last = true)]
    command: Vec<String>,
}

/// Transfers from this size show a progress bar (on a terminal): 8 MiB.
const PROGRESS_MIN_BYTES: u64 = 8 << 20;

/// stdout and stderr of this process; transfer bars only on a terminal.
/// Each run's status goes to stderr in one line (task output untouched):
/// `strata: <task>: local hit`, `... remote hit`, `... miss (<reason>)`,
/// and `... uploaded N blobs (B bytes) to <server>` after an upload.
#[derive(Default)]
struct Terminal {
    bar: std::sync::Mutex<Option<ProgressBar>>,
    /// The task's name.
    task: String,
    /// The miss line's reason (`no previous run`, `env HOME`, ...).
    miss: String,
    /// The remote's URL, for the upload line.
    server: String,
    /// `--quiet`: no status lines.
    quiet: bool,
}

impl Console for Terminal {
    fn event(&self, event: &RunEvent) {
        if self.quiet {
            return;
        }
        let task = &self.task;
        self.notice(&match event {
            RunEvent::Hit(HitSource::Local) => format!("strata: {task}: local hit"),
            RunEvent::Hit(HitSource::Remote) => format!("strata: {task}: remote hit"),
            RunEvent::Executing => format!("strata: {task}: miss ({})", self.miss),
            RunEvent::Uploaded { blobs, bytes } => format!(
                "strata: {task}: uploaded {blobs} blobs ({bytes} bytes) to {}",
                self.server
            ),
        });
    }

    fn transfer(&self, what: &str, done_bytes: u64, total_bytes: u64) {
        if total_bytes < PROGRESS_MIN_BYTES || !std::io::stderr().is_terminal() {
            return;
        }
        let mut slot = self.bar.lock().unwrap_or_else(|e| e.into_inner());
        let bar = slot.get_or_insert_with(|| {
            let bar =
                ProgressBar::with_draw_target(Some(total_bytes), ProgressDrawTarget::stderr());
            bar.set_style(
                ProgressStyle::with_template("{msg} {bar:30} {bytes}/{total_bytes}")
                    .unwrap_or_else(|_| ProgressStyle::default_bar()),
            );
            bar.set_message(what.to_owned());
            bar
        });
        bar.set_position(done_bytes);
        if done_bytes >= total_bytes {
            bar.finish_and_clear();
            *slot = None;
        }
    }

    fn stdout(&self, bytes: &[u8]) {
        let mut out = std::io::stdout().lock();
        let _ = out.write_all(bytes);
        let _ = out.flush();
    }

    fn stderr(&self, bytes: &[u8]) {
        let mut err = std::io::stderr().lock();
        let _ = err.write_all(bytes);
        let _ = err.flush();
    }

    fn notice(&self, line: &str) {
        let mut err = std::io::stderr().lock();
        let _ = writeln!(err, "{line}");
    }
}

/// This process's environment (the variables that are UTF-8).
pub(super) fn process_env() -> BTreeMap<String, String> {
    std::env::vars_os()
        .filter_map(|(k, v)| Some((k.into_string().ok()?, v.into_string().ok()?)))
        .collect()
}

/// The task to run, the project root and the working directory.
struct Plan {
    spec: TaskSpec,
    root: PathBuf,
    cwd: PathBuf,
}

fn plan(args: &RunArgs, settings: &GlobalSettings) -> anyhow::Result<Plan> {
    let cwd = std::env::current_dir().context("the current directory")?;
    let cwd = cwd.canonicalize().unwrap_or(cwd);
    if !args.command.is_empty() {
        if args.task.is_some() {
            bail!("give a task name or a command after --, not both");
        }
        for g in &args.inputs {
            InputScanner::check_glob(g).map_err(|e| anyhow::anyhow!("--inputs: {e}"))?;
        }
        let spec = TaskSpec {
            name: TaskName::for_command(&args.command),
            command: TaskCommand::Args(args.command.clone()),
            inputs: args.inputs.clone(),
            ignore_inputs: Vec::new(),
            outputs: args.outputs.clone(),
            env: settings.env.filter(None, Vec::new(), Vec::new()),
            cache: true,
            mode: settings.default_mode,
            cache_key: BTreeMap::new(),
            timeout_secs: None,
            cache_failures: false,
        };
        return Ok(Plan {
            spec,
            root: cwd.clone(),
            cwd,
        });
    }
    let Some(name) = &args.task else {
        bail!(
            "name a task of strata.tasks.toml, or give a command: strata run --inputs GLOB --outputs PATH -- CMD"
        );
    };
    let Some(file) = find_task_file(&cwd) else {
        bail!(
            "no {} in {} or a parent directory",
            super::task_file::TASK_FILE,
            cwd.display()
        );
    };
    let text = std::fs::read_to_string(&file).with_context(|| format!("{}", file.display()))?;
    let parsed = TaskFile::parse(&file, &text, &settings.env, settings.default_mode)?;
    let root = file.parent().map(Path::to_owned).unwrap_or_default();
    let Some(spec) = parsed.tasks.get(name).cloned() else {
        let known: Vec<&str> = parsed.tasks.keys().map(String::as_str).collect();
        bail!(
            "{}: no task {name:?} (tasks: {})",
            file.display(),
            known.join(", ")
        );
    };
    Ok(Plan { spec, root, cwd })
}

fn relative_dir(root: &Path, cwd: &Path) -> String {
    cwd.strip_prefix(root)
        .map(|r| {
            r.components()
                .map(|c| c.as_os_str().to_string_lossy().into_owned())
                .collect::<Vec<_>>()
                .join("/")
        })
        .unwrap_or_default()
}

fn components(plan: &Plan, env: &BTreeMap<String, String>) -> anyhow::Result<ActionComponents> {
    let scanner = InputScanner::new(&plan.root);
    let bar = if std::io::stderr().is_terminal() {
        let bar = ProgressBar::with_draw_target(None, ProgressDrawTarget::stderr());
        bar.set_style(
            ProgressStyle::with_template("hashing inputs {bar:30} {pos}/{len}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        Some(bar)
    } else {
        None
    };
    let progress = |done: usize, total: usize| {
        if let Some(bar) = &bar
            && total >= PROGRESS_MIN_FILES
        {
            bar.set_length(total as u64);
            bar.set_position(done as u64);
        }
    };
    let inputs = scanner
        .scan(&plan.spec.inputs, &plan.spec.ignore_inputs, &progress)
        .map_err(|e| anyhow::anyhow!("task {}: {e}", plan.spec.name))?;
    if let Some(bar) = bar {
        bar.finish_and_clear();
    }
    Ok(ActionComponents {
        task: plan.spec.name.as_str().to_owned(),
        command: plan.spec.command.clone(),
        workdir: relative_dir(&plan.root, &plan.cwd),
        env: plan
            .spec
            .env
            .select(env.iter().map(|(k, v)| (k.clone(), v.clone())), &Sha2Hasher),
        inputs,
        config: plan.spec.key_config(),
        platform: Platform {
            os: std::env::consts::OS.to_owned(),
            arch: std::env::consts::ARCH.to_owned(),
        },
    })
}

/// `ms` as seconds with one decimal, e.g. `12.3 s`.
pub(super) fn seconds(ms: u64) -> String {
    format!("{:.1} s", ms as f64 / 1000.0)
}

/// `strata run`: returns the exit code to leave with.
pub(crate) fn run(args: RunArgs) -> anyhow::Result<i32> {
    let env = process_env();
    let settings = GlobalSettings::load(&env)?;
    let mut plan = plan(&args, &settings)?;
    if let Some(m) = &args.mode {
        plan.spec.mode = parse_mode(m).map_err(|e| anyhow::anyhow!("--mode: {e}"))?;
    }
    let current = components(&plan, &env)?;
    let key = current.digest(&Sha2Hasher);
    let task = plan.spec.name.as_str().to_owned();
    let history = RunHistory::new(&settings.cache_dir);
    let last = history.last(&task);
    let mode = plan.spec.effective_mode();
    let remote = settings.remote.as_ref().filter(|_| mode != CacheMode::Off);
    let console = Arc::new(Terminal {
        task: task.clone(),
        miss: miss_reason(&current, last.as_ref(), mode),
        server: remote.map(|r| r.url.clone()).unwrap_or_default(),
        quiet: args.quiet,
        ..Terminal::default()
    });
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()?;
    let local = Arc::new(DiskTaskCache::new(&settings.cache_dir, settings.max_size));
    let mut runner = TaskRunner::new(
        local,
        Arc::new(ShellProcess::new(&plan.cwd)),
        Arc::new(ProjectFiles::new(&plan.root, plan.spec.outputs.clone())),
        console.clone(),
        Arc::new(ProstTaskResultCodec),
        Arc::new(Sha2Hasher),
    );
    if let Some(r) = remote {
        let _ = rustls::crypto::ring::default_provider().install_default();
        // A remote never fails a task, a misconfigured one neither: one
        // warning that says what is wrong, then the local cache only.
        match HttpRemoteCache::new(
            &r.url,
            r.token.clone(),
            Duration::from_secs(r.timeout_secs.max(1)),
        ) {
            Ok(client) => {
                runner = runner.remote(
                    Arc::new(client),
                    RemotePolicy {
                        download: r.download,
                        upload: r.upload,
                        max_concurrent: r.max_concurrent,
                        max_upload_bytes: r.max_upload_bytes,
                    },
                );
            }
            Err(e) => console.notice(&format!(
                "strata: warning: {e}; continuing with the local cache only"
            )),
        }
    }
    if args.explain {
        let availability = if mode.reads() {
            Some(runtime.block_on(runner.probe(&key))?)
        } else {
            None
        };
        let report = Explain {
            task: &task,
            key: key.to_string(),
            current: &current,
            last,
            prior: history.prior(&task),
            mode,
            availability,
            remote: remote.map(|r| r.url.as_str()),
        };
        #[expect(clippy::print_stdout, reason = "the command's output")]
        {
            print!("{}", report.render());
        }
        return Ok(0);
    }
    let cache_dir = settings.cache_dir.clone();
    let spec = plan.spec.clone();
    let report = runtime.block_on(async move {
        // Two identical runs: the second waits here, then replays.
        let _lock = if mode == CacheMode::Off {
            None
        } else {
            let dir = cache_dir.clone();
            Some(
                tokio::task::spawn_blocking(move || ActionLock::acquire(&dir, &key))
                    .await?
                    .with_context(|| format!("lock {}", cache_dir.display()))?,
            )
        };
        let report = runner
            .run(
                key,
                &spec.command,
                mode,
                spec.timeout_secs.map(Duration::from_secs),
                spec.cache_failures,
            )
            .await?;
        anyhow::Ok(report)
    })?;
    let stats = StatsLog::new(&settings.cache_dir);
    match report.outcome {
        RunOutcome::Hit { original_ms, .. } => {
            let _ = stats.append(true, original_ms, &task);
        }
        RunOutcome::Executed { .. } => {
            let _ = stats.append(false, 0, &task);
        }
    }
    let _ = history.record(&task, &current);
    Ok(report.exit_code)
}
