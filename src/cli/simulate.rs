//! `strata simulate`: replay a cache trace against eviction policies and
//! report miss ratios (a table, JSON, and optionally an SVG miss-ratio
//! curve).
//!
//! Every (policy, size) pair is an independent replay of the in-memory
//! trace; pairs are spread over the available cores by a shared work queue.
//! The replay is `strata_infrastructure::eviction::simulator::simulate`, the
//! same policy code the store runs.

use std::io::IsTerminal;
use std::path::PathBuf;
use std::sync::Mutex;
use std::sync::atomic::{AtomicUsize, Ordering};

use anyhow::{Context, bail};
use indicatif::{ProgressBar, ProgressDrawTarget, ProgressStyle};
use strata_domain::{AutoTuneSettings, EvictionPolicyKind};
use strata_infrastructure::eviction::PolicyConfig;
use strata_infrastructure::eviction::auto::{AutoReplaySwitch, simulate_auto};
use strata_infrastructure::eviction::mrc::{MiniatureSimulations, MrcConfig, mix64};
use strata_infrastructure::eviction::simulator::{
    CsvColumns, Mode, SimulationResult, TraceFormat, read_trace, simulate,
};

/// The trace file formats `--format` accepts.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub(crate) enum FormatArg {
    /// libCacheSim's binary oracleGeneral (24-byte records).
    OracleGeneral,
    /// Comma-separated values; columns chosen by `--csv-columns`.
    Csv,
    /// One key per line (implies `--object-mode`).
    Txt,
}

/// How results are printed to stdout.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, clap::ValueEnum)]
pub(crate) enum OutputArg {
    /// An aligned text table.
    #[default]
    Table,
    /// A JSON array of result objects.
    Json,
}

/// Arguments of `strata simulate`.
#[derive(Debug, Clone, clap::Args)]
pub(crate) struct SimulateArgs {
    /// The trace file to replay.
    #[arg(long)]
    pub(crate) trace: PathBuf,

    /// The trace's format.
    #[arg(long, value_enum, default_value = "oracle-general")]
    pub(crate) format: FormatArg,

    /// CSV columns as TIME,KEY[,SIZE]: 1-based indexes or header names; `-`
    /// for no time column; without SIZE every request has size 1. A first
    /// line whose time or size is not a number is skipped as a header.
    #[arg(long, default_value = "1,2,3")]
    pub(crate) csv_columns: String,

    /// Comma-separated policies (lru, fifo, lfu, clock, sieve, s3fifo, arc,
    /// w-tinylfu, ttl-first, and auto: the live `eviction = "auto"` logic,
    /// which prints the switches it made).
    #[arg(
        long,
        value_delimiter = ',',
        default_value = "lru,fifo,lfu,clock,sieve,s3fifo,arc,w-tinylfu"
    )]
    pub(crate) policies: Vec<String>,

    /// Comma-separated cache sizes: bytes with an optional KiB/MiB/GiB/TiB
    /// suffix (e.g. 128MiB), or object counts with `--object-mode`.
    #[arg(long, value_delimiter = ',', required = true)]
    pub(crate) sizes: Vec<String>,

    /// Ignore object sizes: every object weighs 1 and sizes count objects.
    #[arg(long)]
    pub(crate) object_mode: bool,

    /// Output format.
    #[arg(long, value_enum, default_value = "table")]
    pub(crate) output: OutputArg,

    /// Also draw the miss-ratio curves (one line per policy) to this SVG file.
    #[arg(long)]
    pub(crate) plot: Option<PathBuf>,

    /// Also estimate every (policy, size) from a SHARDS sample at this rate
    /// in (0, 1] (miniature simulations, as the live analyzer does) and
    /// print it next to the exact miss ratio, with the error of each point
    /// and the mean absolute error per policy. Object-mode sizes under
    /// 2048 / RATE objects are sampled faster (the rate used is printed).
    #[arg(long)]
    pub(crate) mrc_sample_rate: Option<f64>,
}

/// Parses a size such as `1000`, `64KiB`, `128MiB` or `1 GiB`
/// (binary units, case-insensitive).
///
/// # Errors
/// When the number or the unit is not recognised, or the size overflows.
pub(crate) fn parse_size(text: &str) -> anyhow::Result<u64> {
    let text = text.trim();
    let split = text
        .find(|c: char| !c.is_ascii_digit())
        .unwrap_or(text.len());
    let (number, unit) = text.split_at(split);
    let number: u64 = number.parse().with_context(|| {
        format!("invalid size {text:?}: expected a number with an optional unit")
    })?;
    let multiplier: u64 = match unit.trim().to_ascii_lowercase().as_str() {
        "" | "b" => 1,
        "kib" | "k" => 1 << 10,
        "mib" | "m" => 1 << 20,
        "gib" | "g" => 1 << 30,
        "tib" | "t" => 1 << 40,
        other => bail!("invalid size unit {other:?} in {text:?}: use KiB, MiB, GiB or TiB"),
    };
    number
        .checked_mul(multiplier)
        .with_context(|| format!("size {text:?} overflows"))
}

fn has_unit(text: &str) -> bool {
    text.trim().chars().any(|c| c.is_ascii_alphabetic())
}

/// Runs `strata simulate`.
///
/// # Errors
/// When an argument is invalid, the trace cannot be read or parsed, stdout
/// cannot be written, or the plot cannot be drawn.
pub(crate) fn run(args: SimulateArgs) -> anyhow::Result<()> {
    let format = match args.format {
        FormatArg::OracleGeneral => TraceFormat::OracleGeneral,
        FormatArg::Csv => TraceFormat::Csv(CsvColumns::parse(&args.csv_columns)?),
        FormatArg::Txt => TraceFormat::Txt,
    };
    let mode = if args.object_mode || args.format == FormatArg::Txt {
        Mode::Objects
    } else {
        Mode::Bytes
    };
    let auto = args
        .policies
        .iter()
        .any(|name| name.trim().eq_ignore_ascii_case("auto"));
    let policies = args
        .policies
        .iter()
        .filter(|name| !name.trim().is_empty() && !name.trim().eq_ignore_ascii_case("auto"))
        .map(|name| PolicyConfig::parse(name))
        .collect::<Result<Vec<_>, _>>()?;
    if let Some(rate) = args.mrc_sample_rate
        && !(rate > 0.0 && rate <= 1.0)
    {
        bail!("--mrc-sample-rate must be in (0, 1], got {rate}");
    }
    if policies.is_empty() && !auto {
        bail!("--policies names no policy");
    }
    let mut sizes = Vec::with_capacity(args.sizes.len());
    for size in &args.sizes {
        if mode == Mode::Objects && has_unit(size) {
            bail!("in object mode sizes count objects: drop the unit from {size:?}");
        }
        sizes.push(parse_size(size)?);
    }
    sizes.sort_unstable();
    sizes.dedup();

    let trace = read_trace(&args.trace, &format)
        .with_context(|| format!("cannot load trace {}", args.trace.display()))?;

    let jobs: Vec<(usize, u64)> = (0..policies.len())
        .flat_map(|p| sizes.iter().map(move |&size| (p, size)))
        .collect();
    let mut results = replay_all(&trace, &policies, &jobs, mode);
    let mut switches = Vec::new();
    if auto {
        for &size in &sizes {
            let replay = simulate_auto(
                &trace,
                size,
                mode,
                MrcConfig::new(size, mode == Mode::Bytes),
                AutoTuneSettings::default(),
            );
            switches.push((size, replay.switches));
            results.push(replay.result);
        }
    }

    match args.output {
        OutputArg::Table => print_table(&results)?,
        OutputArg::Json => print_json(&results)?,
    }
    print_switches(&switches, mode, args.output)?;
    if let Some(rate) = args.mrc_sample_rate {
        print_sampled(&trace, &policies, &sizes, mode, rate, &results)?;
    }
    if let Some(path) = &args.plot {
        plot(path, &results, mode).with_context(|| format!("cannot draw {}", path.display()))?;
    }
    Ok(())
}

/// Replays every job on a pool of scoped threads; results come back in job
/// order.
fn replay_all(
    trace: &[strata_infrastructure::eviction::simulator::Request],
    policies: &[PolicyConfig],
    jobs: &[(usize, u64)],
    mode: Mode,
) -> Vec<SimulationResult> {
    let progress = if std::io::stderr().is_terminal() {
        ProgressBar::with_draw_target(Some(jobs.len() as u64), ProgressDrawTarget::stderr())
    } else {
        ProgressBar::hidden()
    };
    if let Ok(style) =
        ProgressStyle::with_template("{spinner} replaying [{bar:30}] {pos}/{len} {msg}")
    {
        progress.set_style(style.progress_chars("=> "));
    }
    let workers = std::thread::available_parallelism()
        .map_or(1, usize::from)
        .min(jobs.len())
        .max(1);
    let next = AtomicUsize::new(0);
    let slots: Mutex<Vec<Option<SimulationResult>>> = Mutex::new(vec![None; jobs.len()]);
    std::thread::scope(|scope| {
        for _ in 0..workers {
            scope.spawn(|| {
                loop {
                    let job = next.fetch_add(1, Ordering::Relaxed);
                    let Some(&(policy, size)) = jobs.get(job) else {
                        break;
                    };
                    let result = simulate(trace, &policies[policy], size, mode);
                    progress.set_message(format!("{} @ {size}", result.policy));
                    progress.inc(1);
                    if let Ok(mut slots) = slots.lock() {
                        slots[job] = Some(result);
                    }
                }
            });
        }
    });
    progress.finish_and_clear();
    slots
        .into_inner()
        .unwrap_or_else(std::sync::PoisonError::into_inner)
        .into_iter()
        .flatten()
        .collect()
}

fn human_capacity(capacity: u64, mode: Mode) -> String {
    match mode {
        Mode::Objects => capacity.to_string(),
        Mode::Bytes => {
            const UNITS: [(&str, u64); 4] = [
                ("TiB", 1 << 40),
                ("GiB", 1 << 30),
                ("MiB", 1 << 20),
                ("KiB", 1 << 10),
            ];
            UNITS
                .iter()
                .find(|(_, size)| capacity >= *size && capacity.is_multiple_of(*size))
                .map_or_else(
                    || capacity.to_string(),
                    |(unit, size)| format!("{}{unit}", capacity / size),
                )
        }
    }
}

fn print_table(results: &[SimulationResult]) -> anyhow::Result<()> {
    use std::io::Write;
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "{:<10} {:>10} {:>8} {:>10} {:>10} {:>10} {:>12} {:>10}",
        "policy",
        "capacity",
        "mode",
        "requests",
        "misses",
        "miss_ratio",
        "byte_misses",
        "byte_ratio"
    )?;
    for r in results {
        writeln!(
            out,
            "{:<10} {:>10} {:>8} {:>10} {:>10} {:>10.4} {:>12} {:>10.4}",
            r.policy,
            human_capacity(r.capacity, r.mode),
            r.mode.as_str(),
            r.requests,
            r.misses,
            r.miss_ratio,
            r.byte_misses,
            r.byte_miss_ratio
        )?;
    }
    Ok(())
}

/// The switches `auto` made, per size: on stdout after the table, on
/// stderr with `--output json` (stdout stays one JSON document).
fn print_switches(
    switches: &[(u64, Vec<AutoReplaySwitch>)],
    mode: Mode,
    output: OutputArg,
) -> anyhow::Result<()> {
    use std::io::Write;
    let mut text = String::new();
    for (size, list) in switches {
        text.push_str(&format!(
            "auto @ {}: starts on {}, {} switch(es)\n",
            human_capacity(*size, mode),
            strata_domain::AUTO_START_POLICY,
            list.len()
        ));
        for s in list {
            let estimates: Vec<String> = s
                .switch
                .estimates
                .iter()
                .map(|(p, m)| format!("{p}={m:.4}"))
                .collect();
            text.push_str(&format!(
                "  after request {}: {} -> {} (estimates {})\n",
                s.at_request,
                s.switch.from,
                s.switch.to,
                estimates.join(" ")
            ));
        }
    }
    match output {
        OutputArg::Table => write!(std::io::stdout().lock(), "{text}")?,
        OutputArg::Json => write!(std::io::stderr().lock(), "{text}")?,
    }
    Ok(())
}

/// `--mrc-sample-rate`: each size's miniature simulations of every policy
/// on the SHARDS sample, next to the exact results.
fn print_sampled(
    trace: &[strata_infrastructure::eviction::simulator::Request],
    policies: &[PolicyConfig],
    sizes: &[u64],
    mode: Mode,
    rate: f64,
    exact: &[SimulationResult],
) -> anyhow::Result<()> {
    use std::io::Write;
    let kinds: Vec<(EvictionPolicyKind, PolicyConfig)> = policies
        .iter()
        .filter_map(|p| {
            EvictionPolicyKind::parse(p.name())
                .ok()
                .map(|k| (k, p.clone()))
        })
        .collect();
    let mut out = std::io::stdout().lock();
    writeln!(
        out,
        "\n{:<10} {:>10} {:>8} {:>10} {:>10} {:>9}",
        "policy", "capacity", "rate", "exact", "sampled", "error"
    )?;
    let mut errors: Vec<(String, f64)> = Vec::new();
    for &size in sizes {
        let mut sims = MiniatureSimulations::new(MrcConfig {
            policies: kinds.clone(),
            factors: vec![1.0],
            sample_rate: rate,
            decay: 1.0,
            max_memory_bytes: u64::MAX,
            ..MrcConfig::new(size, mode == Mode::Bytes)
        });
        for request in trace {
            sims.add_requests(1);
            sims.record(
                mix64(request.key),
                (mode == Mode::Bytes).then_some(u64::from(request.size)),
            );
        }
        for (kind, _) in &kinds {
            let Some(sampled) = sims.at_current_capacity(*kind) else {
                continue;
            };
            let Some(truth) = exact
                .iter()
                .find(|r| r.policy == kind.as_str() && r.capacity == size)
            else {
                continue;
            };
            let error = sampled - truth.miss_ratio;
            errors.push((kind.as_str().to_owned(), error.abs()));
            writeln!(
                out,
                "{:<10} {:>10} {:>8.4} {:>10.4} {:>10.4} {:>+9.4}",
                kind.as_str(),
                human_capacity(size, mode),
                sims.rate(),
                truth.miss_ratio,
                sampled,
                error
            )?;
        }
    }
    for (kind, _) in &kinds {
        let mine: Vec<f64> = errors
            .iter()
            .filter(|(p, _)| p == kind.as_str())
            .map(|e| e.1)
            .collect();
        if !mine.is_empty() {
            writeln!(
                out,
                "{:<10} mean absolute error {:.4}",
                kind.as_str(),
                mine.iter().sum::<f64>() / mine.len() as f64
            )?;
        }
    }
    Ok(())
}

fn print_json(results: &[SimulationResult]) -> anyhow::Result<()> {
    use std::io::Write;
    let rows: Vec<serde_json::Value> = results
        .iter()
        .map(|r| {
            serde_json::json!({
                "policy": r.policy,
                "capacity": r.capacity,
                "mode": r.mode.as_str(),
                "requests": r.requests,
                "misses": r.misses,
                "miss_ratio": r.miss_ratio,
                "byte_misses": r.byte_misses,
                "byte_miss_ratio": r.byte_miss_ratio,
            })
        })
        .collect();
    let mut out = std::io::stdout().lock();
    serde_json::to_writer_pretty(&mut out, &rows)?;
    writeln!(out)?;
    Ok(())
}

/// Draws one miss-ratio curve per policy: x = capacity (MiB in byte mode,
/// objects in object mode), y = miss ratio.
fn plot(path: &std::path::Path, results: &[SimulationResult], mode: Mode) -> anyhow::Result<()> {
    use plotters::prelude::*;

    let scale = match mode {
        Mode::Bytes => (1u64 << 20) as f64,
        Mode::Objects => 1.0,
    };
    let x_label = match mode {
        Mode::Bytes => "cache size (MiB)",
        Mode::Objects => "cache size (objects)",
    };
    let mut names: Vec<&str> = Vec::new();
    for r in results {
        if !names.contains(&r.policy.as_str()) {
            names.push(&r.policy);
        }
    }
    let xs = results.iter().map(|r| r.capacity as f64 / scale);
    let (x_min, x_max) = xs.fold((f64::MAX, f64::MIN), |(lo, hi), x| (lo.min(x), hi.max(x)));
    let ys = results.iter().map(|r| r.miss_ratio);
    let (y_min, y_max) = ys.fold((f64::MAX, f64::MIN), |(lo, hi), y| (lo.min(y), hi.max(y)));
    if results.is_empty() {
        bail!("nothing to plot");
    }
    let x_pad = ((x_max - x_min) * 0.02).max(0.5);
    let y_pad = ((y_max - y_min) * 0.05).max(0.01);

    let root = SVGBackend::new(path, (900, 560)).into_drawing_area();
    root.fill(&WHITE).map_err(|e| anyhow::anyhow!("{e}"))?;
    let mut chart = ChartBuilder::on(&root)
        .caption("Miss-ratio curves", ("sans-serif", 22))
        .margin(16)
        .x_label_area_size(44)
        .y_label_area_size(56)
        .build_cartesian_2d(
            (x_min - x_pad)..(x_max + x_pad),
            (y_min - y_pad).max(0.0)..(y_max + y_pad).min(1.0),
        )
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    chart
        .configure_mesh()
        .x_desc(x_label)
        .y_desc("miss ratio")
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    for (i, name) in names.iter().enumerate() {
        let color = Palette99::pick(i).to_rgba();
        let points: Vec<(f64, f64)> = results
            .iter()
            .filter(|r| r.policy == *name)
            .map(|r| (r.capacity as f64 / scale, r.miss_ratio))
            .collect();
        chart
            .draw_series(LineSeries::new(points, color.stroke_width(2)))
            .map_err(|e| anyhow::anyhow!("{e}"))?
            .label(*name)
            .legend(move |(x, y)| {
                PathElement::new(vec![(x, y), (x + 18, y)], color.stroke_width(2))
            });
    }
    chart
        .configure_series_labels()
        .background_style(WHITE.mix(0.85))
        .border_style(BLACK)
        .position(SeriesLabelPosition::UpperRight)
        .draw()
        .map_err(|e| anyhow::anyhow!("{e}"))?;
    root.present().map_err(|e| anyhow::anyhow!("{e}"))?;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_parse_with_binary_units() -> anyhow::Result<()> {
        assert_eq!(parse_size("1000")?, 1000);
        assert_eq!(parse_size("128MiB")?, 128 << 20);
        assert_eq!(parse_size("1 gib")?, 1 << 30);
        assert_eq!(parse_size("64KiB")?, 64 << 10);
        assert!(parse_size("12XB").is_err());
        assert!(parse_size("MiB").is_err());
        assert!(parse_size("99999999999TiB").is_err());
        Ok(())
    }

    #[test]
    fn capacities_print_in_the_largest_exact_unit() {
        assert_eq!(human_capacity(128 << 20, Mode::Bytes), "128MiB");
        assert_eq!(human_capacity(1 << 30, Mode::Bytes), "1GiB");
        assert_eq!(human_capacity(1000, Mode::Bytes), "1000");
        assert_eq!(human_capacity(1 << 20, Mode::Objects), "1048576");
    }
}
