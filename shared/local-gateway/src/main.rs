//! `local-gateway`: for local runs only. Serves the HTTP API on 127.0.0.1 the way API Gateway does:
//! it routes requests to the same `billing-api` and `stripe-webhook` handlers, in process, and turns a
//! development token `Authorization: Bearer dev:<account>` into the verified account claim. A
//! development token is not a JWT: the deployed JWT authorizer can never accept one. `POST
//! /stripe/webhook` has no authorizer, as deployed: the Stripe signature is checked.
//!
//! Configured like the two functions (`TABLE_NAME`, `CURRENCY`, `ACCOUNT_CLAIM`, `HOLIDAYS`,
//! `BILLING_PAGE_URL`, `ALERT_SENDER`, `STRIPE_API_KEY`, `STRIPE_API_BASE`, `STRIPE_WEBHOOK_SECRET`,
//! `AWS_*`), plus `LOCAL_GATEWAY_PORT` (default 8787). One request at a time, `Connection: close`: a
//! development tool.

use std::net::TcpListener;

use billing_api::config::Config;
use billing_api::http::{self, BillingApi};
use billing_api::http_api_event;
use billing_app::clock::SystemClock;
use billing_app::config::required;
use billing_app::dashboard::Dashboard;
use billing_app::ingest::{IngestPolicy, UsageRecorder};
use billing_app::payment_methods::PaymentMethods;
use billing_app::webhooks::WebhookProcessor;
use billing_dynamodb::DynamoDbStore;
use billing_notify::SesMailer;
use billing_stripe::{StripePayments, StripeSettings};
use stripe_webhook::handler::Endpoint;

const MAX_BODY: usize = 64 * 1024;

fn development_account(req: &dev_http::Incoming) -> Option<String> {
    req.header("authorization")?
        .strip_prefix("Bearer dev:")
        .map(str::to_owned)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let env = |k: &str| std::env::var(k).ok();
    let config = Config::from_lookup(env).expect("configuration");
    let port = env("LOCAL_GATEWAY_PORT").unwrap_or_else(|| "8787".into());
    let aws = aws_config::load_defaults(aws_config::BehaviorVersion::latest()).await;
    let settings = StripeSettings::from_env(env, || None)
        .await
        .expect("Stripe settings");
    let payments = || StripePayments::new(&settings).expect("Stripe client");
    let secret = required(&env, "STRIPE_WEBHOOK_SECRET").expect("configuration");
    let store = DynamoDbStore::new(
        aws_sdk_dynamodb::Client::new(&aws),
        config.table.clone(),
        config.currency,
    );
    let webhooks = Endpoint {
        processor: WebhookProcessor::new(
            store.clone(),
            payments(),
            SesMailer::new(
                aws_sdk_sesv2::Client::new(&aws),
                required(&env, "ALERT_SENDER").expect("configuration"),
            ),
            config.billing_page.clone(),
        )
        .with_livemode(settings.api_key.starts_with("sk_live_")),
        secret,
        clock: SystemClock,
    };
    let api = BillingApi {
        methods: PaymentMethods::new(
            store.clone(),
            payments(),
            config.currency,
            config.billing_page.clone(),
        ),
        dashboard: Dashboard::new(
            UsageRecorder::new(store, SystemClock, IngestPolicy::default()),
            SystemClock,
            config.currency,
            config.holidays.clone(),
        ),
        claim: config.account_claim.clone(),
    };
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
            http::handle(&api, request)
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
