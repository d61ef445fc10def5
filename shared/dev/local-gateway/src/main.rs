//! `local-gateway`: for local runs only. Serves the HTTP API on 127.0.0.1 the way API Gateway does:
//! it routes requests to the same `billing-api` and `stripe-webhook` handlers, in process, and turns a
//! development token `Authorization: Bearer dev:<account>` into the verified account claim. A
//! development token is not a JWT: the deployed JWT authorizer can never accept one.
//! `Authorization: Bearer dev-platform:<role>` stands for an IAM-signed request of a platform role
//! (the `/v1/platform/…` route). `POST
//! /stripe/webhook` has no authorizer, as deployed: the Stripe signature is checked.
//!
//! Configured like the two functions, through their own `Config`s (`TABLE_NAME`, `CURRENCY`,
//! `ACCOUNT_CLAIM`, `HOLIDAYS`, `BILLING_PAGE_URL`, `ALERT_SENDER`, `STRIPE_API_KEY`,
//! `STRIPE_API_BASE`, `STRIPE_WEBHOOK_SECRET`, `AWS_*`), plus `LOCAL_GATEWAY_PORT` (default 8787). One request at a time, `Connection: close`: a
//! development tool.
//!
//! `GET /billing` serves the billing page (`shared/billing-page`) as the platform's dashboard would
//! embed it, with its development host (`dev-host.js`: this origin's API and the token
//! `dev:acct-demo`, or `dev:<account>` with `?account=`). The files are read at each request, so an
//! edit shows on reload.

use std::net::TcpListener;

use billing_api::{http_api_event, platform_api_event};
use billing_app::clock::SystemClock;

const MAX_BODY: usize = 64 * 1024;

/// The billing page's files: `/billing/` is its `index.html`, `/billing/<name>` one of its files
/// (a plain name: no path is followed out of the folder).
fn billing_page(target: &str) -> Option<(&'static str, Vec<u8>)> {
    let path = target.split('?').next().unwrap_or_default();
    let name = match path.strip_prefix("/billing/")? {
        "" => "index.html",
        name => name,
    };
    let plain = name
        .chars()
        .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '.')
        && !name.starts_with('.');
    if !plain {
        return None;
    }
    let content_type = match name.rsplit_once('.')?.1 {
        "html" => "text/html; charset=utf-8",
        "js" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        _ => return None,
    };
    let dir = std::env::var("BILLING_PAGE_DIR")
        .unwrap_or_else(|_| concat!(env!("CARGO_MANIFEST_DIR"), "/../../billing-page").into());
    let body = std::fs::read(std::path::Path::new(&dir).join(name)).ok()?;
    Some((content_type, body))
}

fn development_account(req: &dev_http::Incoming) -> Option<String> {
    req.header("authorization")?
        .strip_prefix("Bearer dev:")
        .map(str::to_owned)
}

/// `Authorization: Bearer dev-platform:<role>` stands for an IAM-signed request of the platform's
/// role `<role>` (the deployed IAM authorizer accepts only real SigV4 signatures).
fn development_platform_caller(req: &dev_http::Incoming) -> Option<String> {
    let role = req
        .header("authorization")?
        .strip_prefix("Bearer dev-platform:")?;
    Some(format!(
        "arn:aws:sts::000000000000:assumed-role/{role}/local"
    ))
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let env = |k: &str| std::env::var(k).ok();
    let port = env("LOCAL_GATEWAY_PORT").unwrap_or_else(|| "8787".into());
    let api_config = billing_api::config::Config::from_env().expect("configuration");
    let webhook_config = stripe_webhook::config::Config::from_env().expect("configuration");
    let sdk = billing_aws::sdk_config(env).await;
    // The functions' own wiring, so the local stack is the deployed object graph.
    let api = billing_api::app::build(&api_config, &sdk, SystemClock)
        .await
        .expect("the billing API");
    let webhooks = stripe_webhook::app::build(&webhook_config, &sdk, SystemClock)
        .await
        .expect("the webhook endpoint");
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
        if req.method == "GET" {
            if let Some(query) = req
                .target
                .strip_prefix("/billing")
                .filter(|r| r.is_empty() || r.starts_with('?'))
            {
                // The page's files are relative to its folder: `/billing` is `/billing/`.
                let moved = format!("HTTP/1.1 308 Permanent Redirect\r\nLocation: /billing/{query}\r\nContent-Length: 0\r\nConnection: close\r\n\r\n");
                let _ = std::io::Write::write_all(&mut stream, moved.as_bytes());
                continue;
            }
            if let Some((content_type, body)) = billing_page(&req.target) {
                let _ = dev_http::write_response(&mut stream, 200, content_type, &body);
                continue;
            }
        }
        let account = development_account(&req);
        let body = (!req.body.is_empty()).then_some(req.body.as_str());
        let event = match development_platform_caller(&req) {
            Some(caller) => platform_api_event(&req.method, &req.target, &caller),
            None => http_api_event(
                &req.method,
                &req.target,
                &req.headers,
                body,
                &api.claim,
                account.as_deref(),
            ),
        };
        let Ok(request) = lambda_http::request::from_str(&event.to_string()) else {
            continue;
        };
        let response = if req.target == "/stripe/webhook" {
            match stripe_webhook::handler::handle(&webhooks, request).await {
                Ok(response) => response,
                Err(e) => {
                    eprintln!("local-gateway: webhook failed: {e}");
                    continue;
                }
            }
        } else {
            billing_api::http::handle(&api, request)
                .await
                .unwrap_or_else(|never| match never {})
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
