//! `local-gateway`: for local runs only. Serves the billing API on 127.0.0.1 the way API Gateway does:
//! it routes HTTP requests to the same `billing-api` handler, in process, and turns a development token
//! `Authorization: Bearer dev:<account>` into the verified account claim. A development token is not a
//! JWT: the deployed JWT authorizer can never accept one.
//!
//! Configured like `billing-api` (`TABLE_NAME`, `CURRENCY`, `ACCOUNT_CLAIM`, `HOLIDAYS`, `AWS_*`), plus
//! `LOCAL_GATEWAY_PORT` (default 8787). One request at a time, `Connection: close`: a development tool.

use std::net::TcpListener;

use billing_api::config::Config;
use billing_api::{handler, http_api_event};
use billing_app::clock::SystemClock;
use billing_app::dashboard::Dashboard;
use billing_app::ingest::{IngestPolicy, UsageRecorder};
use billing_dynamodb::DynamoDbStore;

const MAX_BODY: usize = 64 * 1024;

fn development_account(req: &dev_http::Incoming) -> Option<String> {
    req.header("authorization")?
        .strip_prefix("Bearer dev:")
        .map(str::to_owned)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let config = Config::from_lookup(|k| std::env::var(k).ok()).expect("configuration");
    let port = std::env::var("LOCAL_GATEWAY_PORT").unwrap_or_else(|_| "8787".into());
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let store = DynamoDbStore::new(
        aws_sdk_dynamodb::Client::new(&aws),
        config.table.clone(),
        config.currency,
    );
    let recorder = UsageRecorder::new(store, SystemClock, IngestPolicy::default());
    let dashboard = Dashboard::new(
        recorder,
        SystemClock,
        config.currency,
        config.holidays.clone(),
    );
    let listener = TcpListener::bind(format!("127.0.0.1:{port}")).expect("bind 127.0.0.1");
    eprintln!("local-gateway: billing API on http://127.0.0.1:{port} (Authorization: Bearer dev:<account>)");
    for stream in listener.incoming() {
        let Ok(mut stream) = stream else { continue };
        let Ok(req) = dev_http::read_request(&stream, MAX_BODY) else {
            continue;
        };
        if req.method.is_empty() {
            continue; // a connection closed without a request (a readiness probe)
        }
        let account = development_account(&req);
        let body = (!req.body.is_empty()).then_some(req.body.as_str());
        let event = http_api_event(
            &req.method,
            &req.target,
            &req.headers,
            body,
            &config.account_claim,
            account.as_deref(),
        );
        let response = match lambda_http::request::from_str(&event.to_string()) {
            Ok(request) => handler::handle(&dashboard, &config.account_claim, request)
                .await
                .unwrap_or_else(|never| match never {}),
            Err(_) => continue,
        };
        let status = response.status();
        let content_type = response
            .headers()
            .get("content-type")
            .and_then(|v| v.to_str().ok())
            .unwrap_or("text/plain")
            .to_owned();
        let _ =
            dev_http::write_response(&mut stream, status.as_u16(), &content_type, response.body());
        eprintln!(
            "local-gateway: {} {} -> {}",
            req.method,
            req.target,
            status.as_u16()
        );
    }
}
