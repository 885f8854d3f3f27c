//! Tracing set-up, once per process: human-readable by default, JSON lines
//! when `LOG_FORMAT=json`. `RUST_LOG` filters as usual (default `info`).
//!
//! Every line written while a request is handled carries its `request_id`
//! (see [`crate::request_id`]): in the human-readable format as the
//! `request{request_id=…}` span prefix, in JSON as a top-level
//! `"request_id"` field (besides the usual `span`/`spans`), so a log query
//! finds a request's lines by one field whatever span was current.

use std::fmt;

use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id};
use tracing::{Event, Subscriber};
use tracing_subscriber::EnvFilter;
use tracing_subscriber::fmt::format::{self, FormatEvent, FormatFields, JsonFields, Writer};
use tracing_subscriber::fmt::{FmtContext, MakeWriter};
use tracing_subscriber::layer::{Context, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;
use tracing_subscriber::util::SubscriberInitExt;

use crate::config::LogFormat;
use crate::request_id::REQUEST_SPAN;

pub fn init(format: LogFormat) {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info"));
    // A second init (tests start many apps per process) is not an error.
    let _ = subscriber(format, filter, std::io::stdout).try_init();
}

/// The subscriber [`init`] installs, writing to `writer` (tests capture
/// lines with it).
pub fn subscriber<W>(
    format: LogFormat,
    filter: EnvFilter,
    writer: W,
) -> Box<dyn Subscriber + Send + Sync>
where
    W: for<'w> MakeWriter<'w> + Send + Sync + 'static,
{
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(writer);
    match format {
        LogFormat::Json => Box::new(
            builder
                .fmt_fields(JsonFields::new())
                .event_format(RequestIdOnTop(
                    format::Format::default().json().flatten_event(true),
                ))
                .finish()
                .with(RememberRequestIds),
        ),
        LogFormat::Pretty => Box::new(builder.finish()),
    }
}

/// The id of a request span, kept in the span's extensions by
/// [`RememberRequestIds`] for [`RequestIdOnTop`] to find.
struct SpanRequestId(String);

/// Keeps the `request_id` of each request span where the JSON formatter
/// can read it back without parsing the span's formatted fields.
struct RememberRequestIds;

impl<S> Layer<S> for RememberRequestIds
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: Context<'_, S>) {
        let metadata = attrs.metadata();
        if metadata.name() != REQUEST_SPAN || metadata.target() != "shared::request_id" {
            return;
        }
        let mut visitor = RequestIdVisitor(None);
        attrs.record(&mut visitor);
        if let (Some(request_id), Some(span)) = (visitor.0, ctx.span(id)) {
            span.extensions_mut().insert(SpanRequestId(request_id));
        }
    }
}

struct RequestIdVisitor(Option<String>);

impl Visit for RequestIdVisitor {
    fn record_str(&mut self, field: &Field, value: &str) {
        if field.name() == "request_id" {
            self.0 = Some(value.to_owned());
        }
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        if field.name() == "request_id" {
            self.0 = Some(format!("{value:?}"));
        }
    }
}

/// The JSON format with the enclosing request's id as the line's first
/// field.
struct RequestIdOnTop<F>(F);

impl<S, N, F> FormatEvent<S, N> for RequestIdOnTop<F>
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
    F: FormatEvent<S, N>,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let request_id = ctx.event_scope().and_then(|scope| {
            scope.from_root().find_map(|span| {
                span.extensions()
                    .get::<SpanRequestId>()
                    .map(|id| id.0.clone())
            })
        });
        let Some(request_id) = request_id else {
            return self.0.format_event(ctx, writer, event);
        };
        let mut line = String::new();
        self.0.format_event(ctx, Writer::new(&mut line), event)?;
        let Some(rest) = line.strip_prefix('{') else {
            return writer.write_str(&line);
        };
        let request_id = serde_json::to_string(&request_id).map_err(|_| fmt::Error)?;
        let separator = if rest.starts_with('}') { "" } else { "," };
        write!(writer, "{{\"request_id\":{request_id}{separator}{rest}")
    }
}

#[cfg(test)]
mod tests {
    use std::io;
    use std::sync::{Arc, Mutex};

    use actix_web::http::StatusCode;
    use actix_web::middleware::from_fn;
    use actix_web::{App, HttpResponse, test, web};
    use serde_json::Value;

    use super::*;
    use crate::problem::Problem;
    use crate::request_id::{REQUEST_ID_HEADER, assign};

    /// Log lines written in memory.
    #[derive(Clone, Default)]
    struct Captured(Arc<Mutex<Vec<u8>>>);

    impl Captured {
        fn lines(&self) -> Vec<Value> {
            String::from_utf8(self.0.lock().unwrap().clone())
                .unwrap()
                .lines()
                .map(|line| serde_json::from_str(line).expect("a JSON line"))
                .collect()
        }
    }

    impl io::Write for Captured {
        fn write(&mut self, buf: &[u8]) -> io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(buf);
            Ok(buf.len())
        }

        fn flush(&mut self) -> io::Result<()> {
            Ok(())
        }
    }

    impl<'a> MakeWriter<'a> for Captured {
        type Writer = Captured;

        fn make_writer(&'a self) -> Self::Writer {
            self.clone()
        }
    }

    #[tracing::instrument(skip_all, fields(queue.id = "q1"))]
    async fn refuse() -> Result<HttpResponse, Problem> {
        tracing::info!("refusing");
        inner().await;
        Err(Problem::new(
            StatusCode::CONFLICT,
            "SEAT_UNAVAILABLE",
            "taken",
        ))
    }

    #[tracing::instrument(skip_all)]
    async fn inner() {
        tracing::warn!(seat = 7, "deep inside");
    }

    #[actix_web::test]
    async fn json_lines_inside_a_request_carry_its_id_on_top() {
        let captured = Captured::default();
        let _guard = tracing::subscriber::set_default(subscriber(
            LogFormat::Json,
            // The request span is enabled whatever the filter (it is at
            // ERROR), so a warning keeps its id even when the handler's own
            // spans are filtered out.
            EnvFilter::new("warn,shared::telemetry=info"),
            captured.clone(),
        ));
        let app = test::init_service(
            App::new()
                .wrap(from_fn(assign))
                .route("/refuse", web::get().to(refuse)),
        )
        .await;

        tracing::info!("outside any request");
        let response = test::call_service(
            &app,
            test::TestRequest::get()
                .uri("/refuse")
                .insert_header((REQUEST_ID_HEADER, "gw-1234"))
                .to_request(),
        )
        .await;
        assert_eq!(response.status(), StatusCode::CONFLICT);
        assert_eq!(
            response.headers().get(REQUEST_ID_HEADER).unwrap(),
            "gw-1234"
        );
        let body: Value = test::read_body_json(response).await;
        assert_eq!(body["request_id"], "gw-1234", "{body}");

        let lines = captured.lines();
        let outside = lines
            .iter()
            .find(|line| line["message"] == "outside any request")
            .expect("the line outside");
        assert!(outside.get("request_id").is_none(), "{outside}");
        for message in ["refusing", "deep inside"] {
            let line = lines
                .iter()
                .find(|line| line["message"] == message)
                .unwrap_or_else(|| panic!("no {message:?} line in {lines:?}"));
            assert_eq!(line["request_id"], "gw-1234", "{line}");
        }
        let deep = lines
            .iter()
            .find(|line| line["message"] == "deep inside")
            .unwrap();
        assert_eq!(deep["seat"], 7, "{deep}");
        assert_eq!(deep["level"], "WARN", "{deep}");
    }

    #[actix_web::test]
    async fn pretty_lines_inside_a_request_name_its_id() {
        let captured = Captured::default();
        let _guard = tracing::subscriber::set_default(subscriber(
            LogFormat::Pretty,
            EnvFilter::new("info"),
            captured.clone(),
        ));
        let app = test::init_service(
            App::new()
                .wrap(from_fn(assign))
                .route("/refuse", web::get().to(refuse)),
        )
        .await;
        let response =
            test::call_service(&app, test::TestRequest::get().uri("/refuse").to_request()).await;
        let id = response
            .headers()
            .get(REQUEST_ID_HEADER)
            .unwrap()
            .to_str()
            .unwrap()
            .to_owned();
        let text = String::from_utf8(captured.0.lock().unwrap().clone()).unwrap();
        let line = text
            .lines()
            .find(|line| line.contains("deep inside"))
            .expect("the line");
        // Field names may come wrapped in colour codes.
        assert!(line.contains("request_id") && line.contains(&id), "{line}");
    }
}
