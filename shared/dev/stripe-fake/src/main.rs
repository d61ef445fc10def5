//! `stripe-fake`: serves the fake Stripe API on 127.0.0.1 for local runs.
//!
//! `STRIPE_FAKE_HOST` (default 127.0.0.1; `scripts/sam-local` gives the container bridge's address),
//! `STRIPE_FAKE_PORT` (default 12111), and to deliver webhooks `STRIPE_WEBHOOK_URL` with
//! `STRIPE_WEBHOOK_SECRET`.

fn main() -> std::io::Result<()> {
    let port = std::env::var("STRIPE_FAKE_PORT")
        .ok()
        .and_then(|p| p.parse().ok())
        .unwrap_or(12111);
    let target = match (
        std::env::var("STRIPE_WEBHOOK_URL"),
        std::env::var("STRIPE_WEBHOOK_SECRET"),
    ) {
        (Ok(url), Ok(secret)) => Some(stripe_fake::WebhookTarget { url, secret }),
        _ => None,
    };
    let host = std::env::var("STRIPE_FAKE_HOST").unwrap_or_else(|_| "127.0.0.1".into());
    let fake = stripe_fake::FakeStripe::start_on(&host, port, target)?;
    eprintln!("stripe-fake listening on {}", fake.url());
    loop {
        std::thread::park();
    }
}
