//! [`TaskRunner`]: replay a task or run and record it.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bytes::Bytes;
use futures_util::{StreamExt, stream};
use strata_domain::tasks::{
    CacheMode, ContentHasher, OutputFile, TaskCommand, TaskResult, TaskResultCodec,
};
use strata_domain::{ContentStore, Digest, DigestHash, InstanceName, ReadRange};

use super::{
    Console, Execution, HitSource, LocalSession, LocalTaskCache, RemoteError, RemoteTaskCache,
    RunEvent, TaskError, TaskFiles, TaskProcess,
};

/// How the remote is used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RemotePolicy {
    /// Look results up remotely on a local miss.
    pub download: bool,
    /// Upload recorded results.
    pub upload: bool,
    /// Most uploads in flight at once (at least 1).
    pub max_concurrent: usize,
    /// Outputs larger than this are not uploaded (and then neither is the
    /// action, whose hit would be unusable), in bytes.
    pub max_upload_bytes: u64,
}

/// Why a cache cannot give an action's result (`--explain`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Absence {
    /// No action entry under the digest.
    NoAction,
    /// The entry is there, but this blob it references is not (evicted,
    /// cleaned, or removed by `cache validate`).
    MissingBlob(Digest),
    /// The entry does not decode.
    Corrupt(String),
    /// The remote did not answer usefully (down, refusing, misconfigured).
    Unreachable(String),
}

/// Where the next run of an action would find its result
/// ([`TaskRunner::probe`]).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Availability {
    /// The local cache has the action and every blob: a local hit.
    Local,
    /// The local cache does not, the remote does: a remote hit.
    Remote,
    /// Neither: the command runs.
    Missing {
        /// Why the local cache misses.
        local: Absence,
        /// Why the remote misses; `None` when no remote is consulted (none
        /// configured, or downloads off).
        remote: Option<Absence>,
    },
}

/// What `run` did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum RunOutcome {
    /// Replayed.
    Hit {
        /// From where.
        source: HitSource,
        /// How long the original run took, in milliseconds.
        original_ms: u64,
    },
    /// Ran the command.
    Executed {
        /// Whether the result was recorded locally.
        recorded: bool,
    },
}

/// The exit code to leave with and what happened.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RunReport {
    /// The command's (or the replayed) exit code.
    pub exit_code: i32,
    /// Hit or run.
    pub outcome: RunOutcome,
}

/// The remote and its state in this run: after the first failure it
/// warns once and is left alone ("carries on locally").
struct Remote {
    cache: Arc<dyn RemoteTaskCache>,
    policy: RemotePolicy,
    down: AtomicBool,
}

/// Replays a task from the local or remote cache, or runs it and records
/// it. One runner serves one task run.
///
/// Order: local lookup (when the mode reads), remote lookup (when the
/// mode reads and the remote downloads; a hit fills the local cache),
/// then the command; a result is recorded when the mode writes and the
/// exit is 0 (or `cache_failures`), into the local CAS and AC, then
/// uploaded (CAS blobs first, bounded in concurrency, the AC entry last).
/// A hit restores every output atomically and replays stdout and stderr
/// byte for byte.
pub struct TaskRunner {
    local: Arc<dyn LocalTaskCache>,
    process: Arc<dyn TaskProcess>,
    files: Arc<dyn TaskFiles>,
    console: Arc<dyn Console>,
    codec: Arc<dyn TaskResultCodec>,
    hasher: Arc<dyn ContentHasher>,
    instance: InstanceName,
    remote: Option<Remote>,
}

impl TaskRunner {
    /// A runner without a remote, on the default instance.
    pub fn new(
        local: Arc<dyn LocalTaskCache>,
        process: Arc<dyn TaskProcess>,
        files: Arc<dyn TaskFiles>,
        console: Arc<dyn Console>,
        codec: Arc<dyn TaskResultCodec>,
        hasher: Arc<dyn ContentHasher>,
    ) -> Self {
        Self {
            local,
            process,
            files,
            console,
            codec,
            hasher,
            instance: InstanceName::default(),
            remote: None,
        }
    }

    /// Uses `cache` as the remote.
    #[must_use]
    pub fn remote(mut self, cache: Arc<dyn RemoteTaskCache>, policy: RemotePolicy) -> Self {
        self.remote = Some(Remote {
            cache,
            policy,
            down: AtomicBool::new(false),
        });
        self
    }

    /// Runs the action `key` (see the type's docs for the order).
    ///
    /// # Errors
    /// [`TaskError`] when the command cannot run, outputs cannot be read
    /// or written, or the local cache fails. Remote failures are warnings.
    pub async fn run(
        &self,
        key: DigestHash,
        command: &TaskCommand,
        mode: CacheMode,
        timeout: Option<Duration>,
        cache_failures: bool,
    ) -> Result<RunReport, TaskError> {
        if mode.reads() {
            if let Some(report) = self.local_hit(&key).await? {
                return Ok(report);
            }
            if let Some(report) = self.remote_hit(&key).await? {
                return Ok(report);
            }
        }
        self.console.event(&RunEvent::Executing);
        let exec = self.process.run(command, timeout).await?;
        let record = mode.writes() && (exec.exit_code == 0 || cache_failures);
        if record {
            let (result, blobs) = self.record(&key, &exec).await?;
            self.upload(&key, &result, &blobs).await;
        }
        Ok(RunReport {
            exit_code: exec.exit_code,
            outcome: RunOutcome::Executed { recorded: record },
        })
    }

    async fn local_hit(&self, key: &DigestHash) -> Result<Option<RunReport>, TaskError> {
        let session = self.local.open().await?;
        let Some(entry) = session.ac.get(&self.instance, key).await? else {
            return Ok(None);
        };
        let result = self
            .codec
            .decode(&entry.value)
            .map_err(|e| TaskError::Corrupt(*key, e.to_string()))?;
        let mut blobs = HashMap::new();
        for d in result.blobs() {
            match read_local(&session, &self.instance, &d).await? {
                Some(bytes) => {
                    blobs.insert(d, bytes);
                }
                None => return Ok(None),
            }
        }
        self.local.touch(&session, key, &result.blobs()).await;
        drop(session);
        self.console.event(&RunEvent::Hit(HitSource::Local));
        self.replay(&result, &blobs).await?;
        Ok(Some(RunReport {
            exit_code: result.exit_code,
            outcome: RunOutcome::Hit {
                source: HitSource::Local,
                original_ms: result.duration_ms,
            },
        }))
    }

    fn remote_failed(&self, remote: &Remote, err: &RemoteError) {
        if !remote.down.swap(true, Ordering::SeqCst) {
            self.console.notice(&format!(
                "strata: warning: {err}; continuing with the local cache only"
            ));
        }
    }

    fn usable_remote(&self) -> Option<&Remote> {
        self.remote
            .as_ref()
            .filter(|r| !r.down.load(Ordering::SeqCst))
    }

    async fn remote_hit(&self, key: &DigestHash) -> Result<Option<RunReport>, TaskError> {
        let Some(remote) = self.usable_remote().filter(|r| r.policy.download) else {
            return Ok(None);
        };
        let value = match remote.cache.get_action(key).await {
            Ok(Some(v)) => v,
            Ok(None) => return Ok(None),
            Err(e) => {
                self.remote_failed(remote, &e);
                return Ok(None);
            }
        };
        let Ok(result) = self.codec.decode(&value) else {
            return Ok(None);
        };
        let mut blobs = HashMap::new();
        let total: u64 = result.blobs().iter().map(Digest::size_bytes).sum();
        let mut done = 0;
        for d in result.blobs() {
            match remote.cache.get_blob(&d).await {
                Ok(Some(bytes)) => {
                    done += d.size_bytes();
                    self.console.transfer("downloading", done, total);
                    blobs.insert(d, bytes);
                }
                Ok(None) => return Ok(None),
                Err(e) => {
                    self.remote_failed(remote, &e);
                    return Ok(None);
                }
            }
        }
        // A remote hit fills the local cache (in every mode that reads).
        let session = self.local.open().await?;
        for (d, bytes) in &blobs {
            write_local(session.cas.as_ref(), &self.instance, *d, bytes.clone()).await?;
        }
        session.ac.put(&self.instance, *key, value).await?;
        drop(session);
        self.console.event(&RunEvent::Hit(HitSource::Remote));
        self.replay(&result, &blobs).await?;
        Ok(Some(RunReport {
            exit_code: result.exit_code,
            outcome: RunOutcome::Hit {
                source: HitSource::Remote,
                original_ms: result.duration_ms,
            },
        }))
    }

    async fn replay(
        &self,
        result: &TaskResult,
        blobs: &HashMap<Digest, Bytes>,
    ) -> Result<(), TaskError> {
        let get = |d: &Digest| blobs.get(d).cloned().unwrap_or_default();
        for out in &result.outputs {
            self.files.restore(out, get(&out.digest)).await?;
        }
        self.console.stdout(&get(&result.stdout));
        self.console.stderr(&get(&result.stderr));
        Ok(())
    }

    async fn record(
        &self,
        key: &DigestHash,
        exec: &Execution,
    ) -> Result<(TaskResult, HashMap<Digest, Bytes>), TaskError> {
        let outputs = self.files.collect().await?;
        let mut blobs = HashMap::new();
        let mut digest_of = |bytes: &Bytes| {
            let d = Digest::new(self.hasher.sha256(bytes), bytes.len() as u64);
            blobs.insert(d, bytes.clone());
            d
        };
        let stdout = digest_of(&exec.stdout);
        let stderr = digest_of(&exec.stderr);
        let mut files: Vec<OutputFile> = Vec::with_capacity(outputs.len());
        for (mut file, bytes) in outputs {
            file.digest = digest_of(&bytes);
            files.push(file);
        }
        files.sort_by(|a, b| a.path.cmp(&b.path));
        let result = TaskResult {
            exit_code: exec.exit_code,
            stdout,
            stderr,
            outputs: files,
            duration_ms: exec.duration_ms,
        };
        let session = self.local.open().await?;
        for (d, bytes) in &blobs {
            write_local(session.cas.as_ref(), &self.instance, *d, bytes.clone()).await?;
        }
        session
            .ac
            .put(&self.instance, *key, self.codec.encode(&result))
            .await?;
        Ok((result, blobs))
    }

    async fn upload(&self, key: &DigestHash, result: &TaskResult, blobs: &HashMap<Digest, Bytes>) {
        let Some(remote) = self.usable_remote().filter(|r| r.policy.upload) else {
            return;
        };
        let limit = remote.policy.max_upload_bytes;
        if let Some(big) = result.blobs().iter().find(|d| d.size_bytes() > limit) {
            self.console.notice(&format!(
                "strata: not uploading: a {}-byte output is over the {limit}-byte upload limit",
                big.size_bytes()
            ));
            return;
        }
        let total: u64 = result.blobs().iter().map(Digest::size_bytes).sum();
        let puts = result.blobs().into_iter().map(|d| {
            let content = blobs.get(&d).cloned().unwrap_or_default();
            async move {
                remote
                    .cache
                    .put_blob(d, content)
                    .await
                    .map(|()| d.size_bytes())
            }
        });
        let mut results = stream::iter(puts).buffer_unordered(remote.policy.max_concurrent.max(1));
        let mut done = 0;
        while let Some(r) = results.next().await {
            match r {
                Ok(size) => {
                    done += size;
                    self.console.transfer("uploading", done, total);
                }
                Err(e) => {
                    self.remote_failed(remote, &e);
                    return;
                }
            }
        }
        match remote
            .cache
            .put_action(*key, self.codec.encode(result))
            .await
        {
            Ok(()) => self.console.event(&RunEvent::Uploaded {
                blobs: result.blobs().len(),
                bytes: total,
            }),
            Err(e) => self.remote_failed(remote, &e),
        }
    }

    /// Where the next run of the action `key` would find its result,
    /// without running, replaying or downloading anything: the local
    /// action entry and every blob it references (by size), then, when
    /// the local cache misses and the remote downloads, the remote's
    /// entry and blobs. This is the lookup [`run`](Self::run) makes, so a
    /// result cleaned away, evicted or removed by `cache validate` is a
    /// miss here too. A failing remote is an [`Absence::Unreachable`],
    /// not an error.
    ///
    /// # Errors
    /// [`TaskError::Local`] when the local cache cannot be read.
    pub async fn probe(&self, key: &DigestHash) -> Result<Availability, TaskError> {
        let local = {
            let session = self.local.open().await?;
            match session.ac.get(&self.instance, key).await? {
                None => Absence::NoAction,
                Some(entry) => match self.codec.decode(&entry.value) {
                    Err(e) => Absence::Corrupt(e.to_string()),
                    Ok(result) => {
                        let missing = session
                            .cas
                            .find_missing(&self.instance, &result.blobs())
                            .await?;
                        match missing.first() {
                            None => return Ok(Availability::Local),
                            Some(d) => Absence::MissingBlob(*d),
                        }
                    }
                },
            }
        };
        let remote = match self.remote.as_ref().filter(|r| r.policy.download) {
            None => None,
            Some(r) => Some(match self.probe_remote(r, key).await {
                Ok(None) => return Ok(Availability::Remote),
                Ok(Some(absence)) => absence,
                Err(e) => Absence::Unreachable(e.to_string()),
            }),
        };
        Ok(Availability::Missing { local, remote })
    }

    /// `None` when the remote has the action and every blob.
    async fn probe_remote(
        &self,
        remote: &Remote,
        key: &DigestHash,
    ) -> Result<Option<Absence>, RemoteError> {
        let Some(value) = remote.cache.get_action(key).await? else {
            return Ok(Some(Absence::NoAction));
        };
        let result = match self.codec.decode(&value) {
            Ok(r) => r,
            Err(e) => return Ok(Some(Absence::Corrupt(e.to_string()))),
        };
        for d in result.blobs() {
            if !remote.cache.has_blob(&d).await? {
                return Ok(Some(Absence::MissingBlob(d)));
            }
        }
        Ok(None)
    }
}

async fn read_local(
    session: &LocalSession,
    instance: &InstanceName,
    d: &Digest,
) -> Result<Option<Bytes>, TaskError> {
    let Some(read) = session
        .cas
        .read(instance, d.hash(), ReadRange::FULL)
        .await?
    else {
        return Ok(None);
    };
    if read.size_bytes != d.size_bytes() {
        return Ok(None);
    }
    let bytes = read
        .into_bytes()
        .await
        .map_err(|e| TaskError::Files(format!("read blob {d}: {e}")))?;
    Ok(Some(bytes))
}

async fn write_local(
    cas: &dyn ContentStore,
    instance: &InstanceName,
    d: Digest,
    bytes: Bytes,
) -> Result<(), TaskError> {
    if d.is_empty_blob() {
        return Ok(());
    }
    let mut w = cas
        .begin_write(instance, *d.hash(), Some(d.size_bytes()))
        .await?;
    w.write(bytes).await?;
    w.commit().await?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use std::sync::Mutex;

    use async_trait::async_trait;
    use mockall::mock;
    use strata_domain::tasks::TaskCommand;
    use strata_domain::{BlobWriter, BuildCacheError, Committed};

    use super::*;
    use crate::build_cache::test_support::{MockAc, MockCas};

    mock! {
        Remote {}
        #[async_trait]
        impl RemoteTaskCache for Remote {
            async fn get_action(&self, key: &DigestHash) -> Result<Option<Bytes>, RemoteError>;
            async fn get_blob(&self, digest: &Digest) -> Result<Option<Bytes>, RemoteError>;
            async fn put_blob(&self, digest: Digest, content: Bytes) -> Result<(), RemoteError>;
            async fn put_action(&self, key: DigestHash, value: Bytes) -> Result<(), RemoteError>;
        }
    }

    mock! {
        Process {}
        #[async_trait]
        impl TaskProcess for Process {
            async fn run(&self, command: &TaskCommand, timeout: Option<Duration>) -> Result<Execution, TaskError>;
        }
    }

    mock! {
        Files {}
        #[async_trait]
        impl TaskFiles for Files {
            async fn collect(&self) -> Result<Vec<(OutputFile, Bytes)>, TaskError>;
            async fn restore(&self, file: &OutputFile, content: Bytes) -> Result<(), TaskError>;
        }
    }

    mock! {
        Local {}
        #[async_trait]
        impl LocalTaskCache for Local {
            async fn open(&self) -> Result<LocalSession, TaskError>;
        }
    }

    mock! {
        Codec {}
        impl TaskResultCodec for Codec {
            fn encode(&self, result: &TaskResult) -> Bytes;
            fn decode(&self, bytes: &[u8]) -> Result<TaskResult, strata_domain::InvalidActionResult>;
        }
    }

    #[derive(Default)]
    struct Lines(Mutex<Vec<String>>);
    impl Console for Lines {
        fn stdout(&self, _: &[u8]) {}
        fn stderr(&self, _: &[u8]) {}
        fn notice(&self, line: &str) {
            self.0.lock().unwrap().push(line.to_owned());
        }
    }

    struct Len;
    impl ContentHasher for Len {
        fn sha256(&self, bytes: &[u8]) -> DigestHash {
            if bytes.is_empty() {
                return DigestHash::EMPTY;
            }
            DigestHash::from_bytes([u8::try_from(bytes.len()).unwrap_or(255); 32])
        }
    }

    /// Expected and actual AC writes; checked when the last session's
    /// mock (and the runner) are gone.
    struct PutCount(usize, std::sync::atomic::AtomicUsize);
    impl Drop for PutCount {
        fn drop(&mut self) {
            if !std::thread::panicking() {
                assert_eq!(self.1.load(Ordering::SeqCst), self.0, "local AC writes");
            }
        }
    }

    struct Sink;
    #[async_trait]
    impl BlobWriter for Sink {
        async fn write(&mut self, _: Bytes) -> Result<(), BuildCacheError> {
            Ok(())
        }
        async fn commit(self: Box<Self>) -> Result<Committed, BuildCacheError> {
            Ok(Committed {
                digest: Digest::EMPTY,
                created: true,
            })
        }
    }

    /// A local cache that misses; its AC writes are counted and checked
    /// against `puts` when the runner is dropped.
    fn local(puts: usize) -> MockLocal {
        let count = Arc::new(PutCount(puts, std::sync::atomic::AtomicUsize::new(0)));
        let mut l = MockLocal::new();
        l.expect_open().returning(move || {
            let mut ac = MockAc::new();
            ac.expect_get().returning(|_, _| Ok(None));
            let count = count.clone();
            ac.expect_put().returning(move |_, _, _| {
                count.1.fetch_add(1, Ordering::SeqCst);
                Ok(())
            });
            let mut cas = MockCas::new();
            cas.expect_begin_write()
                .returning(|_, _, _| Ok(Box::new(Sink) as Box<dyn BlobWriter>));
            Ok(LocalSession {
                ac: Arc::new(ac),
                cas: Arc::new(cas),
                guard: Box::new(()),
            })
        });
        l
    }

    fn process(exit_code: i32) -> MockProcess {
        let mut p = MockProcess::new();
        p.expect_run().times(1).returning(move |_, _| {
            Ok(Execution {
                exit_code,
                stdout: Bytes::from_static(b"out"),
                stderr: Bytes::new(),
                duration_ms: 5,
            })
        });
        p
    }

    fn files(output: &'static [u8]) -> MockFiles {
        let mut f = MockFiles::new();
        f.expect_collect().returning(move || {
            Ok(vec![(
                OutputFile {
                    path: "out/a".into(),
                    digest: Digest::EMPTY,
                    executable: false,
                },
                Bytes::from_static(output),
            )])
        });
        f
    }

    fn codec() -> MockCodec {
        let mut c = MockCodec::new();
        c.expect_encode().returning(|_| Bytes::from_static(b"ar"));
        c
    }

    const POLICY: RemotePolicy = RemotePolicy {
        download: true,
        upload: true,
        max_concurrent: 2,
        max_upload_bytes: 1 << 20,
    };

    fn runner(
        local: MockLocal,
        process: MockProcess,
        files: MockFiles,
        console: Arc<Lines>,
        remote: MockRemote,
        policy: RemotePolicy,
    ) -> TaskRunner {
        TaskRunner::new(
            Arc::new(local),
            Arc::new(process),
            Arc::new(files),
            console,
            Arc::new(codec()),
            Arc::new(Len),
        )
        .remote(Arc::new(remote), policy)
    }

    const KEY: DigestHash = DigestHash::EMPTY;

    async fn run(r: &TaskRunner, cache_failures: bool) -> RunReport {
        r.run(
            KEY,
            &TaskCommand::Shell("make".into()),
            CacheMode::ReadWrite,
            None,
            cache_failures,
        )
        .await
        .unwrap()
    }

    #[tokio::test]
    async fn a_down_remote_warns_once_and_the_task_runs_and_records_locally() {
        let mut remote = MockRemote::new();
        remote
            .expect_get_action()
            .times(1)
            .returning(|_| Err(RemoteError::Unavailable("connection refused".into())));
        remote.expect_put_blob().never();
        remote.expect_put_action().never();
        let console = Arc::new(Lines::default());
        let r = runner(
            local(1),
            process(0),
            files(b"x"),
            console.clone(),
            remote,
            POLICY,
        );
        let report = run(&r, false).await;
        assert_eq!(report.exit_code, 0);
        assert_eq!(report.outcome, RunOutcome::Executed { recorded: true });
        let lines = console.0.lock().unwrap();
        assert_eq!(lines.len(), 1);
        assert!(lines[0].contains("warning") && lines[0].contains("connection refused"));
    }

    #[tokio::test]
    async fn a_failing_command_is_not_recorded_unless_asked() {
        let mut remote = MockRemote::new();
        remote.expect_get_action().returning(|_| Ok(None));
        remote.expect_put_blob().never();
        remote.expect_put_action().never();
        let console = Arc::new(Lines::default());
        let r = runner(local(0), process(2), files(b"x"), console, remote, POLICY);
        let report = run(&r, false).await;
        assert_eq!(report.exit_code, 2);
        assert_eq!(report.outcome, RunOutcome::Executed { recorded: false });

        let mut remote = MockRemote::new();
        remote.expect_get_action().returning(|_| Ok(None));
        remote.expect_put_blob().returning(|_, _| Ok(()));
        remote.expect_put_action().times(1).returning(|_, _| Ok(()));
        let r = runner(
            local(1),
            process(2),
            files(b"x"),
            Arc::default(),
            remote,
            POLICY,
        );
        assert_eq!(
            run(&r, true).await.outcome,
            RunOutcome::Executed { recorded: true }
        );
    }

    #[tokio::test]
    async fn outputs_over_the_upload_limit_are_not_uploaded() {
        let mut remote = MockRemote::new();
        remote.expect_get_action().returning(|_| Ok(None));
        remote.expect_put_blob().never();
        remote.expect_put_action().never();
        let console = Arc::new(Lines::default());
        let policy = RemotePolicy {
            max_upload_bytes: 4,
            ..POLICY
        };
        let r = runner(
            local(1),
            process(0),
            files(b"too large"),
            console.clone(),
            remote,
            policy,
        );
        run(&r, false).await;
        assert!(console.0.lock().unwrap()[0].contains("upload limit"));
    }

    #[tokio::test]
    async fn blobs_go_up_before_the_action_and_a_refused_blob_stops_the_action() {
        let order = Arc::new(Mutex::new(Vec::new()));
        let mut remote = MockRemote::new();
        remote.expect_get_action().returning(|_| Ok(None));
        let o = order.clone();
        remote.expect_put_blob().returning(move |d, _| {
            o.lock().unwrap().push(format!("blob {}", d.size_bytes()));
            Ok(())
        });
        let o = order.clone();
        remote.expect_put_action().times(1).returning(move |_, _| {
            o.lock().unwrap().push("action".into());
            Ok(())
        });
        let r = runner(
            local(1),
            process(0),
            files(b"x"),
            Arc::default(),
            remote,
            POLICY,
        );
        run(&r, false).await;
        let order = order.lock().unwrap().clone();
        assert_eq!(order.last().map(String::as_str), Some("action"));
        assert_eq!(
            order.len(),
            3,
            "stdout, the output, then the action: {order:?}"
        );

        let mut remote = MockRemote::new();
        remote.expect_get_action().returning(|_| Ok(None));
        remote
            .expect_put_blob()
            .returning(|_, _| Err(RemoteError::Refused("cas: HTTP 403".into())));
        remote.expect_put_action().never();
        let console = Arc::new(Lines::default());
        let r = runner(
            local(1),
            process(0),
            files(b"x"),
            console.clone(),
            remote,
            POLICY,
        );
        run(&r, false).await;
        assert_eq!(console.0.lock().unwrap().len(), 1);
    }

    #[tokio::test]
    async fn probe_runs_nothing_and_a_remote_entry_without_its_blob_is_a_miss() {
        let blob = Digest::new(DigestHash::from_bytes([7; 32]), 3);
        let mut remote = MockRemote::new();
        remote
            .expect_get_action()
            .times(1)
            .returning(|_| Ok(Some(Bytes::from_static(b"ar"))));
        remote.expect_get_blob().times(1).returning(|_| Ok(None));
        let mut codec = codec();
        codec.expect_decode().returning(move |_| {
            Ok(TaskResult {
                exit_code: 0,
                stdout: blob,
                stderr: Digest::EMPTY,
                outputs: Vec::new(),
                duration_ms: 1,
            })
        });
        let mut process = MockProcess::new();
        process.expect_run().never();
        let r = TaskRunner::new(
            Arc::new(local(0)),
            Arc::new(process),
            Arc::new(MockFiles::new()),
            Arc::new(Lines::default()),
            Arc::new(codec),
            Arc::new(Len),
        )
        .remote(Arc::new(remote), POLICY);
        assert_eq!(
            r.probe(&KEY).await.unwrap(),
            Availability::Missing {
                local: Absence::NoAction,
                remote: Some(Absence::MissingBlob(blob)),
            }
        );
    }
}
