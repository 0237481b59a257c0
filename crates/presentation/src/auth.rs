//! The acting principal of a request.
//!
//! Authentication is not configured yet, so every request acts as
//! [`Principal::Anonymous`]. Handlers take the [`Acting`] extractor, so
//! adding authentication changes this file only.

use std::future::{Ready, ready};

use actix_web::dev::Payload;
use actix_web::{FromRequest, HttpRequest};
use strata_domain::Principal;

use crate::error::ApiError;

/// Extractor: who is making the request.
#[derive(Clone, Debug)]
pub struct Acting(pub Principal);

impl FromRequest for Acting {
    type Error = ApiError;
    type Future = Ready<Result<Self, ApiError>>;

    fn from_request(_req: &HttpRequest, _payload: &mut Payload) -> Self::Future {
        ready(Ok(Acting(Principal::Anonymous)))
    }
}
