//! A stateful stand-in for the part of the Stripe API billing uses, for tests and local runs. It is
//! never deployed.
//!
//! - Objects carry every field async-stripe requires for API version [`API_VERSION`].
//! - Idempotency keys behave like Stripe's: the same key with the same request replays the first
//!   response (errors included); with other parameters it is an `idempotency_error`.
//! - Webhooks are signed exactly like Stripe (`Stripe-Signature: t=…,v1=HMAC-SHA256(t.body)`) and
//!   delivered in the background to a configured URL, retried until accepted.
//! - Test payment methods: `pm_card_visa` and `pm_card_mastercard` succeed, `pm_card_chargeDeclined` is declined,
//!   `pm_card_authenticationRequired` needs the card holder to authenticate.
//! - A ledger of charge attempts (`/_fake/charges`) says what was charged and how many times.
//! - Invoices embed at most 10 lines, as Stripe does (`lines.has_more`; no `total_count`, which
//!   Stripe's API spec does not promise); the rest are read from `GET /v1/invoices/{id}/lines`. `GET /v1/invoices` lists invoices newest
//!   first (`customer`, `status`, `limit` 1–100, default 10, `starting_after`).
//! - Like Stripe, it refuses (400 `invalid_request_error`) to add lines to an invoice that is not a
//!   draft, to finalize one that is not a draft, and to pay or void one that is not open.
//!
//! Extra routes drive what a user would do on Stripe's pages: `POST /_fake/checkout/{id}/complete`
//! (`card=`), `POST /_fake/customers/{id}/card` (`card=`, saves it as the default); a browser can
//! use the hosted pages themselves (`pages.rs`: the Checkout page completes with the card chosen and
//! returns to `success_url`; the portal page links back to `return_url`). And
//! `POST /_fake/forget_idempotency_keys` (or [`FakeStripe::forget_idempotency_keys`]) forgets every
//! idempotency key, as Stripe does 24 hours after a key's first use: a request repeated after that
//! acts again.
//!
//! Layout: `state.rs` holds the state and Stripe's error replies; `customers.rs` customers, Checkout,
//! the portal and the test cards; `invoices.rs` invoices and the charge ledger; `webhooks.rs` the
//! signing and delivery of events; `http.rs` the requests.

mod customers;
mod http;
mod invoices;
mod pages;
mod state;
mod webhooks;

use std::net::TcpListener;
use std::sync::{Arc, Condvar, Mutex};

use serde_json::{json, Value};

use invoices::shown;
use state::{error, lock, missing, Outbox, Reply, Shared, State};

pub use http::Request;
pub use webhooks::{sign, WebhookTarget};

/// The API version the objects are shaped for (async-stripe `1.0.0-rc.10`).
pub const API_VERSION: &str = "2026-09-30.endive";

/// A charge attempt, as the ledger records it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Charge {
    /// The invoice charged.
    pub invoice: String,
    /// The customer.
    pub customer: String,
    /// Amount in minor units.
    pub amount: i64,
    /// Currency (lowercase).
    pub currency: String,
    /// `succeeded`, `declined` or `requires_action`.
    pub outcome: String,
    /// The invoice's metadata `account`.
    pub account: String,
    /// The invoice's metadata `month`.
    pub month: String,
}

/// A running fake.
#[derive(Debug, Clone)]
pub struct FakeStripe {
    shared: Arc<Shared>,
}

impl FakeStripe {
    /// Starts serving on 127.0.0.1 (`port` 0: any free one).
    pub fn start(port: u16, target: Option<WebhookTarget>) -> std::io::Result<Self> {
        Self::start_on("127.0.0.1", port, target)
    }

    /// Starts serving on the address `host` (`sam local`: the container bridge's, which the
    /// functions' containers reach and the rest of the network does not).
    pub fn start_on(host: &str, port: u16, target: Option<WebhookTarget>) -> std::io::Result<Self> {
        let listener = TcpListener::bind((host, port))?;
        let base_url = format!("http://{}", listener.local_addr()?);
        let fake = Self {
            shared: Arc::new(Shared {
                state: Mutex::new(State::default()),
                outbox: Mutex::new(Outbox::default()),
                wake: Condvar::new(),
                base_url,
                target: Mutex::new(target),
            }),
        };
        let server = fake.clone();
        std::thread::spawn(move || {
            for stream in listener.incoming().flatten() {
                let server = server.clone();
                std::thread::spawn(move || http::serve(stream, |req| server.answer(req)));
            }
        });
        let sender = fake.clone();
        std::thread::spawn(move || sender.deliver_forever());
        Ok(fake)
    }

    /// The base URL to give the Stripe client.
    pub fn url(&self) -> &str {
        &self.shared.base_url
    }

    /// Sets (or clears) where webhooks go.
    pub fn set_webhook_target(&self, target: Option<WebhookTarget>) {
        *lock(&self.shared.target) = target;
    }

    /// Every charge attempt so far.
    pub fn charges(&self) -> Vec<Charge> {
        lock(&self.shared.state).charges.clone()
    }

    /// Every API request so far (`METHOD /path`), fake-only routes excluded.
    pub fn requests(&self) -> Vec<String> {
        lock(&self.shared.state).requests.clone()
    }

    /// Every event created so far, oldest first.
    pub fn events(&self) -> Vec<Value> {
        lock(&self.shared.state).events.clone()
    }

    /// Forgets every idempotency key, as Stripe does 24 hours after a key's first use: a request
    /// repeated with a forgotten key acts again.
    pub fn forget_idempotency_keys(&self) {
        lock(&self.shared.state).idempotency.clear();
    }

    /// Every invoice, in creation order (ids carry a zero-padded sequence number), with all its
    /// lines (the API embeds at most 10).
    pub fn invoices(&self) -> Vec<Value> {
        lock(&self.shared.state)
            .invoices
            .values()
            .cloned()
            .collect()
    }

    fn answer(&self, req: &Request) -> http::Answer {
        match self.hosted_page(req) {
            Some((status, html)) => http::Answer::Html(status, html),
            None => {
                let (status, body) = self.handle(req);
                http::Answer::Json(status, body)
            }
        }
    }

    fn handle(&self, req: &Request) -> Reply {
        let path = req.path.trim_end_matches('/');
        if let Some(rest) = path.strip_prefix("/_fake/") {
            return self.fake_route(&req.method, rest, req);
        }
        let Some(rest) = path.strip_prefix("/v1/") else {
            return missing("route", path);
        };
        let mut state = lock(&self.shared.state);
        state.requests.push(format!("{} /v1/{rest}", req.method));
        let key = req.header("idempotency-key").map(str::to_owned);
        // Stripe compares parameters, not bytes: their order does not matter.
        let fingerprint = format!("{} {rest} {:?}", req.method, req.sorted_params());
        if let Some(k) = &key {
            if let Some((seen, status, body)) = state.idempotency.get(k) {
                return if *seen == fingerprint {
                    (*status, body.clone())
                } else {
                    error(
                        400,
                        "idempotency_error",
                        "idempotency_key_in_use",
                        "Keys for idempotent requests can only be used with the same parameters they were first used with.",
                    )
                };
            }
        }
        let (status, body) = self.api(&mut state, &req.method, rest, req);
        let reply = (status, shown(body));
        if let (Some(k), "POST") = (key, req.method.as_str()) {
            state
                .idempotency
                .insert(k, (fingerprint, reply.0, reply.1.clone()));
        }
        reply
    }

    fn fake_route(&self, method: &str, rest: &str, req: &Request) -> Reply {
        let parts: Vec<&str> = rest.split('/').collect();
        let mut state = lock(&self.shared.state);
        match (method, parts.as_slice()) {
            ("GET", ["charges"]) => (
                200,
                Value::Array(
                    state
                        .charges
                        .iter()
                        .map(|c| {
                            json!({"invoice": c.invoice, "customer": c.customer, "amount": c.amount,
                                "currency": c.currency, "outcome": c.outcome,
                                "account": c.account, "month": c.month})
                        })
                        .collect(),
                ),
            ),
            ("GET", ["events"]) => (200, Value::Array(state.events.clone())),
            ("POST", ["forget_idempotency_keys"]) => {
                let forgotten = state.idempotency.len();
                state.idempotency.clear();
                (200, json!({ "forgotten": forgotten }))
            }
            ("POST", ["customers", id, "card"]) => {
                drop(state);
                match self.save_card(id, req.param("card").unwrap_or("pm_card_visa")) {
                    Some(pm) => (200, json!({"payment_method": pm})),
                    None => missing("customer or test card", id),
                }
            }
            ("POST", ["checkout", id, "complete"]) => self.complete_checkout_in(
                &mut state,
                id,
                req.param("card").unwrap_or("pm_card_visa"),
            ),
            _ => missing("fake route", rest),
        }
    }

    fn api(&self, state: &mut State, method: &str, rest: &str, req: &Request) -> Reply {
        let parts: Vec<&str> = rest.split('/').collect();
        match (method, parts.as_slice()) {
            ("GET", ["events", id]) => match state.events.iter().find(|e| e["id"] == *id) {
                Some(event) => (200, event.clone()),
                None => missing("event", id),
            },
            ("POST", ["customers"]) => self.create_customer(state, req),
            ("GET", ["customers", id]) => self.retrieve_customer(state, id, req),
            ("POST", ["customers", id]) => self.update_customer(state, id, req),
            ("GET", ["setup_intents", id]) => self.retrieve_setup_intent(state, id),
            ("POST", ["checkout", "sessions"]) => self.create_checkout_session(state, req),
            ("POST", ["billing_portal", "sessions"]) => self.create_portal_session(state, req),
            ("POST", ["invoices"]) => self.create_invoice(state, req),
            ("GET", ["invoices"]) => self.list_invoices(state, req),
            ("GET", ["invoices", id]) => self.retrieve_invoice(state, id),
            ("GET", ["invoices", id, "lines"]) => self.invoice_lines(state, id, req),
            ("POST", ["invoices", id, action]) => self.invoice_action(state, id, action, req),
            _ => missing("route", rest),
        }
    }
}
