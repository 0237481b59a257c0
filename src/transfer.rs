//! `strata export` and `strata import`: clients of
//! `GET /admin/v1/caches/{cache}/export` and
//! `POST /admin/v1/caches/{cache}/import` on a running server, streaming
//! to and from a file with progress bars on stderr.

use std::path::PathBuf;

use anyhow::{Context as _, bail};
use futures_util::StreamExt as _;
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use std::io::{BufWriter, Write};
use tokio::io::AsyncReadExt as _;

/// Where the server is and who calls it (shared by both commands).
#[derive(clap::Args)]
pub(crate) struct ServerArgs {
    /// Base URL of the Strata server.
    #[arg(long, env = "STRATA_SERVER", default_value = "http://127.0.0.1:8080")]
    server: String,
    /// API key (or JWT) with the admin role on the cache, sent as
    /// `Authorization: Bearer`; none for a server without `[auth]`.
    #[arg(long, env = "STRATA_API_KEY", hide_env_values = true)]
    api_key: Option<String>,
}

/// The wire format of a dump file.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum DumpFormat {
    /// One JSON object per line, values in base64 (`application/x-ndjson`).
    Ndjson,
    /// A stream of MessagePack maps (`application/msgpack`).
    Msgpack,
}

impl DumpFormat {
    fn media_type(self) -> &'static str {
        match self {
            Self::Ndjson => "application/x-ndjson",
            Self::Msgpack => "application/msgpack",
        }
    }

    /// `msgpack` for a `.msgpack`/`.mpk` file, else NDJSON.
    fn of_path(path: Option<&PathBuf>) -> Self {
        match path
            .and_then(|p| p.extension())
            .and_then(|e| e.to_str())
            .map(str::to_ascii_lowercase)
            .as_deref()
        {
            Some("msgpack" | "mpk") => Self::Msgpack,
            _ => Self::Ndjson,
        }
    }
}

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

fn client() -> anyhow::Result<reqwest::Client> {
    let _ = rustls::crypto::ring::default_provider().install_default();
    reqwest::Client::builder()
        .build()
        .context("cannot build the HTTP client")
}

fn request(server: &ServerArgs, builder: reqwest::RequestBuilder) -> reqwest::RequestBuilder {
    match &server.api_key {
        Some(key) => builder.bearer_auth(key),
        None => builder,
    }
}

fn url(server: &ServerArgs, cache: &str, action: &str) -> String {
    format!(
        "{}/admin/v1/caches/{cache}/{action}",
        server.server.trim_end_matches('/')
    )
}

/// Turns a problem answer into an error with its detail.
async fn check(response: reqwest::Response) -> anyhow::Result<reqwest::Response> {
    if response.status().is_success() {
        return Ok(response);
    }
    let status = response.status();
    let body = response.text().await.unwrap_or_default();
    let detail = serde_json::from_str::<serde_json::Value>(&body)
        .ok()
        .and_then(|v| v["detail"].as_str().map(str::to_owned))
        .unwrap_or(body);
    bail!("the server answered {status}: {detail}")
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
