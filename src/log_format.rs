//! The log line formats (`[log] format`): tracing-subscriber's own
//! (`Full` for `pretty`, `Json` with the event's fields flattened for
//! `json`), plus the id of the HTTP request an event was logged for.
//!
//! Without OpenTelemetry the request middleware keeps the id in a
//! task-local ([`current_request_id`]) instead of a `request` span; these
//! formats write it where the span's field was:
//!
//! - `pretty`: `2026-12-02T19:00:00.123456Z  WARN request{request_id=…}:
//!   strata_infrastructure::redis: message k=v`, the line the span gave;
//! - `json`: a top-level `"request_id"` member, as the access event has.
//!
//! An event that names a `request_id` field itself (the access event, a
//! 5xx's error event) is written as is, so no line carries the id twice.
//! With OpenTelemetry on the task-local is never set and the span's
//! fields are written as tracing-subscriber writes them.

use std::fmt;

use strata_presentation::http::request::current_request_id;
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::fmt::format::{Format, Full, Json, Writer};
use tracing_subscriber::fmt::time::{FormatTime, SystemTime};
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields};
use tracing_subscriber::registry::LookupSpan;

/// `pretty`: tracing-subscriber's `Full` format, with
/// `request{request_id=…}: ` after the level of an event logged while a
/// request is handled.
pub(crate) struct Pretty {
    /// The whole line, for events outside a request.
    outside: Format<Full, SystemTime>,
    /// Spans, target and fields: what follows the request's prefix.
    inside: Format<Full, ()>,
}

impl Default for Pretty {
    fn default() -> Self {
        Self {
            outside: format(),
            inside: format().without_time().with_level(false),
        }
    }
}

fn format() -> Format<Full, SystemTime> {
    Format::default()
}

/// The request id to add to `event`'s line: the task's, unless the event
/// carries its own.
fn request_id_for(event: &Event<'_>) -> Option<strata_presentation::http::request::RequestIdText> {
    if event.metadata().fields().field("request_id").is_some() {
        return None;
    }
    current_request_id()
}

impl<S, N> FormatEvent<S, N> for Pretty
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let Some(id) = request_id_for(event) else {
            return self.outside.format_event(ctx, writer, event);
        };
        // What `Full` writes before the spans, with its ANSI styles
        // (dimmed time, coloured level, bold span) when the writer has them.
        let ansi = writer.has_ansi_escapes();
        let style = |writer: &mut Writer<'_>, code: &str| {
            if ansi { writer.write_str(code) } else { Ok(()) }
        };
        style(&mut writer, "\x1b[2m")?;
        if SystemTime.format_time(&mut writer).is_err() {
            writer.write_str("<unknown time>")?;
        }
        style(&mut writer, "\x1b[0m")?;
        let level = *event.metadata().level();
        let (colour, text) = match level {
            Level::TRACE => ("\x1b[35m", "TRACE"),
            Level::DEBUG => ("\x1b[34m", "DEBUG"),
            Level::INFO => ("\x1b[32m", " INFO"),
            Level::WARN => ("\x1b[33m", " WARN"),
            Level::ERROR => ("\x1b[31m", "ERROR"),
        };
        writer.write_char(' ')?;
        style(&mut writer, colour)?;
        writer.write_str(text)?;
        style(&mut writer, "\x1b[0m")?;
        writer.write_char(' ')?;
        style(&mut writer, "\x1b[1m")?;
        write!(writer, "request{{request_id={}}}", id.as_str())?;
        style(&mut writer, "\x1b[0m")?;
        writer.write_str(": ")?;
        self.inside.format_event(ctx, writer, event)
    }
}

/// `json`: tracing-subscriber's JSON format with the event's fields
/// flattened, and a leading `"request_id"` member for an event logged
/// while a request is handled.
pub(crate) struct JsonLines(Format<Json, SystemTime>);

impl Default for JsonLines {
    fn default() -> Self {
        Self(format().json().flatten_event(true))
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let Some(id) = request_id_for(event) else {
            return self.0.format_event(ctx, writer, event);
        };
        // The id is hex digits and dashes: nothing to escape.
        write!(writer, "{{\"request_id\":\"{}\",", id.as_str())?;
        // The object the JSON format writes, without its opening brace.
        let mut rest = AfterOpeningBrace {
            out: &mut writer,
            skipped: false,
        };
        self.0.format_event(ctx, Writer::new(&mut rest), event)
    }
}

/// A writer that drops the first `{` written to it.
struct AfterOpeningBrace<'a, 'w> {
    out: &'a mut Writer<'w>,
    skipped: bool,
}

impl fmt::Write for AfterOpeningBrace<'_, '_> {
    fn write_str(&mut self, s: &str) -> fmt::Result {
        if self.skipped {
            return self.out.write_str(s);
        }
        let s = s.trim_start();
        match s.strip_prefix('{') {
            Some(rest) => {
                self.skipped = true;
                self.out.write_str(rest)
            }
            None if s.is_empty() => Ok(()),
            // Not an object: cannot happen with the JSON format.
            None => Err(fmt::Error),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use strata_presentation::http::request::{RequestId, with_request_id};
    use tracing_subscriber::Layer as _;
    use tracing_subscriber::filter::LevelFilter;
    use tracing_subscriber::fmt::MakeWriter;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Lines(Arc<Mutex<Vec<u8>>>);

    impl io::Write for Lines {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().expect("lines lock").extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Lines {
        type Writer = Self;

        fn make_writer(&'a self) -> Self {
            self.clone()
        }
    }

    impl Lines {
        fn text(&self) -> String {
            String::from_utf8(self.0.lock().expect("lines lock").clone()).expect("UTF-8 log")
        }
    }

    /// Logs one event outside any request, one inside a request, and one
    /// inside it that names its own `request_id`; returns that request's id.
    fn log_three(subscriber: impl Subscriber + Send + Sync) -> String {
        let text = RequestId::next().text();
        tracing::subscriber::with_default(subscriber, || {
            tracing::warn!(key_count = 3, "outside");
            let rt = tokio::runtime::Builder::new_current_thread()
                .build()
                .expect("runtime");
            rt.block_on(with_request_id(text, async {
                tracing::warn!(key_count = 4, "inside");
                tracing::debug!(request_id = text.as_str(), "own id");
            }));
        });
        text.as_str().to_owned()
    }

    #[test]
    fn pretty_lines_of_a_request_carry_its_id_where_the_span_was() {
        let lines = Lines::default();
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(lines.clone())
            .event_format(Pretty::default())
            .with_filter(LevelFilter::DEBUG);
        let id = log_three(tracing_subscriber::registry().with(layer));
        let text = lines.text();
        let lines: Vec<&str> = text.lines().collect();
        assert_eq!(lines.len(), 3, "{text}");
        let target = "strata::log_format::tests";
        assert!(
            lines[0].ends_with(&format!(" WARN {target}: outside key_count=3")),
            "{text}"
        );
        assert!(!lines[0].contains("request"), "{text}");
        let inside = format!(" WARN request{{request_id={id}}}: {target}: inside key_count=4");
        assert!(lines[1].ends_with(&inside), "{text}");
        // Same timestamp shape as the line outside a request.
        assert_eq!(lines[1].find(" WARN"), lines[0].find(" WARN"), "{text}");
        assert_eq!(lines[2].matches("request_id").count(), 1, "{text}");
        assert!(
            lines[2].contains(&format!("DEBUG {target}: own id request_id=\"{id}\"")),
            "{text}"
        );
    }

    #[test]
    fn json_lines_of_a_request_carry_its_id_as_a_member() {
        let lines = Lines::default();
        let layer = tracing_subscriber::fmt::layer()
            .with_ansi(false)
            .with_writer(lines.clone())
            .fmt_fields(tracing_subscriber::fmt::format::JsonFields::new())
            .event_format(JsonLines::default())
            .with_filter(LevelFilter::DEBUG);
        let id = log_three(tracing_subscriber::registry().with(layer));
        let text = lines.text();
        let records: Vec<serde_json::Value> = text
            .lines()
            .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("{e}: {l}")))
            .collect();
        assert_eq!(records.len(), 3, "{text}");
        assert!(records[0].get("request_id").is_none(), "{text}");
        assert_eq!(records[0]["message"], "outside", "{text}");
        assert_eq!(records[1]["request_id"], id.as_str(), "{text}");
        assert_eq!(records[1]["message"], "inside", "{text}");
        assert_eq!(records[1]["key_count"], 4, "{text}");
        assert_eq!(records[1]["level"], "WARN", "{text}");
        assert!(records[1]["timestamp"].is_string(), "{text}");
        let own = text.lines().nth(2).unwrap_or_default();
        assert_eq!(own.matches("request_id").count(), 1, "{own}");
        assert_eq!(records[2]["request_id"], id.as_str(), "{text}");
    }
}
