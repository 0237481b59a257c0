//! `strata import`: streams a dump written by `strata export` into a
//! cache on a running server (`POST /admin/v1/caches/{cache}/import`),
//! with a progress bar on stderr, and prints the counts and errors.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use tokio::io::AsyncReadExt as _;

use super::admin_client::{DumpFormat, ServerArgs, check, client, request, url};

/// `strata import CACHE FILE [--on-conflict skip]`.
#[derive(clap::Args)]
pub(crate) struct ImportArgs {
    /// The cache to import into.
    cache: String,
    /// The dump to read (as `strata export` writes it).
    file: PathBuf,
    /// What to do with keys the cache holds already.
    #[arg(long, value_enum, default_value = "overwrite")]
    on_conflict: OnConflictArg,
    /// Format; default from the file's extension (`.msgpack`, `.mpk`:
    /// MessagePack), else NDJSON.
    #[arg(long, value_enum)]
    format: Option<DumpFormat>,
    #[command(flatten)]
    server: ServerArgs,
}

/// `--on-conflict`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum OnConflictArg {
    /// Replace present entries.
    Overwrite,
    /// Keep present entries.
    Skip,
}

/// Runs `strata import`; fails when any record was refused (after
/// printing the counts and errors).
///
/// # Errors
/// The server's problem answer, an unreadable file, or refused records.
pub(crate) fn import(args: ImportArgs) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(import_async(args))
}

async fn import_async(args: ImportArgs) -> anyhow::Result<()> {
    let client = client()?;
    let format = args
        .format
        .unwrap_or_else(|| DumpFormat::of_path(Some(&args.file)));
    let file = tokio::fs::File::open(&args.file)
        .await
        .with_context(|| format!("cannot open {}", args.file.display()))?;
    let size = file.metadata().await.map(|m| m.len()).ok();
    let bar = ProgressBar::with_draw_target(size, ProgressDrawTarget::stderr());
    bar.set_style(
        ProgressStyle::with_template("{bar:40} {bytes}/{total_bytes} {elapsed}")
            .unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let progress = bar.clone();
    let body = futures_util::stream::unfold(Some(file), move |file| {
        let progress = progress.clone();
        async move {
            let mut file = file?;
            let mut buf = vec![0; 64 * 1024];
            match file.read(&mut buf).await {
                Ok(0) => None,
                Ok(n) => {
                    buf.truncate(n);
                    progress.inc(n as u64);
                    Some((Ok::<_, std::io::Error>(buf), Some(file)))
                }
                Err(e) => Some((Err(e), None)),
            }
        }
    });
    let on_conflict = match args.on_conflict {
        OnConflictArg::Overwrite => "overwrite",
        OnConflictArg::Skip => "skip",
    };
    let response = request(
        &args.server,
        client.post(format!(
            "{}?on_conflict={on_conflict}",
            url(&args.server, &args.cache, "import")
        )),
    )
    .header("content-type", format.media_type())
    .body(reqwest::Body::wrap_stream(body))
    .send()
    .await
    .with_context(|| format!("cannot reach {}", args.server.server))?;
    let response = check(response).await?;
    bar.finish();
    let out: serde_json::Value = response.json().await.context("the answer is not JSON")?;
    let failed = out["failed"].as_u64().unwrap_or(0);
    #[expect(clippy::print_stdout, reason = "the command's output")]
    {
        println!(
            "imported {}, skipped {}, failed {failed}",
            out["imported"], out["skipped"]
        );
        for e in out["errors"].as_array().into_iter().flatten() {
            let at = match (e["line"].as_u64(), e["record"].as_u64()) {
                (Some(line), _) => format!("line {line}"),
                (None, Some(record)) => format!("record {record}"),
                _ => String::from("?"),
            };
            println!("  {at}: {}", e["error"].as_str().unwrap_or_default());
        }
    }
    if failed > 0 {
        bail!("{failed} records were refused");
    }
    Ok(())
}
