//! `strata export`: streams every live entry of a cache on a running
//! server (`GET /admin/v1/caches/{cache}/export`) to a file or stdout,
//! with a progress bar on stderr.

use std::io::{BufWriter, Write};
use std::path::PathBuf;

use anyhow::Context as _;
use futures_util::StreamExt as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};

use super::admin_client::{DumpFormat, ServerArgs, check, client, request, url};

/// `strata export CACHE [-o FILE]`.
#[derive(clap::Args)]
pub(crate) struct ExportArgs {
    /// The cache to export.
    cache: String,
    /// Write here instead of stdout.
    #[arg(long, short)]
    output: Option<PathBuf>,
    /// Format; default from the output file's extension (`.msgpack`,
    /// `.mpk`: MessagePack), else NDJSON.
    #[arg(long, value_enum)]
    format: Option<DumpFormat>,
    #[command(flatten)]
    server: ServerArgs,
}

/// Runs `strata export`.
///
/// # Errors
/// The server's problem answer, or an I/O error on the output.
pub(crate) fn export(args: ExportArgs) -> anyhow::Result<()> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(export_async(args))
}

async fn export_async(args: ExportArgs) -> anyhow::Result<()> {
    let client = client()?;
    let format = args
        .format
        .unwrap_or_else(|| DumpFormat::of_path(args.output.as_ref()));
    // The entry count sizes the bar; a server that does not say leaves it
    // a spinner.
    let total = request(
        &args.server,
        client.get(format!(
            "{}/v1/caches/{}/stats",
            args.server.server.trim_end_matches('/'),
            args.cache
        )),
    )
    .send()
    .await
    .ok()
    .filter(|r| r.status().is_success());
    let total = match total {
        Some(r) => r
            .json::<serde_json::Value>()
            .await
            .ok()
            .and_then(|v| v["entries"].as_u64()),
        None => None,
    };
    let response = request(
        &args.server,
        client.get(url(&args.server, &args.cache, "export")),
    )
    .header("accept", format.media_type())
    .send()
    .await
    .with_context(|| format!("cannot reach {}", args.server.server))?;
    let response = check(response).await?;
    // Plain blocking writes: the command runs nothing else meanwhile.
    let mut out: Box<dyn Write> = match &args.output {
        Some(path) => Box::new(BufWriter::new(
            std::fs::File::create(path)
                .with_context(|| format!("cannot create {}", path.display()))?,
        )),
        None => Box::new(BufWriter::new(std::io::stdout().lock())),
    };
    let bar = ProgressBar::with_draw_target(total, ProgressDrawTarget::stderr());
    let style = match (format, total) {
        (DumpFormat::Ndjson, Some(_)) => "{bar:40} {pos}/{len} entries {elapsed}",
        (DumpFormat::Ndjson, None) => "{spinner} {pos} entries {elapsed}",
        (DumpFormat::Msgpack, _) => "{spinner} {bytes} {elapsed}",
    };
    bar.set_style(
        ProgressStyle::with_template(style).unwrap_or_else(|_| ProgressStyle::default_bar()),
    );
    let mut stream = response.bytes_stream();
    while let Some(chunk) = stream.next().await {
        let chunk = chunk.context("the export was cut off")?;
        out.write_all(&chunk).context("cannot write the export")?;
        match format {
            DumpFormat::Ndjson => bar.inc(chunk.iter().filter(|b| **b == b'\n').count() as u64),
            DumpFormat::Msgpack => bar.inc(chunk.len() as u64),
        }
    }
    out.flush().context("cannot write the export")?;
    bar.finish();
    Ok(())
}
