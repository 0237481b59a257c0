//! `GET`/`POST /console/caches/{cache}/invalidate`: invalidation by
//! pattern or tag, always a dry run first (the count, nothing removed),
//! then the run. A cache with `confirm_destructive` asks for its name
//! typed again, and the server refuses the run without it (428), as the
//! API does. Runs are audited like the API's invalidations.

use actix_web::{HttpRequest, HttpResponse, web};
use maud::html;
use serde::Deserialize;
use strata_application::commands::invalidate_entries::InvalidateEntries;
use strata_domain::{
    AuditAction, CacheName, InvalidationCount, InvalidationSelector, KeyPattern, Role,
};

use super::cache::{cache_nav, name_of};
use super::layout::{self, ConsoleError, csrf_field};
use super::session::Viewer;
use crate::edge::audited::Audit;
use crate::edge::error::ApiError;
use crate::edge::state::AppState;

/// The invalidation form.
#[derive(Debug, Default, Deserialize)]
pub struct InvalidateForm {
    /// The session's CSRF token.
    #[serde(default)]
    pub csrf: Option<String>,
    /// `pattern` or `tag`.
    #[serde(default)]
    pub kind: String,
    /// The glob or the tag.
    #[serde(default)]
    pub value: String,
    /// `dry_run` or `run`.
    #[serde(default)]
    pub action: String,
    /// The cache's name typed again (caches with `confirm_destructive`).
    #[serde(default)]
    pub confirm: Option<String>,
}

/// Whether `cache` asks for its name before destructive operations.
pub(crate) fn needs_confirmation(state: &AppState, cache: &CacheName) -> bool {
    state
        .service
        .registry()
        .get(cache)
        .is_some_and(|c| c.config().confirm_destructive())
}

/// The selector `form` describes.
fn selector(form: &InvalidateForm) -> Result<InvalidationSelector, ApiError> {
    match form.kind.as_str() {
        "pattern" => KeyPattern::parse(&form.value)
            .map(InvalidationSelector::Pattern)
            .map_err(|e| ApiError::invalid_parameter(e.to_string()).field("pattern")),
        "tag" => crate::edge::params::tags([form.value.as_str()]).map(InvalidationSelector::Tags),
        _ => Err(ApiError::invalid_parameter("choose a pattern or a tag").field("kind")),
    }
}

/// The form, filled with `form`'s values.
fn form_markup(viewer: &Viewer, cache: &CacheName, form: &InvalidateForm) -> maud::Markup {
    html! {
        form #invalidate-form method="post" action={ "/console/caches/" (cache.as_str()) "/invalidate" } {
            (csrf_field(viewer))
            input type="hidden" name="action" value="dry_run";
            label for="kind" { "Select by" }
            select #kind name="kind" {
                option value="pattern" selected[form.kind != "tag"] { "pattern" }
                option value="tag" selected[form.kind == "tag"] { "tag" }
            }
            label for="value" { "Glob or tag" }
            input #value type="text" name="value" value=(form.value) required placeholder="user:*";
            button #dry-run type="submit" { "Count (dry run)" }
        }
    }
}

/// `GET /console/caches/{cache}/invalidate`.
pub(crate) async fn form(
    viewer: Viewer,
    cache: web::Path<String>,
) -> Result<HttpResponse, ConsoleError> {
    let cache = name_of(&cache)?;
    let body = html! {
        (cache_nav(&viewer, &cache))
        @if viewer.principal.may(Role::Writer, &cache) {
            (form_markup(&viewer, &cache, &InvalidateForm::default()))
        } @else {
            p.note #read-only { "Your role cannot invalidate entries of this cache." }
        }
    };
    Ok(layout::page(
        &viewer,
        &format!("Invalidate in {}", cache.as_str()),
        body,
    ))
}

/// `POST /console/caches/{cache}/invalidate`: a dry run, or the run.
pub(crate) async fn submit(
    state: web::Data<AppState>,
    req: HttpRequest,
    viewer: Viewer,
    cache: web::Path<String>,
    form: web::Form<InvalidateForm>,
) -> Result<HttpResponse, ConsoleError> {
    viewer.check_csrf(form.csrf.as_deref())?;
    let cache = name_of(&cache)?;
    let form = form.into_inner();
    let selector = selector(&form)?;
    let dry_run = form.action != "run";
    let audit = if dry_run {
        None
    } else {
        let name = if form.kind == "tag" {
            "tags"
        } else {
            "pattern"
        };
        Some(
            Audit::begin(
                &state,
                &req,
                &viewer.principal,
                AuditAction::Invalidate,
                &cache,
                vec![
                    (name.to_owned(), form.value.clone()),
                    ("via".to_owned(), "console".to_owned()),
                ],
            )
            .await?,
        )
    };
    let result = state
        .service
        .invalidate(InvalidateEntries {
            principal: viewer.principal.clone(),
            cache: cache.clone(),
            selector,
            dry_run,
            confirm: form.confirm.clone().filter(|c| !c.is_empty()),
        })
        .await
        .map_err(ApiError::from);
    let result = match audit {
        Some(audit) => audit.finish(&state, result).await,
        None => result,
    };
    let count = match result {
        Ok(count) => count,
        Err(e) => {
            crate::edge::audited::record_forbidden(&req, &e).await;
            return Err(e.into());
        }
    };
    let shown = match count {
        InvalidationCount::Exact(n) => n.to_string(),
        InvalidationCount::Uncounted => "an uncounted number of".to_owned(),
    };
    let confirm = needs_confirmation(&state, &cache);
    let body = html! {
        (cache_nav(&viewer, &cache))
        @if dry_run {
            p #dry-run-result { "Dry run: " strong #dry-run-count { (shown) } " entries match " (form.kind) " " code { (form.value) } ". Nothing was removed." }
            form #run-form method="post" action={ "/console/caches/" (cache.as_str()) "/invalidate" } {
                (csrf_field(&viewer))
                input type="hidden" name="action" value="run";
                input type="hidden" name="kind" value=(form.kind);
                input type="hidden" name="value" value=(form.value);
                @if confirm {
                    label for="confirm" { "This cache is protected: type its name, " code { (cache.as_str()) } ", to confirm" }
                    input #confirm type="text" name="confirm" autocomplete="off" required;
                }
                button.danger #run type="submit" { "Invalidate these entries" }
            }
        } @else {
            p #run-result { "Invalidated " strong #invalidated-count { (shown) } " entries (" (form.kind) " " code { (form.value) } ")." }
        }
        (form_markup(&viewer, &cache, &form))
    };
    Ok(layout::page(
        &viewer,
        &format!("Invalidate in {}", cache.as_str()),
        body,
    ))
}
