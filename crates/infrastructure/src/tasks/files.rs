//! [`ProjectFiles`]: a task's output files in the project tree.

use std::fs;
use std::io::{self, Write};
use std::os::unix::fs::PermissionsExt;
use std::path::{Component, Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};

use async_trait::async_trait;
use bytes::Bytes;
use strata_application::tasks::{TaskError, TaskFiles};
use strata_domain::Digest;
use strata_domain::tasks::OutputFile;

static TMP_SEQ: AtomicU64 = AtomicU64::new(0);

/// The declared outputs of one task under the project root.
///
/// - An output names a file, or a directory (everything under it,
///   recursively). Outputs missing after the run are not recorded.
/// - Restoring writes `.<name>.strata-<pid>-<n>.tmp` next to the target,
///   fsyncs it, sets mode 0755 (executable) or 0644, and renames it over
///   the target: a reader sees the old file or the new one, never a
///   partial one, and the file is a fresh copy (never a hard link into
///   the cache, so editing it cannot corrupt the cache).
/// - A recorded path that is absolute or contains `..` is refused (a
///   remote entry cannot write outside the project).
#[derive(Clone, Debug)]
pub struct ProjectFiles {
    root: PathBuf,
    outputs: Vec<String>,
}

impl ProjectFiles {
    /// The outputs `outputs` (relative paths) under `root`.
    pub fn new(root: impl Into<PathBuf>, outputs: Vec<String>) -> Self {
        Self {
            root: root.into(),
            outputs,
        }
    }
}

fn err(context: &str, path: &Path, e: io::Error) -> TaskError {
    TaskError::Files(format!("{context} {}: {e}", path.display()))
}

fn collect_into(
    root: &Path,
    path: &Path,
    out: &mut Vec<(OutputFile, Bytes)>,
) -> Result<(), TaskError> {
    let meta = match fs::metadata(path) {
        Ok(m) => m,
        Err(e) if e.kind() == io::ErrorKind::NotFound => return Ok(()),
        Err(e) => return Err(err("cannot read output", path, e)),
    };
    if meta.is_dir() {
        let entries = fs::read_dir(path).map_err(|e| err("cannot list output", path, e))?;
        for entry in entries {
            let entry = entry.map_err(|e| err("cannot list output", path, e))?;
            collect_into(root, &entry.path(), out)?;
        }
        return Ok(());
    }
    let Some(rel) = path.strip_prefix(root).ok().and_then(|r| {
        r.components()
            .map(|c| c.as_os_str().to_str())
            .collect::<Option<Vec<_>>>()
    }) else {
        return Ok(());
    };
    let bytes = fs::read(path).map_err(|e| err("cannot read output", path, e))?;
    out.push((
        OutputFile {
            path: rel.join("/"),
            digest: Digest::EMPTY,
            executable: meta.permissions().mode() & 0o100 != 0,
        },
        Bytes::from(bytes),
    ));
    Ok(())
}

fn safe_relative(path: &str) -> bool {
    let p = Path::new(path);
    !path.is_empty() && p.components().all(|c| matches!(c, Component::Normal(_)))
}

fn restore_file(target: &Path, content: &[u8], executable: bool) -> io::Result<()> {
    let dir = target.parent().unwrap_or(Path::new("."));
    fs::create_dir_all(dir)?;
    let name = target
        .file_name()
        .map(|n| n.to_string_lossy().into_owned())
        .unwrap_or_default();
    let tmp = dir.join(format!(
        ".{name}.strata-{}-{}.tmp",
        std::process::id(),
        TMP_SEQ.fetch_add(1, Ordering::Relaxed)
    ));
    let write = || -> io::Result<()> {
        let mut f = fs::File::create(&tmp)?;
        f.write_all(content)?;
        f.set_permissions(fs::Permissions::from_mode(if executable {
            0o755
        } else {
            0o644
        }))?;
        f.sync_all()?;
        fs::rename(&tmp, target)
    };
    let r = write();
    if r.is_err() {
        let _ = fs::remove_file(&tmp);
    }
    r
}

#[async_trait]
impl TaskFiles for ProjectFiles {
    async fn collect(&self) -> Result<Vec<(OutputFile, Bytes)>, TaskError> {
        let mut out = Vec::new();
        for o in &self.outputs {
            collect_into(
                &self.root,
                &self.root.join(o.trim_start_matches("./")),
                &mut out,
            )?;
        }
        out.sort_by(|a, b| a.0.path.cmp(&b.0.path));
        out.dedup_by(|a, b| a.0.path == b.0.path);
        Ok(out)
    }

    async fn restore(&self, file: &OutputFile, content: Bytes) -> Result<(), TaskError> {
        if !safe_relative(&file.path) {
            return Err(TaskError::Files(format!(
                "refusing to restore {:?}: not a relative path inside the project",
                file.path
            )));
        }
        let target = self.root.join(&file.path);
        restore_file(&target, &content, file.executable)
            .map_err(|e| err("cannot restore output", &target, e))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn collects_directories_and_restores_atomically_with_modes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path();
        fs::create_dir_all(root.join("out/sub")).unwrap();
        fs::write(root.join("out/sub/a"), "a").unwrap();
        fs::write(root.join("bin"), "#!/bin/sh").unwrap();
        fs::set_permissions(root.join("bin"), fs::Permissions::from_mode(0o755)).unwrap();
        let files = ProjectFiles::new(root, vec!["out/".into(), "bin".into(), "gone".into()]);
        let got = files.collect().await.unwrap();
        let paths: Vec<_> = got
            .iter()
            .map(|(f, _)| (f.path.as_str(), f.executable))
            .collect();
        assert_eq!(paths, vec![("bin", true), ("out/sub/a", false)]);

        let other = tempfile::tempdir().unwrap();
        let there = ProjectFiles::new(other.path(), vec![]);
        for (f, b) in got {
            there.restore(&f, b).await.unwrap();
        }
        let mode = fs::metadata(other.path().join("bin"))
            .unwrap()
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o755);
        assert_eq!(fs::read(other.path().join("out/sub/a")).unwrap(), b"a");
        assert_eq!(
            fs::metadata(other.path().join("out/sub/a"))
                .unwrap()
                .permissions()
                .mode()
                & 0o777,
            0o644
        );
        let evil = OutputFile {
            path: "../x".into(),
            digest: Digest::EMPTY,
            executable: false,
        };
        assert!(there.restore(&evil, Bytes::new()).await.is_err());
    }
}
