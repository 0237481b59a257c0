//! `strata status [--url U]`: asks a running server
//! (`GET /admin/v1/status`, the reader role on every cache) for its
//! version, listeners, readiness, backends and caches, and prints them as
//! plain tables on stdout.

use serde::Deserialize;

use super::admin_client::{ServerArgs, check, client, request};

/// `strata status`.
#[derive(clap::Args)]
pub(crate) struct StatusArgs {
    #[command(flatten)]
    server: ServerArgs,
}

/// The parts of `GET /admin/v1/status` the tables show.
#[derive(Debug, Deserialize)]
struct Status {
    version: String,
    ready: bool,
    listeners: Vec<ListenerRow>,
    backends: Vec<BackendRow>,
    failing: Vec<FailingRow>,
    caches: Vec<CacheRow>,
}

#[derive(Debug, Deserialize)]
struct ListenerRow {
    protocol: String,
    url: String,
}

#[derive(Debug, Deserialize)]
struct BackendRow {
    name: String,
    kind: String,
    circuit_breaker: String,
    failures: u64,
    breaker_opened_total: u64,
}

#[derive(Debug, Deserialize)]
struct FailingRow {
    cache: String,
    error: String,
}

#[derive(Debug, Deserialize)]
struct CacheRow {
    name: String,
    backend: String,
    entries: u64,
    hits: u64,
    misses: u64,
    hit_ratio: f64,
}

/// Runs `strata status`.
///
/// # Errors
/// The server cannot be reached, or answers with a problem (401, 403).
pub(crate) fn status(args: StatusArgs) -> anyhow::Result<()> {
    let status = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?
        .block_on(fetch(&args.server))?;
    #[expect(clippy::print_stdout, reason = "the command's output")]
    {
        print!("{}", render(&status));
    }
    Ok(())
}

async fn fetch(server: &ServerArgs) -> anyhow::Result<Status> {
    let url = format!("{}/admin/v1/status", server.server.trim_end_matches('/'));
    let response = request(server, client()?.get(&url))
        .send()
        .await
        .map_err(|e| anyhow::anyhow!("cannot reach {url}: {e}"))?;
    Ok(check(response).await?.json().await?)
}

/// The tables, each preceded by a blank line but the first.
fn render(status: &Status) -> String {
    let mut out = format!(
        "strata {} ({})\n",
        status.version,
        if status.ready { "ready" } else { "NOT READY" }
    );
    out.push('\n');
    out.push_str(&table(
        &["LISTENER", "URL"],
        status
            .listeners
            .iter()
            .map(|l| vec![l.protocol.clone(), l.url.clone()])
            .collect(),
    ));
    if !status.backends.is_empty() {
        out.push('\n');
        out.push_str(&table(
            &["BACKEND", "KIND", "CIRCUIT", "FAILURES", "OPENED"],
            status
                .backends
                .iter()
                .map(|b| {
                    vec![
                        b.name.clone(),
                        b.kind.clone(),
                        b.circuit_breaker.clone(),
                        b.failures.to_string(),
                        b.breaker_opened_total.to_string(),
                    ]
                })
                .collect(),
        ));
    }
    if !status.failing.is_empty() {
        out.push('\n');
        out.push_str(&table(
            &["FAILING CACHE", "ERROR"],
            status
                .failing
                .iter()
                .map(|f| vec![f.cache.clone(), f.error.clone()])
                .collect(),
        ));
    }
    out.push('\n');
    out.push_str(&table(
        &["CACHE", "BACKEND", "ENTRIES", "HITS", "MISSES", "HIT RATIO"],
        status
            .caches
            .iter()
            .map(|c| {
                let ratio = if c.hits + c.misses == 0 {
                    "-".to_owned()
                } else {
                    format!("{:.1}%", c.hit_ratio * 100.0)
                };
                vec![
                    c.name.clone(),
                    c.backend.clone(),
                    c.entries.to_string(),
                    c.hits.to_string(),
                    c.misses.to_string(),
                    ratio,
                ]
            })
            .collect(),
    ));
    out
}

/// A plain table: columns padded to their widest cell, two spaces apart,
/// no trailing spaces.
fn table(header: &[&str], rows: Vec<Vec<String>>) -> String {
    let mut widths: Vec<usize> = header.iter().map(|h| h.chars().count()).collect();
    for row in &rows {
        for (width, cell) in widths.iter_mut().zip(row) {
            *width = (*width).max(cell.chars().count());
        }
    }
    let line = |cells: Vec<&str>| {
        let mut text = String::new();
        for (i, (cell, width)) in cells.iter().zip(&widths).enumerate() {
            if i > 0 {
                text.push_str("  ");
            }
            text.push_str(cell);
            if i + 1 < cells.len() {
                text.push_str(&" ".repeat(width - cell.chars().count()));
            }
        }
        text.push('\n');
        text
    };
    let mut out = line(header.to_vec());
    for row in &rows {
        out.push_str(&line(row.iter().map(String::as_str).collect()));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_table_pads_columns_to_their_widest_cell() {
        let text = table(
            &["CACHE", "HIT RATIO"],
            vec![
                vec!["default".into(), "90.0%".into()],
                vec!["s".into(), "-".into()],
            ],
        );
        assert_eq!(text, "CACHE    HIT RATIO\ndefault  90.0%\ns        -\n");
    }

    #[test]
    fn a_cache_never_read_shows_no_ratio() {
        let status = Status {
            version: "1.2.3".into(),
            ready: true,
            listeners: vec![ListenerRow {
                protocol: "http".into(),
                url: "http://127.0.0.1:8080".into(),
            }],
            backends: vec![],
            failing: vec![],
            caches: vec![
                CacheRow {
                    name: "cold".into(),
                    backend: "memory".into(),
                    entries: 0,
                    hits: 0,
                    misses: 0,
                    hit_ratio: 0.0,
                },
                CacheRow {
                    name: "warm".into(),
                    backend: "memory".into(),
                    entries: 3,
                    hits: 3,
                    misses: 1,
                    hit_ratio: 0.75,
                },
            ],
        };
        let text = render(&status);
        assert!(text.starts_with("strata 1.2.3 (ready)\n"), "{text}");
        assert!(
            text.contains("\ncold   memory   0        0     0       -\n"),
            "{text}"
        );
        assert!(
            text.contains("\nwarm   memory   3        3     1       75.0%\n"),
            "{text}"
        );
    }
}
