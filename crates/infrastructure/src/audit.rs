//! [`JsonLinesAuditLog`]: the audit trail as an append-only JSON Lines file.
//!
//! One JSON object per line, with stable field names:
//!
//! ```json
//! {"time":"2026-12-01T19:37:13.042Z","time_ms":1796153833042,"principal":"ops",
//!  "action":"flush","cache":"sessions","params":[["scope","all"]],"outcome":"ok",
//!  "request_id":"…","peer":"127.0.0.1:50312"}
//! ```
//!
//! `time` is RFC 3339 UTC with milliseconds, `time_ms` the same instant in
//! Unix milliseconds (what [`JsonLinesAuditLog::read`] filters on);
//! `params` is an ordered list of `[name, value]` pairs; `cache`,
//! `request_id` and `peer` are `null` when unknown.
//!
//! Every append opens the file (so a file moved or removed by an operator
//! is noticed), writes the line and `sync_data`s it before returning,
//! under a mutex. When a line would take the file past `max_bytes`, the
//! file is renamed to `<path>.1` (replacing the previous generation) and a
//! new file started.

use std::fs::{File, OpenOptions};
use std::io::{BufRead, BufReader, ErrorKind, Write};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use serde::{Deserialize, Serialize};
use strata_domain::{AuditAction, AuditError, AuditLog, AuditQuery, AuditRecord, Timestamp};

/// Size at which the audit file is rotated, when none is configured: 64 MiB.
pub const DEFAULT_AUDIT_MAX_BYTES: u64 = 64 << 20;

/// The audit trail as an append-only JSON Lines file, rotated by size
/// (one older generation, `<path>.1`).
#[derive(Clone, Debug)]
pub struct JsonLinesAuditLog {
    inner: Arc<Inner>,
}

#[derive(Debug)]
struct Inner {
    path: PathBuf,
    rotated: PathBuf,
    max_bytes: u64,
    lock: Mutex<()>,
}

#[derive(Serialize, Deserialize)]
struct Line {
    time: String,
    time_ms: u64,
    principal: String,
    action: String,
    cache: Option<String>,
    params: Vec<(String, String)>,
    outcome: String,
    request_id: Option<String>,
    peer: Option<String>,
}

impl From<&AuditRecord> for Line {
    fn from(r: &AuditRecord) -> Self {
        Self {
            time: r.time.to_rfc3339(),
            time_ms: r.time.as_millis(),
            principal: r.principal.clone(),
            action: r.action.as_str().to_owned(),
            cache: r.cache.clone(),
            params: r.params.clone(),
            outcome: r.outcome.clone(),
            request_id: r.request_id.clone(),
            peer: r.peer.clone(),
        }
    }
}

impl Line {
    fn into_record(self) -> Option<AuditRecord> {
        Some(AuditRecord {
            time: Timestamp::from_millis(self.time_ms),
            principal: self.principal,
            action: AuditAction::parse(&self.action)?,
            cache: self.cache,
            params: self.params,
            outcome: self.outcome,
            request_id: self.request_id,
            peer: self.peer,
        })
    }
}

fn io_error(operation: &'static str, path: &Path, e: &std::io::Error) -> AuditError {
    AuditError {
        operation,
        detail: format!("{}: {e}", path.display()),
    }
}

impl JsonLinesAuditLog {
    /// Opens (creating it if needed) the audit file at `path`, rotated at
    /// `max_bytes` ([`DEFAULT_AUDIT_MAX_BYTES`] when `None`).
    ///
    /// # Errors
    /// [`AuditError`] when the file cannot be opened for appending.
    pub fn open(path: impl Into<PathBuf>, max_bytes: Option<u64>) -> Result<Self, AuditError> {
        let path = path.into();
        let mut rotated = path.clone().into_os_string();
        rotated.push(".1");
        let log = Self {
            inner: Arc::new(Inner {
                rotated: rotated.into(),
                max_bytes: max_bytes.unwrap_or(DEFAULT_AUDIT_MAX_BYTES).max(1),
                lock: Mutex::new(()),
                path,
            }),
        };
        log.inner
            .open_for_append()
            .map_err(|e| io_error("open", &log.inner.path, &e))?;
        Ok(log)
    }

    /// The file's path.
    pub fn path(&self) -> &Path {
        &self.inner.path
    }
}

impl Inner {
    fn open_for_append(&self) -> std::io::Result<File> {
        OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.path)
    }

    fn append_line(&self, line: &[u8]) -> std::io::Result<()> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut file = self.open_for_append()?;
        let size = file.metadata()?.len();
        if size > 0 && size + line.len() as u64 > self.max_bytes {
            std::fs::rename(&self.path, &self.rotated)?;
            file = self.open_for_append()?;
        }
        file.write_all(line)?;
        file.sync_data()
    }

    fn read(&self, query: &AuditQuery) -> std::io::Result<Vec<AuditRecord>> {
        let _guard = self.lock.lock().unwrap_or_else(|p| p.into_inner());
        let mut records = Vec::new();
        for path in [&self.rotated, &self.path] {
            let file = match File::open(path) {
                Ok(file) => file,
                Err(e) if e.kind() == ErrorKind::NotFound => continue,
                Err(e) => return Err(e),
            };
            for line in BufReader::new(file).lines() {
                let line = line?;
                // A torn last line (a crash mid-write) or a foreign line is skipped.
                let Some(record) = serde_json::from_str::<Line>(&line)
                    .ok()
                    .and_then(Line::into_record)
                else {
                    continue;
                };
                if query.matches(&record) {
                    records.push(record);
                }
            }
        }
        records.reverse();
        records.truncate(query.effective_limit());
        Ok(records)
    }
}

#[async_trait]
impl AuditLog for JsonLinesAuditLog {
    async fn append(&self, record: &AuditRecord) -> Result<(), AuditError> {
        let mut line = serde_json::to_vec(&Line::from(record)).map_err(|e| AuditError {
            operation: "append",
            detail: e.to_string(),
        })?;
        line.push(b'\n');
        let inner = self.inner.clone();
        tokio::task::spawn_blocking(move || {
            inner
                .append_line(&line)
                .map_err(|e| io_error("append", &inner.path, &e))
        })
        .await
        .map_err(|e| AuditError {
            operation: "append",
            detail: e.to_string(),
        })?
    }

    async fn read(&self, query: &AuditQuery) -> Result<Vec<AuditRecord>, AuditError> {
        let inner = self.inner.clone();
        let query = query.clone();
        tokio::task::spawn_blocking(move || {
            inner
                .read(&query)
                .map_err(|e| io_error("read", &inner.path, &e))
        })
        .await
        .map_err(|e| AuditError {
            operation: "read",
            detail: e.to_string(),
        })?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn record(ms: u64, principal: &str, action: AuditAction) -> AuditRecord {
        AuditRecord {
            time: Timestamp::from_millis(ms),
            principal: principal.to_owned(),
            action,
            cache: Some("sessions".into()),
            params: vec![("scope".into(), "all".into()), ("b".into(), "2".into())],
            outcome: "ok".into(),
            request_id: Some("rid".into()),
            peer: None,
        }
    }

    #[tokio::test]
    async fn appends_and_reads_back_newest_first() {
        let dir = tempfile::tempdir().unwrap();
        let log = JsonLinesAuditLog::open(dir.path().join("audit.jsonl"), None).unwrap();
        let a = record(1_000, "ops", AuditAction::Flush);
        let b = record(2_000, "ci", AuditAction::Configure);
        log.append(&a).await.unwrap();
        log.append(&b).await.unwrap();
        assert_eq!(log.read(&AuditQuery::default()).await.unwrap(), [b, a]);
        let text = std::fs::read_to_string(log.path()).unwrap();
        let first: serde_json::Value = serde_json::from_str(text.lines().next().unwrap()).unwrap();
        assert_eq!(first["time"], "1970-01-01T00:00:01.000Z");
        assert_eq!(first["time_ms"], 1000);
        assert_eq!(first["principal"], "ops");
        assert_eq!(first["action"], "flush");
        assert_eq!(first["cache"], "sessions");
        assert_eq!(
            first["params"],
            serde_json::json!([["scope", "all"], ["b", "2"]])
        );
        assert_eq!(first["outcome"], "ok");
        assert_eq!(first["request_id"], "rid");
        assert_eq!(first["peer"], serde_json::Value::Null);
    }

    #[tokio::test]
    async fn filters_by_since_principal_action_and_limit() {
        let dir = tempfile::tempdir().unwrap();
        let log = JsonLinesAuditLog::open(dir.path().join("audit.jsonl"), None).unwrap();
        for i in 0..10u64 {
            let action = if i % 2 == 0 {
                AuditAction::Flush
            } else {
                AuditAction::Invalidate
            };
            let who = if i < 5 { "a" } else { "b" };
            log.append(&record(i, who, action)).await.unwrap();
        }
        let times = |records: Vec<AuditRecord>| {
            records
                .iter()
                .map(|r| r.time.as_millis())
                .collect::<Vec<_>>()
        };
        let q = |since: Option<u64>, principal: Option<&str>, action, limit| AuditQuery {
            since: since.map(Timestamp::from_millis),
            principal: principal.map(str::to_owned),
            action,
            limit,
        };
        assert_eq!(
            times(log.read(&q(Some(7), None, None, None)).await.unwrap()),
            [9, 8, 7]
        );
        assert_eq!(
            times(log.read(&q(None, Some("a"), None, None)).await.unwrap()),
            [4, 3, 2, 1, 0]
        );
        assert_eq!(
            times(
                log.read(&q(None, Some("b"), Some(AuditAction::Flush), None))
                    .await
                    .unwrap()
            ),
            [8, 6]
        );
        assert_eq!(
            times(log.read(&q(None, None, None, Some(2))).await.unwrap()),
            [9, 8]
        );
    }

    #[tokio::test]
    async fn rotates_by_size_keeping_one_generation() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("audit.jsonl");
        let line_len = serde_json::to_vec(&Line::from(&record(0, "a", AuditAction::Flush)))
            .unwrap()
            .len() as u64
            + 1;
        // Room for two lines per file.
        let log = JsonLinesAuditLog::open(&path, Some(2 * line_len)).unwrap();
        for i in 0..5u64 {
            log.append(&record(i, "a", AuditAction::Flush))
                .await
                .unwrap();
        }
        let count = |p: &Path| std::fs::read_to_string(p).unwrap().lines().count();
        let rotated = dir.path().join("audit.jsonl.1");
        assert_eq!(count(&path), 1, "the fifth record starts a new file");
        assert_eq!(count(&rotated), 2, "one older generation is kept");
        let times: Vec<u64> = log
            .read(&AuditQuery::default())
            .await
            .unwrap()
            .iter()
            .map(|r| r.time.as_millis())
            .collect();
        assert_eq!(times, [4, 3, 2]);
    }

    #[tokio::test]
    async fn an_unwritable_path_is_an_error() {
        let dir = tempfile::tempdir().unwrap();
        let missing = dir.path().join("no-such-dir").join("audit.jsonl");
        assert!(JsonLinesAuditLog::open(&missing, None).is_err());
        let path = dir.path().join("audit.jsonl");
        let log = JsonLinesAuditLog::open(&path, None).unwrap();
        std::fs::remove_file(&path).unwrap();
        std::fs::create_dir(&path).unwrap();
        let err = log
            .append(&record(0, "a", AuditAction::Flush))
            .await
            .unwrap_err();
        assert_eq!(err.operation, "append");
        assert!(err.detail.contains("audit.jsonl"), "{err}");
    }
}
