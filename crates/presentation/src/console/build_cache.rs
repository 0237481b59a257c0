//! `GET /console/build-cache`: the build cache's stores (AC and CAS
//! entries, bytes, hit ratio and an hour's hit-ratio sparkline), its REAPI
//! instances (reads, hit ratio, an hour's sparkline, and hit-ratio,
//! request and byte charts over 1 h, 24 h or 30 d for the one picked), an AC
//! lookup by digest showing the ActionResult (output files with sizes and
//! digests linked to a download, exit code, stdout and stderr), and the
//! flush form for every scope: a dry run first (counts and bytes per
//! store), then the typed confirmation (the instance name, `default` for
//! the unnamed instance, or `all`) before it runs; the result report
//! names each store's failures (a partial flush). Flushes are audited as
//! the API's. `GET /console/build-cache/cas/{hash}` downloads a blob.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use bazel_remote_apis::build::bazel::remote::execution::v2 as reapi;
use maud::{Markup, html};
use prost::Message;
use serde::Deserialize;
use strata_application::BuildCacheService;
use strata_application::build_cache::BUILD_CACHE_NAME;
use strata_application::build_cache::flush_action_cache::FlushActionCache;
use strata_application::build_cache::flush_content_store::FlushContentStore;
use strata_application::build_cache::get_action_result::GetActionResult;
use strata_application::build_cache::get_build_cache_stats::BuildCacheStats;
use strata_application::build_cache::read_blob::ReadBlob;
use strata_application::queries::get_trends::{GetTrends, GetTrendsError, TrendSubject};
use strata_domain::{
    AuditAction, CacheName, DigestHash, FlushCriteria, FlushResult, FlushScope, InstanceName,
    ReadRange, Role, SeriesId, TrendRange,
};

use super::layout::{self, ConsoleError, bytes, chart, csrf_field, percent, sparkline};
use super::overview::{build_cache_stats, hour_of, stores_table};
use super::session::Viewer;
use crate::edge::audited::Audit;
use crate::edge::error::ApiError;
use crate::edge::state::AppState;

/// Query of the page: an AC lookup, and the instance whose trends are
/// charted.
#[derive(Debug, Deserialize)]
pub struct LookupQuery {
    /// The action digest's hash (64 hex digits).
    pub digest: Option<String>,
    /// The instance (empty: the default one).
    pub instance: Option<String>,
    /// The instance whose trend charts are shown (`default` for the
    /// unnamed one).
    pub trends: Option<String>,
    /// The charts' range: `1h` (default), `24h` or `30d`.
    pub range: Option<String>,
}

/// Every REAPI instance seen, with its reads, hit ratio and an hour's
/// hit-ratio sparkline; each links to its charts.
fn instances_table(state: &AppState, viewer: &Viewer, stats: &BuildCacheStats) -> Markup {
    html! {
        @if stats.instances.is_empty() {
            p.note { "No instance has been asked anything since the server started." }
        } @else {
            table.instances #instances {
                thead { tr { th { "Instance" } th { "Hits" } th { "Misses" } th { "Hit ratio" } th { "Last hour" } } }
                tbody {
                    @for u in &stats.instances {
                        @let reads = u.hits + u.misses;
                        tr {
                            td { a href={ "/console/build-cache?trends=" (u.instance) } { (u.instance) } }
                            td.num { (u.hits) }
                            td.num { (u.misses) }
                            td.num { (percent((reads > 0).then(|| u.hits as f64 / reads as f64))) }
                            td { (sparkline(&hour_of(state, &viewer.principal, TrendSubject::BuildCache(u.instance.clone()), SeriesId::HitRatio), 1.0)) }
                        }
                    }
                }
            }
        }
    }
}

/// The trend charts of `instance` over `range`: hit ratio, requests and
/// value bytes both ways.
fn instance_charts(state: &AppState, viewer: &Viewer, instance: &str, range: TrendRange) -> Markup {
    let view = state.service.get_trends(GetTrends {
        principal: viewer.principal.clone(),
        subject: TrendSubject::BuildCache(instance.to_owned()),
        range,
        series: vec![
            SeriesId::HitRatio,
            SeriesId::Requests,
            SeriesId::BytesRead,
            SeriesId::BytesWritten,
        ],
    });
    let charts = match view {
        Ok(view) => {
            let find = |id: SeriesId| {
                view.series
                    .iter()
                    .find(|(s, _)| *s == id)
                    .map(|(_, p)| p.as_slice())
                    .unwrap_or_default()
            };
            html! {
                p.note { "A point every " (view.resolution_secs) " s." }
                div.charts {
                    (chart("Hit ratio", &[("hit ratio", find(SeriesId::HitRatio))]))
                    (chart("Requests", &[("requests", find(SeriesId::Requests))]))
                    (chart("Bytes", &[("read", find(SeriesId::BytesRead)), ("written", find(SeriesId::BytesWritten))]))
                }
            }
        }
        // Seen, but not sampled yet (the trends sample every 10 s).
        Err(GetTrendsError::UnknownInstance(_)) => html! {
            p.note #no-trends { "No trend points yet for this instance: the trends sample every 10 s." }
        },
        Err(e) => {
            let e = ConsoleError::from(ApiError::from(e));
            html! { p.note { (e.message) } }
        }
    };
    html! {
        div #instance-trends {
            h3 { "Instance " code { (instance) } }
            nav.sub {
                @for r in TrendRange::ALL {
                    a.current[r == range] href={ "/console/build-cache?trends=" (instance) "&range=" (r.as_str()) } { (r.as_str()) }
                }
            }
            (charts)
        }
    }
}

/// The build cache, or a 404 page when it is off.
fn service(state: &AppState) -> Result<&BuildCacheService, ConsoleError> {
    state.build_cache.as_ref().ok_or_else(|| {
        ConsoleError::new(
            StatusCode::NOT_FOUND,
            "not_configured",
            "The build cache is not enabled ([build_cache]).",
        )
    })
}

/// The instance named in a form or query (`default` and empty are the
/// unnamed instance).
fn instance_of(raw: Option<&str>) -> Result<InstanceName, ConsoleError> {
    let raw = raw.unwrap_or("").trim();
    let raw = if raw == "default" { "" } else { raw };
    InstanceName::parse(raw)
        .map_err(|e| ConsoleError::new(StatusCode::BAD_REQUEST, "invalid_instance", e.to_string()))
}

/// The ActionResult of `digest` in `instance`, rendered.
async fn lookup(
    state: &AppState,
    viewer: &Viewer,
    digest: &str,
    instance: Option<&str>,
) -> Result<Markup, ConsoleError> {
    let service = service(state)?;
    let key = DigestHash::parse(digest.trim())
        .map_err(|e| ConsoleError::new(StatusCode::BAD_REQUEST, "invalid_digest", e.to_string()))?;
    let instance = instance_of(instance)?;
    let found = service
        .get_action_result(GetActionResult {
            principal: viewer.principal.clone(),
            instance: instance.clone(),
            key,
        })
        .await
        .map_err(ApiError::from)?;
    let Some(bytes_found) = found else {
        return Ok(html! { p.note #ac-missing { "No action result for " code { (digest) } "." } });
    };
    let Ok(result) = reapi::ActionResult::decode(bytes_found.as_ref()) else {
        return Ok(
            html! { p.note { "The entry is " (bytes_found.len()) " bytes that are not a REAPI ActionResult." } },
        );
    };
    let blob = |d: &Option<reapi::Digest>| {
        d.as_ref().map(|d| {
            (
                d.hash.clone(),
                d.size_bytes,
                format!(
                    "/console/build-cache/cas/{}?instance={}",
                    d.hash,
                    super::cache::urlencode(instance.as_str())
                ),
            )
        })
    };
    let text = |raw: &[u8]| {
        let head = &raw[..raw.len().min(super::keys::PREVIEW_LIMIT / 2)];
        String::from_utf8_lossy(head).into_owned()
    };
    Ok(html! {
        section #action-result {
            p { "Exit code: " strong #exit-code { (result.exit_code) } }
            h3 { "Output files" }
            table.outputs {
                thead { tr { th { "Path" } th { "Size" } th { "Digest" } } }
                tbody {
                    @for f in &result.output_files {
                        @let d = blob(&f.digest);
                        tr {
                            td { (f.path) }
                            td.num { (d.as_ref().map_or(0, |d| d.1)) }
                            td { @if let Some((hash, _, url)) = &d { a href=(url) download { code { (hash) } } } }
                        }
                    }
                }
            }
            h3 { "stdout" }
            pre.value #stdout { (text(&result.stdout_raw)) }
            @if let Some((hash, size, url)) = blob(&result.stdout_digest) { p { a href=(url) download { "stdout blob " (hash) " (" (size) " bytes)" } } }
            h3 { "stderr" }
            pre.value #stderr { (text(&result.stderr_raw)) }
            @if let Some((hash, size, url)) = blob(&result.stderr_digest) { p { a href=(url) download { "stderr blob " (hash) " (" (size) " bytes)" } } }
        }
    })
}

/// The flush form (a dry run).
fn flush_form(viewer: &Viewer) -> Markup {
    html! {
        form #flush-form method="post" action="/console/build-cache/flush" {
            (csrf_field(viewer))
            input type="hidden" name="action" value="dry_run";
            label for="target" { "Store" }
            select #target name="target" {
                option value="ac" { "action cache (AC)" }
                option value="cas" { "content store (CAS)" }
            }
            label for="scope" { "Scope: an instance name, " code { "default" } " for the unnamed instance, or " code { "all" } }
            input #scope type="text" name="scope" required placeholder="default";
            button #flush-dry-run type="submit" { "Preview (dry run)" }
        }
    }
}

/// `GET /console/build-cache`.
pub(crate) async fn page(
    state: web::Data<AppState>,
    viewer: Viewer,
    query: web::Query<LookupQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let found = match query.digest.as_deref().filter(|d| !d.is_empty()) {
        Some(digest) => Some(lookup(&state, &viewer, digest, query.instance.as_deref()).await?),
        None => None,
    };
    let admin = CacheName::parse(BUILD_CACHE_NAME)
        .is_ok_and(|name| viewer.principal.may(Role::Admin, &name));
    let range = query
        .range
        .as_deref()
        .and_then(TrendRange::parse)
        .unwrap_or(TrendRange::Hour);
    let stats = build_cache_stats(&state, &viewer).await;
    let body = html! {
        @match &stats {
            Ok(stats) => {
                section { h2 { "Stores" } (stores_table(&state, &viewer, stats)) }
                section {
                    h2 { "Instances" }
                    (instances_table(&state, &viewer, stats))
                    @if let Some(instance) = query.trends.as_deref().filter(|i| !i.is_empty()) {
                        (instance_charts(&state, &viewer, instance, range))
                    }
                }
            }
            Err(note) => { section { h2 { "Stores" } (note) } }
        }
        section {
            h2 { "Action cache lookup" }
            form #ac-lookup method="get" action="/console/build-cache" {
                label for="digest" { "Action digest (SHA-256)" }
                input #digest type="text" name="digest" value=(query.digest.clone().unwrap_or_default()) size="70";
                label for="instance" { "Instance" }
                input #instance type="text" name="instance" value=(query.instance.clone().unwrap_or_default()) placeholder="default";
                button type="submit" { "Look up" }
            }
            @if let Some(found) = found { (found) }
        }
        @if admin {
            section { h2 { "Flush" } (flush_form(&viewer)) }
        }
    };
    Ok(layout::page(&viewer, "Build cache", body))
}

/// The flush form's fields.
#[derive(Debug, Deserialize)]
pub struct FlushForm {
    /// The session's CSRF token.
    #[serde(default)]
    pub csrf: Option<String>,
    /// `ac` or `cas`.
    #[serde(default)]
    pub target: String,
    /// An instance name, `default` or `all`.
    #[serde(default)]
    pub scope: String,
    /// `dry_run` or `run`.
    #[serde(default)]
    pub action: String,
    /// The scope typed again (the run).
    #[serde(default)]
    pub confirm: Option<String>,
}

/// The report of a flush (or of its dry run).
fn report(result: &FlushResult) -> Markup {
    html! {
        table.flush-report #flush-report {
            thead { tr { th { "Store" } th { "Entries" } th { "Bytes" } th { "Errors" } } }
            tbody {
                @for s in &result.stores {
                    tr.failed[!s.errors.is_empty()] {
                        td { (s.store) }
                        td.num { (s.entries_removed) }
                        td.num { (bytes(s.bytes_reclaimed)) }
                        td { (s.errors.join("; ")) }
                    }
                }
            }
        }
        @if result.is_partial() {
            p.error #flush-partial { "Partial: some stores failed (above); the others were flushed." }
        }
        @if let Some(n) = result.dangling_ac_entries {
            p.note { (n) " action-cache entries now reference a missing blob." }
        }
    }
}

/// `POST /console/build-cache/flush`: the dry run, or (with the scope
/// typed again) the flush.
pub(crate) async fn flush(
    state: web::Data<AppState>,
    req: HttpRequest,
    viewer: Viewer,
    form: web::Form<FlushForm>,
) -> Result<HttpResponse, ConsoleError> {
    viewer.check_csrf(form.csrf.as_deref())?;
    let service = service(&state)?.clone();
    let scope_text = form.scope.trim().to_owned();
    let scope = if scope_text == "all" {
        FlushScope::All
    } else {
        FlushScope::Instance(instance_of(Some(&scope_text))?)
    };
    let dry_run = form.action != "run";
    if !dry_run && form.confirm.as_deref().map(str::trim) != Some(scope_text.as_str()) {
        return Err(ConsoleError::new(
            StatusCode::PRECONDITION_REQUIRED,
            "confirmation_required",
            format!("Type the scope, {scope_text}, to confirm the flush. Nothing was flushed."),
        ));
    }
    let mut criteria = FlushCriteria::new(scope);
    criteria.dry_run = dry_run;
    let target = if form.target == "cas" { "cas" } else { "ac" };
    let name =
        CacheName::parse(BUILD_CACHE_NAME).map_err(|e| ConsoleError::internal(&e.to_string()))?;
    let mut audit = Audit::begin(
        &state,
        &req,
        &viewer.principal,
        AuditAction::Flush,
        &name,
        vec![
            ("target".to_owned(), target.to_owned()),
            ("scope".to_owned(), criteria.scope.as_str().to_owned()),
            ("dry_run".to_owned(), dry_run.to_string()),
            ("via".to_owned(), "console".to_owned()),
        ],
    )
    .await?;
    let principal = viewer.principal.clone();
    let result = if target == "cas" {
        service
            .flush_content_store(FlushContentStore {
                principal,
                criteria,
            })
            .await
            .map_err(ApiError::from)
    } else {
        service
            .flush_action_cache(FlushActionCache {
                principal,
                criteria,
            })
            .await
            .map_err(ApiError::from)
    };
    if let Ok(r) = &result {
        audit.note("entries_removed", r.entries_removed().to_string());
        audit.note("bytes_reclaimed", r.bytes_reclaimed().to_string());
        audit.note("partial", r.is_partial().to_string());
    }
    let result = match audit.finish(&state, result).await {
        Ok(r) => r,
        Err(e) => {
            crate::edge::audited::record_forbidden(&req, &e).await;
            return Err(e.into());
        }
    };
    let body = html! {
        @if dry_run {
            p #flush-preview { "Dry run of a " (target) " flush of " code { (scope_text) } ": "
                strong #flush-preview-entries { (result.entries_removed()) } " entries, " (bytes(result.bytes_reclaimed())) ". Nothing was removed." }
            (report(&result))
            form #flush-confirm-form method="post" action="/console/build-cache/flush" {
                (csrf_field(&viewer))
                input type="hidden" name="action" value="run";
                input type="hidden" name="target" value=(target);
                input type="hidden" name="scope" value=(scope_text);
                label for="confirm" { "Type " code { (scope_text) } " to flush" }
                input #confirm type="text" name="confirm" autocomplete="off" required;
                button.danger #flush-run type="submit" { "Flush" }
            }
        } @else {
            p #flush-done { "Flushed " (target) " " code { (scope_text) } ": "
                strong #flush-entries { (result.entries_removed()) } " entries, " (bytes(result.bytes_reclaimed())) "." }
            (report(&result))
        }
        p { a href="/console/build-cache" { "Back to the build cache" } }
    };
    Ok(layout::page(&viewer, "Build-cache flush", body))
}

/// `GET /console/build-cache/cas/{hash}?instance=`: a blob as a download.
pub(crate) async fn blob(
    state: web::Data<AppState>,
    viewer: Viewer,
    hash: web::Path<String>,
    query: web::Query<LookupQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let service = service(&state)?;
    let hash = DigestHash::parse(&hash)
        .map_err(|e| ConsoleError::new(StatusCode::BAD_REQUEST, "invalid_digest", e.to_string()))?;
    let read = service
        .read_blob(ReadBlob {
            principal: viewer.principal.clone(),
            instance: instance_of(query.instance.as_deref())?,
            hash,
            range: ReadRange::FULL,
        })
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ConsoleError::new(StatusCode::NOT_FOUND, "not_found", "No such blob."))?;
    let stream = futures_util::stream::unfold(Some(read.reader), |reader| async move {
        let mut reader = reader?;
        match reader.next_chunk().await {
            Ok(Some(chunk)) => Some((Ok::<_, std::io::Error>(chunk), Some(reader))),
            Ok(None) => None,
            Err(e) => Some((Err(e), None)),
        }
    });
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header((header::CONTENT_DISPOSITION, "attachment"))
        .no_chunking(read.len)
        .streaming(stream))
}
