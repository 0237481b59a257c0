//! Body negotiation for the batch and invalidation endpoints: JSON by
//! default, MessagePack (`application/msgpack`) when the client sends it
//! (`Content-Type`) or asks for it (`Accept`).

use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse};
use bytes::Bytes;
use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::edge::error::ApiError;

/// `application/msgpack`.
pub const MSGPACK: &str = "application/msgpack";
/// `application/json`.
pub const JSON: &str = "application/json";

fn media_type(req: &HttpRequest, name: header::HeaderName) -> Option<String> {
    req.headers()
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(|v| v.to_ascii_lowercase())
}

/// The essence of the request's `Content-Type` (RFC 9110 section 8.3.1:
/// type and subtype, lower case, without parameters); `None` when absent.
pub(crate) fn content_type_essence(req: &HttpRequest) -> Option<String> {
    media_type(req, header::CONTENT_TYPE)
        .map(|c| c.split(';').next().unwrap_or("").trim().to_owned())
}

/// Decodes a request body as JSON or MessagePack by its `Content-Type`
/// (JSON when absent).
///
/// Every body is a JSON object: one that is not (an array, say, which
/// serde would otherwise read as a struct's fields in order) is refused.
/// MessagePack keeps serde's reading, as `rmp_serde` writes structs as
/// arrays by default.
///
/// # Errors
/// 415 for other media types, 400 when the body does not decode or a JSON
/// body is not an object.
pub fn decode<T: DeserializeOwned>(req: &HttpRequest, body: &Bytes) -> Result<T, ApiError> {
    let essence = content_type_essence(req);
    match essence.as_deref() {
        None | Some(JSON) => {
            // JSON whitespace is space, tab, LF and CR (RFC 8259 section 2).
            let first = body
                .iter()
                .find(|b| !matches!(b, b' ' | b'\t' | b'\n' | b'\r'));
            if first.is_some_and(|b| *b != b'{') {
                return Err(ApiError::invalid_body("the body must be a JSON object"));
            }
            serde_json::from_slice(body)
                .map_err(|e| ApiError::invalid_body(format!("invalid JSON: {e}")))
        }
        Some(MSGPACK) | Some("application/x-msgpack") | Some("application/vnd.msgpack") => {
            rmp_serde::from_slice(body)
                .map_err(|e| ApiError::invalid_body(format!("invalid MessagePack: {e}")))
        }
        Some(other) => Err(ApiError::unsupported_media_type(format!(
            "{other} is not accepted; send {JSON} or {MSGPACK}"
        ))),
    }
}

/// Encodes a response as MessagePack when the client sent or accepts
/// MessagePack, else as JSON.
pub fn encode<T: Serialize>(
    req: &HttpRequest,
    status: actix_web::http::StatusCode,
    value: &T,
) -> HttpResponse {
    let wants_msgpack = [header::ACCEPT, header::CONTENT_TYPE]
        .into_iter()
        .filter_map(|h| media_type(req, h))
        .any(|v| v.contains("msgpack"));
    let mut response = HttpResponse::build(status);
    if wants_msgpack {
        match rmp_serde::to_vec_named(value) {
            Ok(body) => response.content_type(MSGPACK).body(body),
            Err(e) => HttpResponse::from_error(ApiError::internal(e)),
        }
    } else {
        match serde_json::to_vec(value) {
            Ok(body) => response.content_type(JSON).body(body),
            Err(e) => HttpResponse::from_error(ApiError::internal(e)),
        }
    }
}
