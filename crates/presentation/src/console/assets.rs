//! The console's static assets, compiled into the binary: htmx and uPlot
//! (vendored from npm; versions and SHA-256 sums in
//! `crates/presentation/assets/VENDORED.md`) and the console's own
//! stylesheet and script. Each is served with a strong `ETag` (a hash of
//! its bytes), `Cache-Control: public, max-age=31536000, immutable`, and
//! 304 to a matching `If-None-Match`.

use std::sync::OnceLock;

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use sha2::{Digest, Sha256};

/// One asset: its name under `/console/assets/`, media type and bytes.
struct Asset {
    name: &'static str,
    content_type: &'static str,
    bytes: &'static [u8],
}

/// Every asset.
const ASSETS: &[Asset] = &[
    Asset {
        name: "htmx.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/htmx.min.js"),
    },
    Asset {
        name: "uPlot.iife.min.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/uPlot.iife.min.js"),
    },
    Asset {
        name: "uPlot.min.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../assets/uPlot.min.css"),
    },
    Asset {
        name: "console.css",
        content_type: "text/css; charset=utf-8",
        bytes: include_bytes!("../../assets/console.css"),
    },
    Asset {
        name: "console.js",
        content_type: "text/javascript; charset=utf-8",
        bytes: include_bytes!("../../assets/console.js"),
    },
];

/// Total bytes of every asset, uncompressed (docs/benchmarks.md).
pub fn total_bytes() -> usize {
    ASSETS.iter().map(|a| a.bytes.len()).sum()
}

/// Each asset's `ETag`, computed once: `"<first 16 hex digits of its
/// SHA-256>"`.
fn etags() -> &'static [String] {
    static ETAGS: OnceLock<Vec<String>> = OnceLock::new();
    ETAGS.get_or_init(|| {
        ASSETS
            .iter()
            .map(|a| {
                let digest = Sha256::digest(a.bytes);
                let hex: String = digest[..8].iter().map(|b| format!("{b:02x}")).collect();
                format!("\"{hex}\"")
            })
            .collect()
    })
}

/// The URL of asset `name` with its version, for pages to link:
/// `/console/assets/<name>?v=<etag>` (a new build changes the URL, so
/// the long cache lifetime never serves an old copy).
pub(crate) fn url(name: &str) -> String {
    let version = ASSETS
        .iter()
        .position(|a| a.name == name)
        .map(|i| etags()[i].trim_matches('"').to_owned())
        .unwrap_or_default();
    format!("/console/assets/{name}?v={version}")
}

/// `GET /console/assets/{name}`: the asset, or 304, or 404.
pub(crate) async fn serve(req: HttpRequest, name: web::Path<String>) -> HttpResponse {
    let Some(index) = ASSETS.iter().position(|a| a.name == name.as_str()) else {
        return HttpResponse::NotFound().finish();
    };
    let asset = &ASSETS[index];
    let etag = &etags()[index];
    let fresh = req
        .headers()
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag || t.trim() == "*"));
    let mut response = if fresh {
        HttpResponse::NotModified()
    } else {
        HttpResponse::Ok()
    };
    response
        .insert_header((header::ETAG, etag.as_str()))
        .insert_header((header::CACHE_CONTROL, "public, max-age=31536000, immutable"));
    if fresh {
        return response.finish();
    }
    response.content_type(asset.content_type).body(asset.bytes)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_assets_stay_under_the_page_weight_budget() {
        // Issue 29: under 300 KB compressed; they are under it uncompressed.
        assert!(total_bytes() < 300_000, "{}", total_bytes());
    }

    #[test]
    fn every_asset_has_a_distinct_etag_and_a_versioned_url() {
        let tags = etags();
        assert_eq!(tags.len(), ASSETS.len());
        for (i, tag) in tags.iter().enumerate() {
            assert!(!tags[..i].contains(tag));
            assert!(url(ASSETS[i].name).ends_with(tag.trim_matches('"')));
        }
    }
}
