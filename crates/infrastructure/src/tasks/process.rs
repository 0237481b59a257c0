//! [`ShellProcess`]: runs a task's command, teeing its output.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use async_trait::async_trait;
use bytes::Bytes;
use strata_application::tasks::{Execution, TaskError, TaskProcess};
use strata_domain::tasks::TaskCommand;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::process::Command;

/// Runs commands in a working directory with the inherited environment:
/// [`TaskCommand::Shell`] through `sh -c`, [`TaskCommand::Args`]
/// directly. stdin is inherited; stdout and stderr are piped, written to
/// this process's stdout and stderr as they arrive (so the user sees the
/// command's output live) and captured for the cache. A timeout kills
/// the command (SIGKILL) and is an error.
#[derive(Clone, Debug)]
pub struct ShellProcess {
    cwd: PathBuf,
}

impl ShellProcess {
    /// Commands run in `cwd`.
    pub fn new(cwd: impl Into<PathBuf>) -> Self {
        Self { cwd: cwd.into() }
    }
}

/// Copies `from` to `to` (this process's stdout or stderr: short blocking
/// writes, flushed per chunk) while capturing it.
async fn tee(
    mut from: impl AsyncRead + Unpin,
    mut to: impl std::io::Write,
) -> std::io::Result<Bytes> {
    let mut captured = Vec::new();
    let mut buf = vec![0u8; 16 << 10];
    loop {
        let n = from.read(&mut buf).await?;
        if n == 0 {
            break;
        }
        captured.extend_from_slice(&buf[..n]);
        // The terminal going away must not lose the capture.
        if to.write_all(&buf[..n]).is_ok() {
            let _ = to.flush();
        }
    }
    Ok(Bytes::from(captured))
}

#[cfg(unix)]
fn exit_code(status: std::process::ExitStatus) -> i32 {
    use std::os::unix::process::ExitStatusExt;
    status
        .code()
        .or_else(|| status.signal().map(|s| 128 + s))
        .unwrap_or(1)
}

#[async_trait]
impl TaskProcess for ShellProcess {
    async fn run(
        &self,
        command: &TaskCommand,
        timeout: Option<Duration>,
    ) -> Result<Execution, TaskError> {
        let mut cmd = match command {
            TaskCommand::Shell(line) => {
                let mut c = Command::new("sh");
                c.arg("-c").arg(line);
                c
            }
            TaskCommand::Args(args) => {
                let (program, rest) = args
                    .split_first()
                    .ok_or_else(|| TaskError::Process("empty command".into()))?;
                let mut c = Command::new(program);
                c.args(rest);
                c
            }
        };
        cmd.current_dir(&self.cwd)
            .stdin(Stdio::inherit())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        let started = Instant::now();
        let mut child = cmd
            .spawn()
            .map_err(|e| TaskError::Process(format!("{}: {e}", command.display())))?;
        let stdout = child.stdout.take();
        let stderr = child.stderr.take();
        let out = tokio::spawn(async move {
            match stdout {
                Some(s) => tee(s, std::io::stdout()).await,
                None => Ok(Bytes::new()),
            }
        });
        let err = tokio::spawn(async move {
            match stderr {
                Some(s) => tee(s, std::io::stderr()).await,
                None => Ok(Bytes::new()),
            }
        });
        let status = match timeout {
            None => child.wait().await,
            Some(t) => match tokio::time::timeout(t, child.wait()).await {
                Ok(s) => s,
                Err(_) => {
                    let _ = child.kill().await;
                    return Err(TaskError::Process(format!(
                        "{} timed out after {} s",
                        command.display(),
                        t.as_secs()
                    )));
                }
            },
        }
        .map_err(|e| TaskError::Process(e.to_string()))?;
        let join = |r: Result<std::io::Result<Bytes>, tokio::task::JoinError>| {
            r.map_err(|e| TaskError::Process(e.to_string()))?
                .map_err(|e| TaskError::Process(format!("reading the command's output: {e}")))
        };
        let stdout = join(out.await)?;
        let stderr = join(err.await)?;
        Ok(Execution {
            exit_code: exit_code(status),
            stdout,
            stderr,
            duration_ms: u64::try_from(started.elapsed().as_millis()).unwrap_or(u64::MAX),
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn captures_both_streams_and_the_exit_code() {
        let p = ShellProcess::new(".");
        let e = p
            .run(
                &TaskCommand::Shell("printf out; printf err >&2; exit 3".into()),
                None,
            )
            .await
            .unwrap();
        assert_eq!(e.exit_code, 3);
        assert_eq!(&e.stdout[..], b"out");
        assert_eq!(&e.stderr[..], b"err");
        let e = p
            .run(&TaskCommand::Args(vec!["true".into()]), None)
            .await
            .unwrap();
        assert_eq!(e.exit_code, 0);
        assert!(
            p.run(&TaskCommand::Args(vec!["/no/such/program".into()]), None)
                .await
                .is_err()
        );
    }
}
