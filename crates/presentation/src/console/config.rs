//! `GET`/`POST /console/caches/{cache}/config`: a cache's configuration
//! as a form over the API's own validation (`CacheConfigurationDto` into
//! the domain, the same code `PUT` runs). An invalid value is shown beside
//! its field; a valid change is shown as a diff first (`step=review`) and
//! applied at the version it was read at (`step=apply`), so a change that
//! landed meanwhile is reported (409), never overwritten, as `If-Match`
//! does in the API. Readers see the settings without a form. Applies are
//! audited as the API's `configure`. Reading a configuration needs the
//! admin role, as `GET /admin/v1/caches/{cache}` does.

use std::collections::BTreeMap;

use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use strata_application::commands::configure_cache::ConfigureCache;
use strata_application::queries::get_configuration::GetConfiguration;
use strata_domain::{AuditAction, CacheName, Role, StoredConfiguration};

use super::cache::{cache_nav, name_of};
use super::layout::{self, ConsoleError, csrf_field};
use super::session::Viewer;
use crate::edge::audited::Audit;
use crate::edge::config_dto::CacheConfigurationDto;
use crate::edge::error::ApiError;
use crate::edge::state::AppState;

/// The settings the form edits: (name, label, kind). Others (tiers,
/// cache-aside defaults, encryption, ...) are kept as they are; the API
/// changes them.
const FIELDS: &[(&str, &str, Kind)] = &[
    ("eviction", "Eviction policy", Kind::Policy),
    ("max_entries", "Max entries", Kind::Number),
    ("max_bytes", "Max bytes", Kind::Number),
    ("default_ttl", "Default TTL (s)", Kind::Number),
    ("max_value_bytes", "Max value bytes", Kind::Number),
    ("l1_max_ttl", "L1 max TTL (s, stacked caches)", Kind::Number),
    ("compression", "Compression (zstd or none)", Kind::Text),
    ("stale_if_error", "Stale if error (s)", Kind::Number),
    (
        "stale_while_revalidate",
        "Stale while revalidate (s)",
        Kind::Number,
    ),
    ("lease_ttl", "Lease TTL (s)", Kind::Number),
    ("persist", "Persist (snapshots)", Kind::Flag),
    (
        "confirm_destructive",
        "Confirm destructive operations",
        Kind::Flag,
    ),
];

/// How a field is edited.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Policy,
    Number,
    Text,
    Flag,
}

/// The policies the select offers (as the API spells them).
const POLICIES: &[&str] = &[
    "auto",
    "sieve",
    "tinylfu",
    "lru",
    "fifo",
    "lfu",
    "clock",
    "s3fifo",
    "arc",
    "w-tinylfu",
    "ttl-first",
];

/// The posted form: the fields above by name, plus these.
type Posted = BTreeMap<String, String>;

/// A setting's value in `dto` as the form shows it (`""` when unset).
fn value_of(dto: &CacheConfigurationDto, field: &str) -> String {
    let json = serde_json::to_value(dto).unwrap_or_default();
    match json.get(field) {
        None | Some(serde_json::Value::Null) => String::new(),
        Some(serde_json::Value::String(s)) => s.clone(),
        Some(v) => v.to_string(),
    }
}

/// `current` with the form's fields applied, or the field whose value
/// does not parse.
fn apply(
    current: &CacheConfigurationDto,
    posted: &Posted,
) -> Result<CacheConfigurationDto, (&'static str, String)> {
    let mut json = serde_json::to_value(current).unwrap_or_default();
    let object = json
        .as_object_mut()
        .ok_or(("", "no configuration".to_owned()))?;
    object.remove("version");
    object.remove("sources");
    for (name, _, kind) in FIELDS {
        let raw = posted.get(*name).map(|s| s.trim()).unwrap_or("");
        let value = match kind {
            Kind::Flag => (raw == "on" || raw == "true").then_some(serde_json::Value::Bool(true)),
            _ if raw.is_empty() => None,
            Kind::Number => Some(serde_json::Value::from(
                raw.parse::<u64>()
                    .map_err(|_| (*name, "must be a whole number".to_owned()))?,
            )),
            Kind::Policy | Kind::Text => Some(serde_json::Value::String(raw.to_owned())),
        };
        match value {
            Some(v) => object.insert((*name).to_owned(), v),
            None => object.remove(*name),
        };
    }
    serde_json::from_value(json).map_err(|e| ("", e.to_string()))
}

/// `(setting, before, after)` for every setting that differs.
fn diff(
    before: &CacheConfigurationDto,
    after: &CacheConfigurationDto,
) -> Vec<(String, String, String)> {
    let as_map = |d: &CacheConfigurationDto| {
        let mut json = serde_json::to_value(d).unwrap_or_default();
        if let Some(o) = json.as_object_mut() {
            o.remove("version");
            o.remove("sources");
        }
        json.as_object().cloned().unwrap_or_default()
    };
    let (b, a) = (as_map(before), as_map(after));
    let mut keys: Vec<&String> = b.keys().chain(a.keys()).collect();
    keys.sort();
    keys.dedup();
    keys.into_iter()
        .filter(|k| b.get(*k) != a.get(*k))
        .map(|k| {
            let show = |v: Option<&serde_json::Value>| {
                v.map_or_else(|| "(default)".to_owned(), |v| v.to_string())
            };
            (k.clone(), show(b.get(k)), show(a.get(k)))
        })
        .collect()
}

/// The form: each field with its value and, for the failing one, its
/// error beside it.
fn form_markup(
    viewer: &Viewer,
    cache: &CacheName,
    values: &dyn Fn(&str) -> String,
    version: u64,
    error: Option<(&str, &str)>,
) -> Markup {
    html! {
        form #config-form method="post" action={ "/console/caches/" (cache.as_str()) "/config" } {
            (csrf_field(viewer))
            input type="hidden" name="step" value="review";
            input type="hidden" name="version" value=(version);
            @if let Some(("", message)) = error {
                p.error #form-error { (message) }
            }
            @for (name, label, kind) in FIELDS {
                @let value = values(name);
                @let failed = error.filter(|(f, _)| f == name).map(|(_, m)| m);
                div.field.invalid[failed.is_some()] {
                    label for=(name) { (label) }
                    @match kind {
                        Kind::Policy => {
                            select id=(name) name=(name) {
                                @for p in POLICIES { option value=(p) selected[value == *p] { (p) } }
                            }
                        }
                        Kind::Flag => {
                            input id=(name) type="checkbox" name=(name) checked[value == "true"];
                        }
                        _ => { input id=(name) type="text" name=(name) value=(value); }
                    }
                    @if let Some(message) = failed {
                        span.error id={ (name) "-error" } { (message) }
                    }
                }
            }
            button #review type="submit" { "Review the change" }
        }
    }
}

/// The read-only table of settings.
fn settings_table(dto: &CacheConfigurationDto) -> Markup {
    let json = serde_json::to_value(dto).unwrap_or_default();
    html! {
        table.stats #settings {
            tbody {
                @if let Some(object) = json.as_object() {
                    @for (k, v) in object { tr { th { (k) } td { (v.to_string()) } } }
                }
            }
        }
    }
}

/// The stored configuration of `cache`.
async fn stored(
    state: &AppState,
    viewer: &Viewer,
    cache: &CacheName,
) -> Result<StoredConfiguration, ConsoleError> {
    Ok(state
        .service
        .configuration(GetConfiguration {
            principal: viewer.principal.clone(),
            cache: cache.clone(),
        })
        .await
        .map_err(ApiError::from)?)
}

/// `GET /console/caches/{cache}/config`.
pub(crate) async fn form(
    state: web::Data<AppState>,
    viewer: Viewer,
    cache: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let cache = name_of(&cache)?;
    let stored = stored(&state, &viewer, &cache).await?;
    let dto = CacheConfigurationDto::from_stored(&stored);
    let body = html! {
        (cache_nav(&viewer, &cache))
        p.note { "Version " span #config-version { (stored.version) } "." }
        @if viewer.principal.may(Role::Admin, &cache) {
            (form_markup(&viewer, &cache, &|f| value_of(&dto, f), stored.version, None))
        } @else {
            p.note #read-only { "Your role can read this configuration, not change it." }
        }
        h2 { "Every setting" }
        (settings_table(&dto))
    };
    Ok(layout::page(
        &viewer,
        &format!("Configuration of {}", cache.as_str()),
        body,
    ))
}

/// `POST /console/caches/{cache}/config`: `step=review` validates and
/// shows the diff; `step=apply` applies at the posted version.
pub(crate) async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    viewer: Viewer,
    cache: web::Path<String>,
    form: web::Form<Posted>,
) -> Result<HttpResponse, ConsoleError> {
    let posted = form.into_inner();
    viewer.check_csrf(posted.get("csrf").map(String::as_str))?;
    let cache = name_of(&cache)?;
    if !viewer.principal.may(Role::Admin, &cache) {
        let e = ApiError::forbidden(format!(
            "{} lacks the admin role on this cache",
            viewer.principal
        ));
        crate::edge::audited::record_forbidden(&req, &e).await;
        return Err(e.into());
    }
    let stored = stored(&state, &viewer, &cache).await?;
    let current = CacheConfigurationDto::from_stored(&stored);
    let version = posted
        .get("version")
        .and_then(|v| v.parse::<u64>().ok())
        .unwrap_or(stored.version);
    let title = format!("Configuration of {}", cache.as_str());
    let values = |f: &str| posted.get(f).cloned().unwrap_or_default();
    let invalid = |field: &str, message: &str| {
        let body = html! {
            (cache_nav(&viewer, &cache))
            (form_markup(&viewer, &cache, &values, version, Some((field, message))))
        };
        let mut page = layout::page(&viewer, &title, body);
        *page.status_mut() = StatusCode::UNPROCESSABLE_ENTITY;
        page
    };
    let candidate = match apply(&current, &posted) {
        Ok(c) => c,
        Err((field, message)) => return Ok(invalid(field, &message)),
    };
    let config = match candidate.clone().into_domain(cache.clone()) {
        Ok(c) => c,
        Err(e) => return Ok(invalid(e.field, &e.reason)),
    };
    let after = CacheConfigurationDto::from(&config);
    let changes = diff(&current, &after);
    let diff_table = html! {
        table.diff #diff {
            thead { tr { th { "Setting" } th { "Before" } th { "After" } } }
            tbody {
                @for (k, b, a) in &changes { tr { td { (k) } td.before { (b) } td.after { (a) } } }
            }
        }
    };
    if posted.get("step").map(String::as_str) != Some("apply") {
        let body = html! {
            (cache_nav(&viewer, &cache))
            @if changes.is_empty() {
                p #no-change { "Nothing changes." }
            } @else {
                p { "Review the change (from version " (version) "):" }
                (diff_table)
                form #apply-form method="post" action={ "/console/caches/" (cache.as_str()) "/config" } {
                    (csrf_field(&viewer))
                    input type="hidden" name="step" value="apply";
                    input type="hidden" name="version" value=(version);
                    @for (name, _, _) in FIELDS {
                        @if let Some(v) = posted.get(*name) {
                            input type="hidden" name=(name) value=(v);
                        }
                    }
                    button.danger #apply type="submit" { "Apply" }
                }
            }
            (form_markup(&viewer, &cache, &values, version, None))
        };
        return Ok(layout::page(&viewer, &title, body));
    }
    let mut explicit = stored.provenance.explicit.clone();
    explicit.extend(changes.iter().map(|(k, _, _)| k.clone()));
    let summary = serde_json::to_string(&after).unwrap_or_default();
    let audit = Audit::begin(
        &state,
        &req,
        &viewer.principal,
        AuditAction::Configure,
        &cache,
        vec![
            ("configuration".to_owned(), summary),
            ("via".to_owned(), "console".to_owned()),
        ],
    )
    .await?;
    let result = state
        .service
        .configure(ConfigureCache {
            principal: viewer.principal.clone(),
            config,
            expected_version: Some(version),
            explicit: Some(explicit),
        })
        .await
        .map_err(ApiError::from);
    match audit.finish(&state, result).await {
        Ok(out) => {
            let body = html! {
                (cache_nav(&viewer, &cache))
                p #applied { "Applied: the configuration is now at version " strong #new-version { (out.version) } "." }
                (diff_table)
                p { a href={ "/console/caches/" (cache.as_str()) "/config" } { "Back to the configuration" } }
            };
            Ok(layout::page(&viewer, &title, body))
        }
        Err(e) if e.code() == "version_conflict" => {
            let now = stored.version;
            let body = html! {
                (cache_nav(&viewer, &cache))
                p.error #conflict {
                    "Someone changed this configuration meanwhile: you edited version " (version)
                    ", it is now at version " (now) ". Nothing was applied. "
                    a href={ "/console/caches/" (cache.as_str()) "/config" } { "Reload it" } " and make your change again."
                }
            };
            let mut page = layout::page(&viewer, &title, body);
            *page.status_mut() = StatusCode::CONFLICT;
            Ok(page)
        }
        Err(e) => Err(e.into()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_form_changes_only_what_it_names_and_the_diff_shows_it() {
        let current = CacheConfigurationDto {
            eviction: Some("sieve".into()),
            max_entries: Some(100),
            tiers: Some(vec!["memory".into()]),
            ..Default::default()
        };
        let mut posted = Posted::new();
        posted.insert("eviction".into(), "lru".into());
        posted.insert("max_entries".into(), "100".into());
        posted.insert("confirm_destructive".into(), "on".into());
        let after = apply(&current, &posted).unwrap();
        assert_eq!(after.tiers, current.tiers, "kept");
        let changes = diff(&current, &after);
        let names: Vec<&str> = changes.iter().map(|(k, _, _)| k.as_str()).collect();
        assert_eq!(names, ["confirm_destructive", "eviction"]);
        posted.insert("max_entries".into(), "ten".into());
        assert_eq!(apply(&current, &posted).unwrap_err().0, "max_entries");
    }
}
