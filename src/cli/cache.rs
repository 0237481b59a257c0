//! `strata cache`: the local task cache's maintenance (stats, clean,
//! validate). The store and logs are `strata_infrastructure::tasks`; the
//! settings come from `task_file`.

use std::time::Duration;

use anyhow::{Context, bail};
use strata_domain::tasks::ContentHasher;
use strata_domain::{ActionCache, ContentStore, FlushCriteria, FlushScope, StoreKind};
use strata_infrastructure::tasks::{DiskTaskCache, RunHistory, Sha2Hasher, StatsLog};

use super::run::{process_env, seconds};
use super::task_file::GlobalSettings;

/// The statistics window of `strata cache stats`: 30 days.
const STATS_WINDOW: Duration = Duration::from_secs(30 * 24 * 3600);

/// `strata cache`.
#[derive(clap::Subcommand, Debug)]
pub(crate) enum CacheCommand {
    /// Entries, bytes, hits, misses and time saved over the last 30 days.
    Stats,
    /// Remove entries: `--older-than 7d` (by last use), or `--all`.
    Clean {
        /// Age such as `7d`, `12h`, `30m` or `90s`.
        #[arg(long, value_name = "AGE")]
        older_than: Option<String>,
        /// Remove everything: store, run history and statistics.
        #[arg(long)]
        all: bool,
    },
    /// Re-hash every CAS blob and remove (and report) the corrupt ones.
    Validate,
}

/// Parses `7d`, `12h`, `30m`, `90s`.
fn parse_age(s: &str) -> anyhow::Result<Duration> {
    let (num, unit) = s.split_at(s.find(|c: char| !c.is_ascii_digit()).unwrap_or(s.len()));
    let n: u64 = num
        .parse()
        .with_context(|| format!("not an age: {s:?} (e.g. 7d)"))?;
    let secs = match unit {
        "d" => 86_400,
        "h" => 3_600,
        "m" => 60,
        "s" | "" => 1,
        _ => bail!("unknown age unit in {s:?} (d, h, m, s)"),
    };
    Ok(Duration::from_secs(n.saturating_mul(secs)))
}

fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| u64::try_from(d.as_millis()).unwrap_or(u64::MAX))
}

/// `strata cache ...`.
#[expect(clippy::print_stdout, reason = "the commands' output")]
pub(crate) fn cache(command: CacheCommand) -> anyhow::Result<()> {
    let env = process_env();
    let settings = GlobalSettings::load(&env)?;
    let local = DiskTaskCache::new(&settings.cache_dir, settings.max_size);
    let stats = StatsLog::new(&settings.cache_dir);
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    match command {
        CacheCommand::Stats => {
            let (store, _lock) = local.open_blocking()?;
            let (ac, cas) = runtime.block_on(async {
                anyhow::Ok((
                    ActionCache::stats(store.as_ref()).await?,
                    ContentStore::stats(store.as_ref()).await?,
                ))
            })?;
            let window_ms = u64::try_from(STATS_WINDOW.as_millis()).unwrap_or(u64::MAX);
            let since = now_ms().saturating_sub(window_ms);
            // Only the window is retained.
            stats.retain_since(since)?;
            let s = stats.summary(since)?;
            let sum = |u: &[strata_domain::StoreUsage]| {
                u.iter()
                    .fold((0, 0), |(e, b), x| (e + x.entries, b + x.bytes))
            };
            let (ac_entries, ac_bytes) = sum(&ac);
            let (cas_entries, cas_bytes) = sum(&cas);
            println!("cache directory: {}", settings.cache_dir.display());
            println!("actions: {ac_entries} entries, {ac_bytes} bytes");
            println!("blobs: {cas_entries} entries, {cas_bytes} bytes");
            println!(
                "total: {} bytes of {} allowed",
                ac_bytes + cas_bytes,
                settings.max_size
            );
            println!("last 30 days: {} hits, {} misses", s.hits, s.misses);
            let ratio = if s.hits + s.misses == 0 {
                0.0
            } else {
                s.hits as f64 / (s.hits + s.misses) as f64
            };
            println!("hit ratio: {:.1} %", ratio * 100.0);
            println!("time saved: {}", seconds(s.saved_ms));
        }
        CacheCommand::Clean { older_than, all } => {
            if all == older_than.is_some() {
                bail!("give exactly one of --older-than AGE or --all");
            }
            let (store, lock) = local.open_blocking()?;
            let scope = match &older_than {
                Some(age) => FlushScope::OlderThan(parse_age(age)?),
                None => FlushScope::All,
            };
            let criteria = FlushCriteria::new(scope);
            let (ac, cas) = runtime.block_on(async {
                anyhow::Ok((
                    ActionCache::flush(store.as_ref(), &criteria).await?,
                    ContentStore::flush(store.as_ref(), &criteria).await?,
                ))
            })?;
            drop(store);
            drop(lock);
            if all {
                RunHistory::new(&settings.cache_dir).clear()?;
                stats.retain_since(u64::MAX)?;
            }
            println!(
                "removed {} actions and {} blobs, {} bytes",
                ac.entries_removed(),
                cas.entries_removed(),
                ac.bytes_reclaimed() + cas.bytes_reclaimed()
            );
        }
        CacheCommand::Validate => {
            let (store, _lock) = local.open_blocking()?;
            let blobs = runtime.block_on(ContentStore::list(store.as_ref(), None))?;
            let mut corrupt = 0u64;
            for b in &blobs {
                let path = store.path_of(StoreKind::Cas, &b.instance, &b.hash);
                let ok =
                    std::fs::read(&path).is_ok_and(|bytes| Sha2Hasher.sha256(&bytes) == b.hash);
                if !ok {
                    corrupt += 1;
                    println!("corrupt blob removed: {} ({})", b.hash, path.display());
                    std::fs::remove_file(&path)
                        .with_context(|| format!("remove {}", path.display()))?;
                }
            }
            println!("checked {} blobs: {corrupt} corrupt", blobs.len());
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ages() {
        assert_eq!(parse_age("7d").unwrap(), Duration::from_secs(7 * 86_400));
        assert_eq!(parse_age("90s").unwrap(), Duration::from_secs(90));
        assert!(parse_age("7w").is_err());
    }
}
