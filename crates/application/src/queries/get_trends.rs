//! `GetTrends`: the trend series of a cache or of a build-cache store over
//! the last hour, day or month, with the annotations in that span.

use strata_domain::{Annotation, CacheName, Principal, Role, SeriesId, TrendRange, TrendSource};

use crate::build_cache::BUILD_CACHE_NAME;
use crate::context::Context;
use crate::registry::{AccessError, check_role};

/// Whose trends to read.
#[derive(Clone, Debug)]
pub enum TrendSubject {
    /// A cache; needs [`Role::Reader`] on it.
    Cache(CacheName),
    /// A build-cache store, `ac/<store>` or `cas/<store>`; needs
    /// [`Role::Reader`] on `build-cache`.
    BuildCache(String),
}

/// Read trends.
#[derive(Clone, Debug)]
pub struct GetTrends {
    /// Who acts.
    pub principal: Principal,
    /// Whose trends.
    pub subject: TrendSubject,
    /// How far back (and so at which resolution).
    pub range: TrendRange,
    /// The series to return, in this order; empty returns every series.
    pub series: Vec<SeriesId>,
}

/// One series: `(unix_ms, value)` pairs, oldest first; the value is
/// `None` where the window has none (no reads for `hit_ratio`, no
/// requests for `p50`/`p99`).
pub type SeriesPoints = Vec<(u64, Option<f64>)>;

/// The trends asked for.
#[derive(Clone, Debug, PartialEq)]
pub struct TrendsView {
    /// Seconds between points.
    pub resolution_secs: u64,
    /// Each series asked for, with its points within the range.
    pub series: Vec<(SeriesId, SeriesPoints)>,
    /// Configuration changes and `auto` switches within the range.
    pub annotations: Vec<Annotation>,
    /// Bytes this source's history holds now (every range).
    pub memory_bytes: usize,
}

/// Why trends cannot be read.
#[derive(Debug, thiserror::Error)]
pub enum GetTrendsError {
    /// Unknown cache or missing role. HTTP: 404 / 403.
    #[error(transparent)]
    Access(#[from] AccessError),
    /// No build-cache store of this name has trends. HTTP: 404.
    #[error(
        "no build-cache store or instance {0} has trends yet; stores are named ac/<store> or cas/<store>, instances by name (default for the unnamed one), and trends sample every 10 s"
    )]
    UnknownInstance(String),
    /// `[analytics] enabled = false`. HTTP: 404 `not_configured`.
    #[error("trends are off: [analytics] enabled = false")]
    Disabled,
}

pub(crate) fn handle(ctx: &Context, q: GetTrends) -> Result<TrendsView, GetTrendsError> {
    let source = match q.subject {
        TrendSubject::Cache(name) => {
            ctx.registry.authorize(&name, &q.principal, Role::Reader)?;
            TrendSource::Cache(name.as_str().to_owned())
        }
        TrendSubject::BuildCache(instance) => {
            let name = CacheName::parse(BUILD_CACHE_NAME).unwrap_or_else(|_| unreachable!());
            check_role(&q.principal, Role::Reader, &name)?;
            TrendSource::BuildCache(instance)
        }
    };
    if !ctx.trends.enabled() {
        return Err(GetTrendsError::Disabled);
    }
    let series = if q.series.is_empty() {
        SeriesId::ALL.to_vec()
    } else {
        q.series
    };
    let now_ms = ctx.clock.now().as_millis();
    let view = ctx.trends.read(&source, |history| TrendsView {
        resolution_secs: q.range.resolution_secs(),
        series: series
            .iter()
            .map(|&id| {
                let points = history
                    .recent(q.range, now_ms)
                    .map(|p| (p.at_ms, p.value(id)))
                    .collect();
                (id, points)
            })
            .collect(),
        annotations: history
            .recent_annotations(q.range, now_ms)
            .cloned()
            .collect(),
        memory_bytes: history.memory_bytes(),
    });
    match (view, source) {
        (Some(view), _) => Ok(view),
        // A cache not sampled yet: every series empty.
        (None, TrendSource::Cache(_)) => Ok(TrendsView {
            resolution_secs: q.range.resolution_secs(),
            series: series.into_iter().map(|id| (id, Vec::new())).collect(),
            annotations: Vec::new(),
            memory_bytes: 0,
        }),
        (None, TrendSource::BuildCache(instance)) => Err(GetTrendsError::UnknownInstance(instance)),
    }
}
