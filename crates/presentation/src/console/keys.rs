//! The key browser: `GET /console/caches/{cache}/keys?match=&limit=&cursor=`
//! pages through a cache's keys with the keys API's SCAN semantics
//! (the same query, `list_keys`), a page at a time, so a cache of a
//! million keys answers as fast as one of a hundred. An entry's page
//! (`/entry?key=`) shows its size, TTL, tags, content type and `ETag`,
//! a preview, a download link and, for writers, a delete form.
//!
//! The preview (`/entry/preview?key=&view=text|json|hex`, loaded by
//! htmx into the entry's page) is one response body of at most
//! [`PREVIEW_LIMIT`] bytes whatever the value's size: the browser never
//! receives a large value unless it asks for the download.

use actix_web::http::StatusCode;
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use maud::{Markup, html};
use serde::Deserialize;
use strata_application::commands::delete_entry::DeleteEntry;
use strata_application::queries::get_entry::GetEntry;
use strata_application::queries::list_keys::{ListKeys, MAX_KEYS_PAGE};
use strata_domain::{CacheEntry, CacheKey, CacheName, KeyPattern, Role};

use super::cache::{cache_nav, name_of, urlencode};
use super::layout::{self, ConsoleError, bytes, csrf_field};
use super::session::Viewer;
use crate::edge::error::ApiError;
use crate::edge::state::AppState;

/// Most bytes a preview response body holds (64 KiB), markup included.
pub const PREVIEW_LIMIT: usize = 64 * 1024;

/// Keys a browser page shows unless asked otherwise.
pub const DEFAULT_PAGE: usize = 100;

/// Values up to this size are parsed for the pretty JSON view; larger
/// ones are shown as text (parsing 64 MiB to show 64 KiB is not worth it).
const PRETTY_JSON_MAX_BYTES: usize = 1 << 20;

/// Query of the key browser.
#[derive(Debug, Deserialize)]
pub struct BrowseQuery {
    /// A glob (`SCAN MATCH` syntax).
    #[serde(rename = "match")]
    pub pattern: Option<String>,
    /// Keys per page (1 to 1000).
    pub limit: Option<usize>,
    /// Where the scan goes on.
    pub cursor: Option<u64>,
}

/// `GET /console/caches/{cache}/keys`.
pub(crate) async fn browse(
    state: web::Data<AppState>,
    viewer: Viewer,
    cache: web::Path<String>,
    query: web::Query<BrowseQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let cache = name_of(&cache)?;
    let pattern_text = query.pattern.clone().filter(|p| !p.is_empty());
    let pattern = match pattern_text.as_deref().map(KeyPattern::parse).transpose() {
        Ok(p) => p,
        Err(e) => {
            return Err(ConsoleError::new(
                StatusCode::BAD_REQUEST,
                "invalid_parameter",
                format!("match: {e}"),
            ));
        }
    };
    let limit = query.limit.unwrap_or(DEFAULT_PAGE).clamp(1, MAX_KEYS_PAGE);
    let cursor = query.cursor.unwrap_or(0);
    let page = state
        .service
        .list_keys(ListKeys {
            principal: viewer.principal.clone(),
            cache: cache.clone(),
            cursor,
            pattern,
            limit,
        })
        .await
        .map_err(ApiError::from)?;
    let base = format!("/console/caches/{}", cache.as_str());
    let filter = pattern_text.as_deref().unwrap_or("");
    let next = page.next.map(|n| {
        format!(
            "{base}/keys?match={}&limit={limit}&cursor={n}",
            urlencode(filter)
        )
    });
    let body = html! {
        (cache_nav(&viewer, &cache))
        form.filters method="get" action={ (base) "/keys" } {
            label for="match" { "Glob" }
            input #match type="text" name="match" value=(filter) placeholder="user:*";
            label for="limit" { "Per page" }
            select #limit name="limit" {
                @for n in [20, 100, 1000] {
                    option value=(n) selected[n == limit] { (n) }
                }
            }
            button type="submit" { "Scan" }
        }
        p.note #page-info { (page.keys.len()) " keys on this page" @if cursor != 0 { " (cursor " (cursor) ")" } "." }
        table.keys {
            thead { tr { th { "Key" } th { "Size" } th { "TTL" } th { "Tags" } } }
            tbody {
                @for k in &page.keys {
                    tr {
                        td { a.key href={ (base) "/entry?key=" (urlencode(&k.key)) } { (k.key) } }
                        td.num { (bytes(k.value_bytes)) }
                        td.num { (k.ttl.map_or_else(|| "∞".to_owned(), |t| format!("{} s", t.as_secs()))) }
                        td { (k.tags.join(", ")) }
                    }
                }
            }
        }
        @match next {
            Some(next) => { p { a #next-page href=(next) { "Next page →" } } }
            None => { p.note #scan-end { "End of the scan: every key present throughout was listed." } }
        }
    };
    Ok(layout::page(
        &viewer,
        &format!("Keys of {}", cache.as_str()),
        body,
    ))
}

/// Query naming one key.
#[derive(Debug, Deserialize)]
pub struct KeyQuery {
    /// The key.
    pub key: String,
    /// The preview's view: `text` (default), `json` or `hex`.
    pub view: Option<String>,
}

/// The entry `key` of `cache`, or a 404 page.
async fn read(
    state: &AppState,
    viewer: &Viewer,
    cache: &CacheName,
    key: &str,
) -> Result<(CacheKey, CacheEntry), ConsoleError> {
    let key = crate::edge::params::cache_key(key)?;
    let lookup = state
        .service
        .get(GetEntry {
            principal: viewer.principal.clone(),
            cache: cache.clone(),
            key: key.clone(),
        })
        .await
        .map_err(ApiError::from)?
        .ok_or_else(|| ApiError::entry_not_found(key.as_str()))?;
    Ok((key, lookup.entry))
}

/// `GET /console/caches/{cache}/entry?key=`.
pub(crate) async fn entry(
    state: web::Data<AppState>,
    viewer: Viewer,
    cache: web::Path<String>,
    query: web::Query<KeyQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let cache = name_of(&cache)?;
    let (key, entry) = read(&state, &viewer, &cache, &query.key).await?;
    let base = format!("/console/caches/{}/entry", cache.as_str());
    let k = urlencode(key.as_str());
    let now = state.clock.now();
    let body = html! {
        (cache_nav(&viewer, &cache))
        table.stats #entry-meta {
            tbody {
                tr { th { "Key" } td { (key.as_str()) } }
                tr { th { "Size" } td #entry-size { (entry.value().len()) " bytes (" (bytes(entry.value().len() as u64)) ")" } }
                tr { th { "Content type" } td { (entry.value().content_type().as_str()) } }
                tr { th { "TTL" } td { (entry.remaining_ttl(now).map_or_else(|| "none".to_owned(), |t| format!("{} s", t.as_secs()))) } }
                tr { th { "Tags" } td { (entry.tags().iter().map(|t| t.as_str()).collect::<Vec<_>>().join(", ")) } }
                tr { th { "ETag" } td #entry-etag { (crate::edge::headers::etag(&entry)) } }
            }
        }
        nav.sub {
            @for view in ["text", "json", "hex"] {
                a.view href={ (base) "/preview?key=" (k) "&view=" (view) }
                    hx-get={ (base) "/preview?key=" (k) "&view=" (view) } hx-target="#preview" hx-swap="outerHTML" { (view) }
            }
            a #download href={ (base) "/raw?key=" (k) } download { "Download" }
        }
        div #preview hx-get={ (base) "/preview?key=" (k) "&view=text" } hx-trigger="load" hx-swap="outerHTML" {
            p.note { "Loading the preview…" }
        }
        @if viewer.principal.may(Role::Writer, &cache) {
            form #delete-form method="post" action={ (base) "/delete" } {
                (csrf_field(&viewer))
                input type="hidden" name="key" value=(key.as_str());
                button.danger type="submit" { "Delete this key" }
            }
        }
    };
    Ok(layout::page(&viewer, "Entry", body))
}

/// Appends `text`, HTML-escaped, to `out` while `out` stays within
/// `budget` bytes; returns false when it stopped early.
fn push_escaped(out: &mut String, text: &str, budget: usize) -> bool {
    for c in text.chars() {
        let escaped: &str = match c {
            '<' => "&lt;",
            '>' => "&gt;",
            '&' => "&amp;",
            '"' => "&quot;",
            _ => "",
        };
        let len = if escaped.is_empty() {
            c.len_utf8()
        } else {
            escaped.len()
        };
        if out.len() + len > budget {
            return false;
        }
        if escaped.is_empty() {
            out.push(c);
        } else {
            out.push_str(escaped);
        }
    }
    true
}

/// A classic hex dump of `bytes`: offset, 16 bytes in hex, printable
/// ASCII; as many lines as fit in `budget`. Returns the dump and how many
/// bytes it shows.
fn hex_dump(bytes: &[u8], budget: usize) -> (String, usize) {
    use std::fmt::Write;
    let mut out = String::new();
    let mut shown = 0;
    for (i, chunk) in bytes.chunks(16).enumerate() {
        let mut line = format!("{:08x}  ", i * 16);
        for b in chunk {
            let _ = write!(line, "{b:02x} ");
        }
        for _ in chunk.len()..16 {
            line.push_str("   ");
        }
        line.push(' ');
        for &b in chunk {
            line.push(match b {
                b'<' | b'>' | b'&' | b'"' => '.',
                0x20..=0x7e => b as char,
                _ => '.',
            });
        }
        line.push('\n');
        if out.len() + line.len() > budget {
            break;
        }
        out.push_str(&line);
        shown += chunk.len();
    }
    (out, shown)
}

/// `GET /console/caches/{cache}/entry/preview?key=&view=`: at most
/// [`PREVIEW_LIMIT`] bytes of body.
pub(crate) async fn preview(
    state: web::Data<AppState>,
    viewer: Viewer,
    cache: web::Path<String>,
    query: web::Query<KeyQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let cache = name_of(&cache)?;
    let (_, entry) = read(&state, &viewer, &cache, &query.key).await?;
    let value = entry.value().bytes();
    let total = value.len();
    // Room for the wrapper and the note around the <pre>.
    let budget = PREVIEW_LIMIT - 512;
    let view = query.view.as_deref().unwrap_or("text");
    let mut note = None;
    let (content, shown) = match view {
        "hex" => hex_dump(value, budget),
        "json" if total <= PRETTY_JSON_MAX_BYTES => {
            match serde_json::from_slice::<serde_json::Value>(value) {
                Ok(json) => {
                    let pretty = serde_json::to_string_pretty(&json).unwrap_or_default();
                    let mut out = String::new();
                    let complete = push_escaped(&mut out, &pretty, budget);
                    (out, if complete { total } else { 0 })
                }
                Err(e) => {
                    note = Some(format!("Not JSON ({e}); shown as text."));
                    text_view(value, budget)
                }
            }
        }
        "json" => {
            note = Some(format!(
                "Larger than {} : shown as text.",
                bytes(PRETTY_JSON_MAX_BYTES as u64)
            ));
            text_view(value, budget)
        }
        _ => text_view(value, budget),
    };
    let truncated = shown < total;
    let markup: Markup = html! {
        div #preview data-view=(view) data-shown=(shown) data-total=(total) {
            @if let Some(note) = note { p.note { (note) } }
            @if truncated {
                p.note #preview-truncated { "Preview truncated: the value is " (total) " bytes (" (bytes(total as u64)) "); download it to see it all." }
            }
            pre.value { (maud::PreEscaped(content)) }
        }
    };
    Ok(layout::html_response(StatusCode::OK, markup))
}

/// The text view: the value as UTF-8 (invalid sequences replaced),
/// escaped, within `budget`. Returns it and the value bytes it shows.
fn text_view(value: &[u8], budget: usize) -> (String, usize) {
    // Escaping at most quintuples a byte: never decode more than needed.
    let head = &value[..value.len().min(budget)];
    let text = String::from_utf8_lossy(head);
    let mut out = String::new();
    let complete = push_escaped(&mut out, &text, budget);
    let shown = if complete && head.len() == value.len() {
        value.len()
    } else if complete {
        head.len()
    } else {
        // Approximate: bytes of text shown so far.
        out.len().min(head.len())
    };
    (out, shown)
}

/// `GET /console/caches/{cache}/entry/raw?key=`: the whole value as a
/// download (`application/octet-stream`, `attachment`): never rendered
/// by the browser.
pub(crate) async fn download(
    state: web::Data<AppState>,
    viewer: Viewer,
    cache: web::Path<String>,
    query: web::Query<KeyQuery>,
) -> Result<HttpResponse, ConsoleError> {
    let cache = name_of(&cache)?;
    let (key, entry) = read(&state, &viewer, &cache, &query.key).await?;
    let filename: String = key
        .as_str()
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .take(100)
        .collect();
    Ok(HttpResponse::Ok()
        .content_type("application/octet-stream")
        .insert_header((
            header::CONTENT_DISPOSITION,
            format!("attachment; filename=\"{filename}\""),
        ))
        .insert_header((header::ETAG, crate::edge::headers::etag(&entry)))
        .body(entry.value().bytes().clone()))
}

/// The delete form.
#[derive(Debug, Deserialize)]
pub struct DeleteForm {
    /// The session's CSRF token.
    #[serde(default)]
    pub csrf: Option<String>,
    /// The key to delete.
    pub key: String,
}

/// `POST /console/caches/{cache}/entry/delete` (writer).
pub(crate) async fn delete(
    state: web::Data<AppState>,
    req: HttpRequest,
    viewer: Viewer,
    cache: web::Path<String>,
    form: web::Form<DeleteForm>,
) -> Result<HttpResponse, ConsoleError> {
    viewer.check_csrf(form.csrf.as_deref())?;
    let cache = name_of(&cache)?;
    let key = crate::edge::params::cache_key(&form.key)?;
    let result = state
        .service
        .delete(DeleteEntry {
            principal: viewer.principal.clone(),
            cache: cache.clone(),
            key: key.clone(),
        })
        .await
        .map_err(ApiError::from);
    let removed = match result {
        Ok(removed) => removed,
        Err(e) => {
            crate::edge::audited::record_forbidden(&req, &e).await;
            return Err(e.into());
        }
    };
    let body = html! {
        (cache_nav(&viewer, &cache))
        p #result {
            @if removed { "Deleted " } @else { "Already gone: " }
            code { (key.as_str()) }
        }
        p { a href={ "/console/caches/" (cache.as_str()) "/keys" } { "Back to the keys" } }
    };
    Ok(layout::page(&viewer, "Key deleted", body))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_view_of_a_large_value_stays_within_the_budget() {
        let value = vec![b'<'; 10 << 20];
        let (out, shown) = text_view(&value, PREVIEW_LIMIT - 512);
        assert!(out.len() <= PREVIEW_LIMIT - 512);
        assert!(shown < value.len());
        let (out, shown) = text_view(b"short", 100);
        assert_eq!((out.as_str(), shown), ("short", 5));
    }

    #[test]
    fn the_hex_view_stays_within_the_budget_and_counts_what_it_shows() {
        let value = vec![0xab_u8; 10 << 20];
        let (out, shown) = hex_dump(&value, PREVIEW_LIMIT - 512);
        assert!(out.len() <= PREVIEW_LIMIT - 512);
        assert_eq!(shown % 16, 0);
        assert!(out.starts_with("00000000  ab ab"));
        let (out, shown) = hex_dump(b"<a>", 1000);
        assert_eq!(shown, 3);
        assert!(out.ends_with(".a.\n"), "{out}");
    }
}
