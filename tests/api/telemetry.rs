//! OpenTelemetry: the real binary exports the spans of one request to an
//! OTLP receiver run by the test (a tonic server implementing the
//! collector's `TraceService`), parented on the request's `traceparent`,
//! with the Redis call as a child span; the JSON logs carry the request id
//! and the trace id.

use std::sync::{Arc, Mutex};

use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;
use opentelemetry_proto::tonic::trace::v1::span::SpanKind;
use reqwest::StatusCode;
use serde_json::Value;
use strata_testkit::{RedisServer, require};

use crate::process;

const TRACE_ID: &str = "4bf92f3577b34da6a3ce929d0e0e4736";
const PARENT_ID: &str = "00f067aa0ba902b7";

#[derive(Clone, Default)]
struct Receiver {
    spans: Arc<Mutex<Vec<Span>>>,
}

#[tonic::async_trait]
impl TraceService for Receiver {
    async fn export(
        &self,
        request: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.spans.lock().expect("spans lock");
        for resource in request.into_inner().resource_spans {
            for scope in resource.scope_spans {
                spans.extend(scope.spans);
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

/// Serves the receiver on a free loopback port; returns its endpoint.
async fn start_receiver(receiver: Receiver) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("bind");
    let endpoint = format!("http://{}", listener.local_addr().expect("addr"));
    tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(receiver))
            .serve_with_incoming(tonic::transport::server::TcpIncoming::from(listener)),
    );
    endpoint
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn one_request_exports_a_server_span_with_a_redis_child() {
    let Some(redis) = require(RedisServer::spawn()) else {
        return;
    };
    let receiver = Receiver::default();
    let endpoint = start_receiver(receiver.clone()).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let config = dir.path().join("strata.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[log]
format = "json"
filter = "info,strata::access=debug"

[telemetry]
otlp_endpoint = "{endpoint}"

[backends.r]
kind = "redis"
url = "{}"

[caches.shared]
tiers = ["r"]
"#,
            redis.url()
        ),
    )
    .expect("config written");
    let service = process::start(&config, &[]).await;
    let response = reqwest::Client::new()
        .get(format!("{}/v1/caches/shared/entries/k1", service.base))
        .header("traceparent", format!("00-{TRACE_ID}-{PARENT_ID}-01"))
        .send()
        .await
        .expect("GET sent");
    assert_eq!(response.status(), StatusCode::NOT_FOUND);
    let request_id = response
        .headers()
        .get("x-request-id")
        .and_then(|v| v.to_str().ok())
        .expect("x-request-id")
        .to_owned();
    // Graceful shutdown flushes the exporter before the process exits.
    let logs = service.stop().await;

    let spans = receiver.spans.lock().expect("spans lock").clone();
    let hex = |b: &[u8]| b.iter().map(|x| format!("{x:02x}")).collect::<String>();
    let server = spans
        .iter()
        .find(|s| s.kind == SpanKind::Server as i32 && hex(&s.trace_id) == TRACE_ID)
        .unwrap_or_else(|| panic!("no server span in trace {TRACE_ID}: {spans:#?}"));
    assert_eq!(hex(&server.parent_span_id), PARENT_ID, "{server:#?}");
    let client = spans
        .iter()
        .find(|s| s.kind == SpanKind::Client as i32 && s.parent_span_id == server.span_id)
        .unwrap_or_else(|| panic!("no client span under the server span: {spans:#?}"));
    assert_eq!(hex(&client.trace_id), TRACE_ID);
    assert!(client.name.starts_with("redis"), "{client:#?}");

    // The access event of that request names both ids.
    let correlated = logs.lines().any(|line| {
        serde_json::from_str::<Value>(line).is_ok_and(|event| {
            let text = event.to_string();
            text.contains(&request_id) && text.contains(TRACE_ID)
        })
    });
    assert!(
        correlated,
        "no log line with {request_id} and {TRACE_ID}:\n{logs}"
    );
}
