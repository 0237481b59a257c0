//! `GET /console/alerts`: a placeholder. Alerts (firing and history,
//! silences) come from issue 28's alert engine, which is being built
//! beside this console; this screen is where its list and silence forms
//! will be wired.

use actix_web::HttpResponse;
use maud::html;

use super::layout::{self, ConsoleError};
use super::session::Viewer;

/// `GET /console/alerts`.
pub(crate) async fn page(viewer: Viewer) -> Result<HttpResponse, ConsoleError> {
    let body = html! {
        p.note #alerts-placeholder {
            "Alerts are not available in the console yet: firing alerts, their history and silences will appear here once the alerts API ("
            code { "/admin/v1/alerts" } ") is in place."
        }
    };
    Ok(layout::page(&viewer, "Alerts", body))
}
