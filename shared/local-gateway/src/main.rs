//! `local-gateway`: for local runs only. Serves the billing API on 127.0.0.1 the way API Gateway does:
//! it routes HTTP requests to the same `billing-api` handler, in process, and turns a development token
//! `Authorization: Bearer dev:<account>` into the verified account claim. A development token is not a
//! JWT: the deployed JWT authorizer can never accept one.
//!
//! Configured like `billing-api` (`TABLE_NAME`, `CURRENCY`, `ACCOUNT_CLAIM`, `HOLIDAYS`, `AWS_*`), plus
//! `LOCAL_GATEWAY_PORT` (default 8787). One request at a time, `Connection: close`: a development tool.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};

use billing_api::config::Config;
use billing_api::{handler, http_api_event};
use billing_app::clock::SystemClock;
use billing_app::dashboard::Dashboard;
use billing_app::ingest::{IngestPolicy, UsageRecorder};
use billing_dynamodb::DynamoDbStore;

const MAX_BODY: usize = 64 * 1024;

struct Incoming {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: String,
}

fn read_request(stream: &TcpStream) -> std::io::Result<Incoming> {
    let mut reader = BufReader::new(stream);
    let mut line = String::new();
    reader.read_line(&mut line)?;
    let mut parts = line.split_whitespace();
    let (method, target) = (
        parts.next().unwrap_or_default().to_owned(),
        parts.next().unwrap_or("/").to_owned(),
    );
    let mut headers = Vec::new();
    loop {
        let mut header = String::new();
        if reader.read_line(&mut header)? == 0 || header.trim().is_empty() {
            break;
        }
        if let Some((k, v)) = header.split_once(':') {
            headers.push((k.trim().to_ascii_lowercase(), v.trim().to_owned()));
        }
    }
    let length = headers
        .iter()
        .find(|(k, _)| k == "content-length")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(0)
        .min(MAX_BODY);
    let mut body = vec![0; length];
    reader.read_exact(&mut body)?;
    Ok(Incoming {
        method,
        target,
        headers,
        body: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn development_account(headers: &[(String, String)]) -> Option<String> {
    let auth = headers.iter().find(|(k, _)| k == "authorization")?;
    auth.1.strip_prefix("Bearer dev:").map(str::to_owned)
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
        let Ok(req) = read_request(&stream) else {
            continue;
        };
        if req.method.is_empty() {
            continue; // a connection closed without a request (a readiness probe)
        }
        let account = development_account(&req.headers);
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
        let body = response.body().to_vec();
        let head = format!(
            "HTTP/1.1 {} {}\r\nContent-Type: {content_type}\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
            status.as_u16(),
            status.canonical_reason().unwrap_or(""),
            body.len()
        );
        let _ = stream
            .write_all(head.as_bytes())
            .and_then(|()| stream.write_all(&body));
        eprintln!(
            "local-gateway: {} {} -> {}",
            req.method,
            req.target,
            status.as_u16()
        );
    }
}
