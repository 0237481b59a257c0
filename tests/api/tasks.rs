//! `strata run` (issue 13): the real binary in temporary projects, with
//! its own cache directories ("machines") and, for the remote, a real
//! Strata server started by the test.

use std::collections::BTreeMap;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};

use strata_infrastructure::ApiKeyDigest;

const WRITER_TOKEN: &str = "tasks-writer-key-0123456789";
const READER_TOKEN: &str = "tasks-reader-key-0123456789";

/// The task of most tests: counts its executions in `counter` (outside
/// the inputs and outputs), writes a regular and an executable output,
/// and writes to both streams.
const BUILD_TASK: &str = r#"
[tasks.build]
command = "echo ran >> counter; mkdir -p out/sub; cat src/a.txt src/b.txt > out/sub/all.txt; printf '#!/bin/sh\necho tool\n' > out/tool; chmod 755 out/tool; printf 'stdout: %s\n' \"$FLAVOUR\"; printf 'to stderr\n' >&2"
inputs = ["src/**"]
ignore_inputs = ["**/*.tmp"]
outputs = ["out/"]
env = { include = ["FLAVOUR"], exclude = ["NOISE"] }
"#;

/// A project directory with a task file and sources.
struct Project {
    dir: tempfile::TempDir,
}

impl Project {
    fn new(task_file: &str) -> Self {
        let dir = tempfile::tempdir().expect("project dir");
        fs::create_dir_all(dir.path().join("src")).expect("src");
        fs::write(dir.path().join("src/a.txt"), "alpha\n").expect("a");
        fs::write(dir.path().join("src/b.txt"), "beta\n").expect("b");
        fs::write(dir.path().join("strata.tasks.toml"), task_file).expect("task file");
        Self { dir }
    }

    fn path(&self) -> &Path {
        self.dir.path()
    }

    fn executions(&self) -> usize {
        fs::read_to_string(self.path().join("counter")).map_or(0, |s| s.lines().count())
    }

    /// A copy of the project (sources and task file, no outputs, no
    /// counter) at another absolute path.
    fn copy(&self) -> Project {
        let other = tempfile::tempdir().expect("copy dir");
        fs::create_dir_all(other.path().join("src")).expect("src");
        for f in ["src/a.txt", "src/b.txt", "strata.tasks.toml"] {
            fs::copy(self.path().join(f), other.path().join(f)).expect("copy");
        }
        Project { dir: other }
    }
}

/// One "machine": a cache directory and a config directory of its own.
struct Machine {
    home: tempfile::TempDir,
    env: BTreeMap<String, String>,
}

impl Machine {
    fn new() -> Self {
        let home = tempfile::tempdir().expect("machine dir");
        let mut env = BTreeMap::new();
        env.insert(
            "STRATA_CACHE_DIR".to_owned(),
            home.path().join("cache").display().to_string(),
        );
        env.insert(
            "XDG_CONFIG_HOME".to_owned(),
            home.path().join("config").display().to_string(),
        );
        env.insert("FLAVOUR".to_owned(), "plain".to_owned());
        Self { home, env }
    }

    fn with_remote(mut self, url: &str, token: Option<&str>) -> Self {
        self.env
            .insert("STRATA_REMOTE_URL".to_owned(), url.to_owned());
        if let Some(t) = token {
            self.env.insert("STRATA_TOKEN".to_owned(), t.to_owned());
        }
        self.env
            .insert("STRATA_REMOTE_TIMEOUT_SECS".to_owned(), "5".to_owned());
        self
    }

    fn cache_dir(&self) -> PathBuf {
        self.home.path().join("cache")
    }

    fn command(&self, cwd: &Path, args: &[&str], extra: &[(&str, &str)]) -> Command {
        let mut c = Command::new(env!("CARGO_BIN_EXE_strata"));
        c.args(args)
            .current_dir(cwd)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        for (k, _) in std::env::vars() {
            if k.starts_with("STRATA_") || k.starts_with("XDG_") {
                c.env_remove(k);
            }
        }
        c.envs(&self.env).envs(extra.iter().copied());
        c
    }

    fn run(&self, cwd: &Path, args: &[&str], extra: &[(&str, &str)]) -> Output {
        self.command(cwd, args, extra)
            .output()
            .expect("strata runs")
    }
}

fn text(b: &[u8]) -> String {
    String::from_utf8_lossy(b).into_owned()
}

fn assert_ok(o: &Output) {
    assert!(
        o.status.success(),
        "exit {:?}\nstdout:\n{}\nstderr:\n{}",
        o.status.code(),
        text(&o.stdout),
        text(&o.stderr)
    );
}

/// Asserts that `o`'s stderr holds `needle`.
fn assert_stderr_contains(o: &Output, needle: &str) {
    let err = text(&o.stderr);
    assert!(err.contains(needle), "{needle:?} not in stderr: {err}");
}

/// Asserts that `o`'s stderr holds no warning at all.
fn assert_no_warning(o: &Output) {
    let err = text(&o.stderr);
    assert!(!err.contains("warning"), "{err}");
}

/// Asserts that `o`'s stderr holds exactly one `strata: warning:`.
fn assert_warns_once(o: &Output) {
    let err = text(&o.stderr);
    assert_eq!(
        err.matches("strata: warning:").count(),
        1,
        "warns once: {err}"
    );
}

/// The outputs of a project: path -> (content, mode bits).
fn outputs(p: &Project) -> BTreeMap<String, (Vec<u8>, u32)> {
    let mut out = BTreeMap::new();
    for rel in ["out/sub/all.txt", "out/tool"] {
        let path = p.path().join(rel);
        if let Ok(bytes) = fs::read(&path) {
            let mode = fs::metadata(&path).expect("meta").permissions().mode() & 0o777;
            out.insert(rel.to_owned(), (bytes, mode));
        }
    }
    out
}

/// The status line of a local hit of `build` (stderr, before the replay).
const LOCAL_HIT: &str = "strata: build: local hit\n";

#[test]
fn the_second_run_replays_outputs_streams_and_exit_code_without_executing() {
    let p = Project::new(BUILD_TASK);
    let m = Machine::new();
    let first = m.run(p.path(), &["run", "build"], &[]);
    assert_ok(&first);
    assert_eq!(p.executions(), 1);
    assert_eq!(text(&first.stdout), "stdout: plain\n");
    assert_eq!(
        text(&first.stderr),
        "strata: build: miss (no previous run)\nto stderr\n"
    );
    let before = outputs(&p);
    assert_eq!(before.len(), 2);
    assert_eq!(before["out/tool"].1, 0o755);
    assert_eq!(before["out/sub/all.txt"].0, b"alpha\nbeta\n");

    fs::remove_dir_all(p.path().join("out")).expect("rm out");
    let second = m.run(p.path(), &["run", "build"], &[]);
    assert_ok(&second);
    assert_eq!(p.executions(), 1, "the second run did not execute");
    assert_eq!(outputs(&p), before, "outputs byte-identical, modes kept");
    assert_eq!(
        second.stdout, first.stdout,
        "stdout untouched by the status"
    );
    assert_eq!(text(&second.stderr), format!("{LOCAL_HIT}to stderr\n"));

    // --quiet: stderr is exactly the original's.
    let quiet = m.run(p.path(), &["run", "--quiet", "build"], &[]);
    assert_ok(&quiet);
    assert_eq!(text(&quiet.stderr), "to stderr\n");
    assert_eq!(p.executions(), 1);

    // An edited output never corrupts the cache: restores are copies.
    fs::write(p.path().join("out/sub/all.txt"), "edited").expect("edit");
    fs::remove_file(p.path().join("out/tool")).expect("rm");
    assert_ok(&m.run(p.path(), &["run", "-q", "build"], &[]));
    assert_eq!(outputs(&p), before);
}

#[test]
fn a_cached_failure_replays_its_exit_code_and_uncached_failures_rerun() {
    let p = Project::new(
        r#"
[tasks.fail]
command = "echo ran >> counter; echo broken >&2; exit 3"
inputs = ["src/*.txt"]
cache_failures = true

[tasks.flaky]
command = "echo ran >> counter; exit 4"
inputs = ["src/*.txt"]
"#,
    );
    let m = Machine::new();
    for _ in 0..2 {
        let o = m.run(p.path(), &["run", "-q", "fail"], &[]);
        assert_eq!(o.status.code(), Some(3));
        assert_eq!(text(&o.stderr), "broken\n");
    }
    assert_eq!(p.executions(), 1);
    for _ in 0..2 {
        assert_eq!(
            m.run(p.path(), &["run", "flaky"], &[]).status.code(),
            Some(4)
        );
    }
    assert_eq!(
        p.executions(),
        3,
        "non-zero exits are not cached by default"
    );
}

#[test]
fn changes_that_matter_rerun_and_others_replay() {
    let p = Project::new(BUILD_TASK);
    let m = Machine::new();
    assert_ok(&m.run(p.path(), &["run", "-q", "build"], &[]));
    assert_eq!(p.executions(), 1);

    // Touch an input without changing it: replay.
    let a = p.path().join("src/a.txt");
    let f = fs::OpenOptions::new().write(true).open(&a).expect("open");
    f.set_modified(std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_000_000))
        .expect("touch");
    drop(f);
    assert_ok(&m.run(p.path(), &["run", "-q", "build"], &[]));
    assert_eq!(p.executions(), 1, "touch replays");

    // An ignored input file and an excluded variable: replay.
    fs::write(p.path().join("src/scratch.tmp"), "x").expect("tmp");
    assert_ok(&m.run(
        p.path(),
        &["run", "-q", "build"],
        &[("NOISE", "1"), ("TERM", "dumb")],
    ));
    assert_eq!(p.executions(), 1, "ignored file and excluded env replay");

    // A variable outside the filter, and a secret-looking one: replay.
    assert_ok(&m.run(
        p.path(),
        &["run", "-q", "build"],
        &[("UNRELATED", "x"), ("STRATA_API_TOKEN", "s3cret")],
    ));
    assert_eq!(p.executions(), 1);

    // One input byte: runs.
    fs::write(&a, "alphA\n").expect("edit");
    assert_ok(&m.run(p.path(), &["run", "-q", "build"], &[]));
    assert_eq!(p.executions(), 2, "a changed byte reruns");

    // An included variable: runs, and its value is in the output.
    let o = m.run(p.path(), &["run", "-q", "build"], &[("FLAVOUR", "spicy")]);
    assert_ok(&o);
    assert_eq!(p.executions(), 3, "an included variable reruns");
    assert_eq!(text(&o.stdout), "stdout: spicy\n");

    // A new input file: runs; an executable bit: runs.
    fs::write(p.path().join("src/c.txt"), "gamma").expect("new");
    assert_ok(&m.run(p.path(), &["run", "-q", "build"], &[("FLAVOUR", "spicy")]));
    assert_eq!(p.executions(), 4);
    fs::set_permissions(
        p.path().join("src/c.txt"),
        fs::Permissions::from_mode(0o755),
    )
    .expect("chmod");
    assert_ok(&m.run(p.path(), &["run", "-q", "build"], &[("FLAVOUR", "spicy")]));
    assert_eq!(p.executions(), 5);

    // --explain names the last change.
    let e = m.run(
        p.path(),
        &["run", "--explain", "build"],
        &[("FLAVOUR", "spicy")],
    );
    assert_ok(&e);
    let e = text(&e.stdout);
    assert!(e.contains("the next run replays it"), "{e}");
    assert!(e.contains("input src/c.txt: mode"), "{e}");
    let e = text(
        &m.run(
            p.path(),
            &["run", "--explain", "build"],
            &[("FLAVOUR", "mild")],
        )
        .stdout,
    );
    assert!(e.contains("env FLAVOUR: spicy -> mild"), "{e}");
}

#[test]
fn the_same_project_at_another_path_replays() {
    let p = Project::new(BUILD_TASK);
    let m = Machine::new();
    assert_ok(&m.run(p.path(), &["run", "-q", "build"], &[]));
    let expected = outputs(&p);
    let q = p.copy();
    assert_ne!(p.path(), q.path());
    let o = m.run(q.path(), &["run", "build"], &[]);
    assert_ok(&o);
    assert_eq!(q.executions(), 0, "replayed, not run, at the other path");
    assert_stderr_contains(&o, LOCAL_HIT);
    assert_eq!(outputs(&q), expected);
}

#[test]
fn ad_hoc_commands_use_the_same_rules() {
    let p = Project::new("");
    let m = Machine::new();
    let args = [
        "run",
        "-q",
        "--inputs",
        "src/**",
        "--outputs",
        "gen/",
        "--",
        "sh",
        "-c",
        "echo ran >> counter; mkdir -p gen; cat src/a.txt > gen/a; echo made",
    ];
    for _ in 0..2 {
        let o = m.run(p.path(), &args, &[]);
        assert_ok(&o);
        assert_eq!(text(&o.stdout), "made\n");
    }
    assert_eq!(p.executions(), 1);
    fs::write(p.path().join("src/a.txt"), "changed").expect("edit");
    assert_ok(&m.run(p.path(), &args, &[]));
    assert_eq!(p.executions(), 2);
    assert_eq!(fs::read(p.path().join("gen/a")).expect("gen/a"), b"changed");

    // Named after its command: another ad hoc command in between does
    // not become "the last run" of this one, so --explain compares like
    // with like.
    let other = m.run(p.path(), &["run", "--", "sh", "-c", "echo other"], &[]);
    assert_ok(&other);
    assert_stderr_contains(
        &other,
        "strata: adhoc:sh_-c_echo_other: miss (no previous run)",
    );
    let mut explain = args.to_vec();
    explain.insert(1, "--explain");
    let e = text(&m.run(p.path(), &explain, &[]).stdout);
    assert!(e.starts_with("task adhoc:sh_-c_echo_ran"), "{e}");
    assert!(e.contains("unchanged since the last run"), "{e}");
    assert!(e.contains("the next run replays it: a local hit"), "{e}");
}

#[test]
fn two_identical_runs_started_together_execute_once() {
    let p = Project::new(
        r#"
[tasks.slow]
command = "echo ran >> counter; sleep 1; echo done > out.txt"
inputs = ["src/**"]
outputs = ["out.txt"]
"#,
    );
    let m = Machine::new();
    let a = m
        .command(p.path(), &["run", "-q", "slow"], &[])
        .spawn()
        .expect("a");
    let b = m
        .command(p.path(), &["run", "-q", "slow"], &[])
        .spawn()
        .expect("b");
    let (a, b) = (
        a.wait_with_output().expect("a"),
        b.wait_with_output().expect("b"),
    );
    assert_ok(&a);
    assert_ok(&b);
    assert_eq!(p.executions(), 1, "one execution for two runs");
    assert_eq!(fs::read(p.path().join("out.txt")).expect("out"), b"done\n");
}

#[test]
fn bad_task_files_name_the_file_line_and_key() {
    let cases = [
        (
            "[tasks.a]\ncommand = \"true\"\n\ncolour = \"red\"\n",
            "4",
            "colour",
        ),
        (
            "[tasks.a]\ncommand = \"true\"\ninputs = [\"src/[oops\"]\n",
            "3",
            "tasks.a.inputs",
        ),
        (
            "[tasks.a]\ncommand = \"true\"\nmode = \"sometimes\"\n",
            "3",
            "tasks.a.mode",
        ),
        ("[tasks.a]\ninputs = [\"src/**\"]\n", "1", "command"),
        (
            "[tasks.a]\ncommand = \"true\"\nenv = { include = [\"X\"], pass = [] }\n",
            "3",
            "pass",
        ),
    ];
    let m = Machine::new();
    for (body, line, key) in cases {
        let p = Project::new(body);
        let o = m.run(&p.path().join("src"), &["run", "a"], &[]);
        assert_eq!(o.status.code(), Some(1), "{body}");
        let err = text(&o.stderr);
        let file = p.path().join("strata.tasks.toml");
        let at = format!("{}:{line}:", file.display());
        assert!(err.contains(&at), "{body}\nwant {at} in:\n{err}");
        assert!(err.contains(key), "{body}\nwant {key} in:\n{err}");
    }
    let p = Project::new(BUILD_TASK);
    let o = m.run(p.path(), &["run", "nosuch"], &[]);
    assert!(!o.status.success());
    assert_stderr_contains(&o, "tasks: build");
}

#[test]
fn cache_stats_clean_and_validate() {
    let p = Project::new(BUILD_TASK);
    let m = Machine::new();
    assert_ok(&m.run(p.path(), &["run", "-q", "build"], &[]));
    assert_ok(&m.run(p.path(), &["run", "-q", "build"], &[]));
    let s = m.run(p.path(), &["cache", "stats"], &[]);
    assert_ok(&s);
    let s = text(&s.stdout);
    assert!(s.contains("actions: 1 entries"), "{s}");
    assert!(s.contains("1 hits, 1 misses"), "{s}");

    // Corrupt one blob: validate removes it and says so; the next run
    // misses instead of replaying bad bytes.
    let cas = m.cache_dir().join("store/@/cas");
    let shard = fs::read_dir(&cas)
        .expect("cas")
        .next()
        .expect("a shard")
        .expect("entry");
    let blob = fs::read_dir(shard.path())
        .expect("shard")
        .next()
        .expect("a blob")
        .expect("entry");
    fs::write(blob.path(), "rotten").expect("corrupt");
    let v = m.run(p.path(), &["cache", "validate"], &[]);
    assert_ok(&v);
    let v = text(&v.stdout);
    assert!(
        v.contains("corrupt blob removed") && v.contains(": 1 corrupt"),
        "{v}"
    );
    assert!(!blob.path().exists());
    let v = text(&m.run(p.path(), &["cache", "validate"], &[]).stdout);
    assert!(v.contains(": 0 corrupt"), "{v}");
    assert_ok(&m.run(p.path(), &["run", "-q", "build"], &[]));
    assert_eq!(p.executions(), 2);

    let c = m.run(p.path(), &["cache", "clean", "--older-than", "7d"], &[]);
    assert_ok(&c);
    assert!(text(&c.stdout).contains("removed 0 actions"));

    // Ages come from last use: a hit refreshes an entry that was written
    // ten days ago, so `--older-than 7d` spares it; unused, it goes.
    let age_store = || age_store(&m);
    age_store();
    assert_ok(&m.run(p.path(), &["run", "-q", "build"], &[]));
    assert_eq!(p.executions(), 2, "a hit");
    let c = m.run(p.path(), &["cache", "clean", "--older-than", "7d"], &[]);
    assert!(
        text(&c.stdout).contains("removed 0 actions and 0 blobs"),
        "{}",
        text(&c.stdout)
    );
    age_store();
    let c = m.run(p.path(), &["cache", "clean", "--older-than", "7d"], &[]);
    assert!(
        text(&c.stdout).contains("removed 1 actions"),
        "{}",
        text(&c.stdout)
    );
    assert_ok(&m.run(p.path(), &["run", "-q", "build"], &[]));
    assert_eq!(p.executions(), 3, "cleaned away");
    let c = m.run(p.path(), &["cache", "clean", "--all"], &[]);
    assert_ok(&c);
    assert!(
        text(&c.stdout).contains("removed 1 actions"),
        "{}",
        text(&c.stdout)
    );
    assert_ok(&m.run(p.path(), &["run", "-q", "build"], &[]));
    assert_eq!(p.executions(), 4, "after clean --all the task runs again");
}

/// The one place test servers' configs are written: JSON logs, the build
/// cache on memory, and API keys (`writer` and `reader` on `build-cache`)
/// when `auth` is set.
fn server_config(dir: &Path, auth: bool) -> PathBuf {
    let mut body = "[log]\nformat = \"json\"\nfilter = \"info\"\n".to_owned();
    if auth {
        for (id, secret, role) in [
            ("ci", WRITER_TOKEN, "writer"),
            ("dev", READER_TOKEN, "reader"),
        ] {
            body.push_str(&format!(
                "[auth.api_keys.{id}]\nsha256 = \"{}\"\ngrants = [{{ caches = \"build-cache\", role = \"{role}\" }}]\n",
                ApiKeyDigest::of(secret).to_hex()
            ));
        }
    }
    let path = dir.join("strata.toml");
    fs::write(&path, body).expect("server config");
    path
}

#[tokio::test]
async fn a_second_machine_replays_from_the_shared_server() {
    let dir = tempfile::tempdir().expect("dir");
    let server = crate::process::start(&server_config(dir.path(), false), &[]).await;
    let p = Project::new(BUILD_TASK);
    let a = Machine::new().with_remote(&server.base, None);
    let first = a.run(p.path(), &["run", "build"], &[]);
    assert_ok(&first);
    assert_no_warning(&first);
    assert_stderr_contains(
        &first,
        &format!(
            "strata: build: uploaded 4 blobs (55 bytes) to {}\n",
            server.base
        ),
    );
    let expected = outputs(&p);

    let q = p.copy();
    let b = Machine::new().with_remote(&server.base, None);
    let second = b.run(q.path(), &["run", "build"], &[]);
    assert_ok(&second);
    assert_eq!(q.executions(), 0, "a remote hit, not a run");
    assert_stderr_contains(&second, "strata: build: remote hit\n");
    assert_eq!(outputs(&q), expected);
    assert_eq!(second.stdout, first.stdout);

    // The remote hit filled b's local cache: it replays with the server gone.
    server.stop().await;
    let third = b.run(q.path(), &["run", "build"], &[]);
    assert_ok(&third);
    assert_stderr_contains(&third, LOCAL_HIT);
    assert_eq!(q.executions(), 0);
}

#[tokio::test]
async fn a_server_killed_mid_run_leaves_a_warning_and_a_finished_task() {
    let dir = tempfile::tempdir().expect("dir");
    let server = crate::process::start(&server_config(dir.path(), false), &[]).await;
    let task = format!(
        "[tasks.build]\ncommand = \"echo ran >> counter; kill -9 {}; echo built > out.txt\"\ninputs = [\"src/**\"]\noutputs = [\"out.txt\"]\n",
        server.pid()
    );
    let p = Project::new(&task);
    let m = Machine::new().with_remote(&server.base, None);
    let o = m.run(p.path(), &["run", "build"], &[]);
    assert_ok(&o);
    assert_warns_once(&o);
    assert_eq!(fs::read(p.path().join("out.txt")).expect("out"), b"built\n");
    drop(server.kill_reaped());
    // Recorded locally despite the failed upload: the next run replays,
    // with the remote still down (a local hit needs no remote).
    let o = m.run(p.path(), &["run", "build"], &[]);
    assert_ok(&o);
    assert_eq!(p.executions(), 1);

    // A remote that is down from the start: one warning, the task runs.
    fs::write(p.path().join("src/a.txt"), "new").expect("edit");
    let o = m.run(p.path(), &["run", "-q", "build"], &[]);
    assert_ok(&o);
    assert_warns_once(&o);
    assert_eq!(p.executions(), 2);
}

#[test]
fn a_remote_that_never_answers_times_out_with_one_warning() {
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let url = format!("http://{}", listener.local_addr().expect("addr"));
    // Accepts connections and never answers.
    let _hold = std::thread::spawn(move || {
        let mut held = Vec::new();
        for s in listener.incoming().flatten() {
            held.push(s);
        }
    });
    let p = Project::new(BUILD_TASK);
    let mut m = Machine::new().with_remote(&url, None);
    m.env
        .insert("STRATA_REMOTE_TIMEOUT_SECS".into(), "1".into());
    let o = m.run(p.path(), &["run", "-q", "build"], &[]);
    assert_ok(&o);
    assert_warns_once(&o);
    assert_eq!(p.executions(), 1);
}

#[tokio::test]
async fn a_token_without_write_downloads_but_does_not_upload() {
    let dir = tempfile::tempdir().expect("dir");
    let server = crate::process::start(&server_config(dir.path(), true), &[]).await;
    let p = Project::new(BUILD_TASK);

    // A reader runs first: it executes, its upload is refused (one
    // warning), and nothing reaches the server...
    let reader = Machine::new().with_remote(&server.base, Some(READER_TOKEN));
    let o = reader.run(p.path(), &["run", "-q", "build"], &[]);
    assert_ok(&o);
    assert_warns_once(&o);
    assert_eq!(p.executions(), 1);

    // ...so a writer's first run is a miss too; it uploads.
    let q = p.copy();
    let writer = Machine::new().with_remote(&server.base, Some(WRITER_TOKEN));
    let o = writer.run(q.path(), &["run", "build"], &[]);
    assert_ok(&o);
    assert_eq!(q.executions(), 1, "the reader uploaded nothing");
    assert_no_warning(&o);

    // A second reader downloads the writer's result.
    let r = p.copy();
    let reader2 = Machine::new().with_remote(&server.base, Some(READER_TOKEN));
    let o = reader2.run(r.path(), &["run", "build"], &[]);
    assert_ok(&o);
    assert_eq!(r.executions(), 0);
    assert_stderr_contains(&o, "strata: build: remote hit\n");

    // No token at all is refused: it warns once and runs.
    let s = p.copy();
    let anonymous = Machine::new().with_remote(&server.base, None);
    let o = anonymous.run(s.path(), &["run", "-q", "build"], &[]);
    assert_ok(&o);
    assert_eq!(s.executions(), 1);
    assert_warns_once(&o);
    server.stop().await;
}

#[test]
fn global_settings_come_from_xdg_config_home_and_strata_variables() {
    let p = Project::new(BUILD_TASK);
    let m = Machine::new();
    let config = m.home.path().join("config/strata");
    fs::create_dir_all(&config).expect("config dir");
    fs::write(config.join("tasks.toml"), "default_mode = \"off\"\n").expect("global");
    for _ in 0..2 {
        assert_ok(&m.run(p.path(), &["run", "-q", "build"], &[]));
    }
    assert_eq!(p.executions(), 2, "default_mode = off: always runs");
    // The environment overrides the file.
    for _ in 0..2 {
        assert_ok(&m.run(
            p.path(),
            &["run", "-q", "build"],
            &[("STRATA_DEFAULT_MODE", "read-write")],
        ));
    }
    assert_eq!(p.executions(), 3);

    fs::write(
        config.join("tasks.toml"),
        "max_size = \"10GiB\"\n\n[remote]\nurl = \"http://x\"\nretries = 3\n",
    )
    .expect("bad global");
    let o = m.run(p.path(), &["run", "build"], &[]);
    assert!(!o.status.success());
    let err = text(&o.stderr);
    assert!(
        err.contains("tasks.toml:5:") && err.contains("retries"),
        "{err}"
    );
}

/// `BUILD_TASK` with the portable environment preset, as the docs'
/// sharing recipe has it.
fn portable_task() -> String {
    BUILD_TASK.replace("outputs = [", "env_preset = \"portable\"\noutputs = [")
}

/// A person's environment: HOME, USER and SHELL of their own, and a PATH
/// that differs from everyone else's only in their user directories.
fn person(user: &str, shell: &str) -> Vec<(String, String)> {
    let home = format!("/home/{user}");
    vec![
        ("HOME".into(), home.clone()),
        ("USER".into(), user.into()),
        ("SHELL".into(), shell.into()),
        (
            "PATH".into(),
            format!("{home}/.cargo/bin:{home}/.local/bin:/usr/local/bin:/usr/bin:/bin"),
        ),
    ]
}

fn pairs(v: &[(String, String)]) -> Vec<(&str, &str)> {
    v.iter().map(|(k, x)| (k.as_str(), x.as_str())).collect()
}

#[tokio::test]
async fn the_sharing_recipe_ci_uploads_and_a_laptop_of_another_person_gets_a_remote_hit() {
    let dir = tempfile::tempdir().expect("dir");
    let server = crate::process::start(&server_config(dir.path(), true), &[]).await;
    let p = Project::new(&portable_task());

    // CI: the writer key, uploads.
    let ci = Machine::new().with_remote(&server.base, Some(WRITER_TOKEN));
    let ci_env = person("ci", "/bin/bash");
    let o = ci.run(p.path(), &["run", "build"], &pairs(&ci_env));
    assert_ok(&o);
    assert_no_warning(&o);
    assert_eq!(p.executions(), 1);
    assert_stderr_contains(&o, "strata: build: miss (no previous run)\n");
    assert_stderr_contains(&o, &format!(" to {}\n", server.base));
    let expected = outputs(&p);

    // A laptop: the reader key, uploads off, its own cache, HOME, USER,
    // SHELL and PATH. --explain looks at the server before promising.
    let q = p.copy();
    let mut laptop = Machine::new().with_remote(&server.base, Some(READER_TOKEN));
    laptop
        .env
        .insert("STRATA_REMOTE_UPLOAD".into(), "false".into());
    let alice = person("alice", "/bin/zsh");
    let e = laptop.run(q.path(), &["run", "--explain", "build"], &pairs(&alice));
    assert_ok(&e);
    let e = text(&e.stdout);
    assert!(
        e.contains(&format!(
            "the next run replays it: a remote hit from {}",
            server.base
        )),
        "{e}"
    );
    let o = laptop.run(q.path(), &["run", "build"], &pairs(&alice));
    assert_ok(&o);
    assert_no_warning(&o);
    assert_eq!(q.executions(), 0, "a remote hit, not a run");
    assert_eq!(
        text(&o.stderr),
        "strata: build: remote hit\nto stderr\n",
        "one status line, then the replayed stderr"
    );
    assert_eq!(outputs(&q), expected);

    // The default preset keys HOME, USER, SHELL and PATH: the same
    // recipe misses on the laptop.
    let r = Project::new(BUILD_TASK);
    assert_ok(&ci.run(r.path(), &["run", "-q", "build"], &pairs(&ci_env)));
    let s = r.copy();
    let o = laptop.run(s.path(), &["run", "build"], &pairs(&alice));
    assert_ok(&o);
    assert_eq!(s.executions(), 1, "the default preset is not portable");
    server.stop().await;
}

#[test]
fn explain_names_each_differing_variable_and_the_miss_line_the_first() {
    let p = Project::new(BUILD_TASK);
    let m = Machine::new();
    let ci = person("ci", "/bin/bash");
    assert_ok(&m.run(p.path(), &["run", "-q", "build"], &pairs(&ci)));
    let alice = person("alice", "/bin/zsh");
    let e = m.run(p.path(), &["run", "--explain", "build"], &pairs(&alice));
    assert_ok(&e);
    let e = text(&e.stdout);
    for line in [
        "  env HOME: /home/ci -> /home/alice\n",
        "  env USER: ci -> alice\n",
        "  env SHELL: /bin/bash -> /bin/zsh\n",
        "  env PATH: /home/ci/.cargo/bin:",
        "the next run runs it: the local cache misses (no entry for this digest)",
    ] {
        assert!(e.contains(line), "{line:?} not in:\n{e}");
    }
    assert!(!e.contains("replays it"), "{e}");
    let o = m.run(p.path(), &["run", "build"], &pairs(&alice));
    assert_ok(&o);
    assert_eq!(p.executions(), 2);
    assert!(
        text(&o.stderr).starts_with("strata: build: miss (env HOME)\n"),
        "{}",
        text(&o.stderr)
    );
}

/// Sets every file of the local store's `ac` and `cas` to ten days old.
fn age_store(m: &Machine) {
    let old = std::time::SystemTime::now() - std::time::Duration::from_secs(10 * 86_400);
    for kind in ["ac", "cas"] {
        for shard in fs::read_dir(m.cache_dir().join("store/@").join(kind)).expect("dir") {
            for f in fs::read_dir(shard.expect("shard").path()).expect("shard") {
                let f = fs::File::options()
                    .write(true)
                    .open(f.expect("f").path())
                    .expect("open");
                f.set_modified(old).expect("age");
            }
        }
    }
}

#[test]
fn explain_does_not_promise_a_replay_that_clean_or_validate_took_away() {
    let p = Project::new(BUILD_TASK);
    let m = Machine::new();
    let explain = || {
        let e = m.run(p.path(), &["run", "--explain", "build"], &[]);
        assert_ok(&e);
        text(&e.stdout)
    };
    assert_ok(&m.run(p.path(), &["run", "-q", "build"], &[]));
    let e = explain();
    assert!(e.contains("the next run replays it: a local hit"), "{e}");

    // `cache validate` removes a corrupt blob: the entry stays, the
    // replay is gone.
    let cas = m.cache_dir().join("store/@/cas");
    let shard = fs::read_dir(&cas).expect("cas").next().expect("a shard");
    let blob = fs::read_dir(shard.expect("shard").path())
        .expect("shard")
        .next()
        .expect("a blob")
        .expect("entry");
    fs::write(blob.path(), "rotten").expect("corrupt");
    assert_ok(&m.run(p.path(), &["cache", "validate"], &[]));
    let e = explain();
    assert!(!e.contains("replays it"), "{e}");
    assert!(
        e.contains("the next run runs it: the local cache misses (the entry's blob"),
        "{e}"
    );
    assert!(e.contains("unchanged since the last run"), "{e}");
    let o = m.run(p.path(), &["run", "build"], &[]);
    assert_ok(&o);
    assert_eq!(p.executions(), 2, "explain was right: it ran");
    assert_stderr_contains(
        &o,
        "strata: build: miss (unchanged, but its result is not cached)\n",
    );

    // `cache clean --older-than` removes the whole entry.
    age_store(&m);
    assert_ok(&m.run(p.path(), &["cache", "clean", "--older-than", "7d"], &[]));
    let e = explain();
    assert!(!e.contains("replays it"), "{e}");
    assert!(
        e.contains("the next run runs it: the local cache misses (no entry for this digest), and no remote is consulted"),
        "{e}"
    );
    assert_ok(&m.run(p.path(), &["run", "-q", "build"], &[]));
    assert_eq!(p.executions(), 3, "explain was right: it ran");
}

#[test]
fn a_remote_url_without_a_scheme_says_what_is_wrong_and_the_task_runs() {
    let p = Project::new(BUILD_TASK);
    let m = Machine::new().with_remote("127.0.0.1:8080", None);
    let o = m.run(p.path(), &["run", "-q", "build"], &[]);
    assert_ok(&o);
    assert_warns_once(&o);
    assert_eq!(p.executions(), 1);
    let err = text(&o.stderr);
    assert!(
        err.contains("\"127.0.0.1:8080\" has no scheme")
            && err.contains("http://127.0.0.1:8080")
            && !err.contains("builder error"),
        "{err}"
    );
    let o = m.run(p.path(), &["run", "-q", "build"], &[]);
    assert_ok(&o);
    assert_eq!(p.executions(), 1, "the local cache still works");
}
