//! A stateful stand-in for the part of the Stripe API billing uses, for tests and local runs. It is
//! never deployed.
//!
//! - Objects carry every field async-stripe requires for API version [`API_VERSION`].
//! - Idempotency keys behave like Stripe's: the same key with the same request replays the first
//!   response (errors included); with other parameters it is an `idempotency_error`.
//! - Webhooks are signed exactly like Stripe (`Stripe-Signature: t=…,v1=HMAC-SHA256(t.body)`) and
//!   delivered in the background to a configured URL, retried until accepted.
//! - Test payment methods: `pm_card_visa` succeeds, `pm_card_chargeDeclined` is declined,
//!   `pm_card_authenticationRequired` needs the card holder to authenticate.
//! - A ledger of charge attempts (`/_fake/charges`) says what was charged and how many times.
//! - Invoices embed at most 10 lines, as Stripe does (`lines.has_more`; no `total_count`, which
//!   Stripe's API spec does not promise); the rest are read from `GET /v1/invoices/{id}/lines`. `GET /v1/invoices` lists invoices newest
//!   first (`customer`, `status`, `limit` 1–100, default 10, `starting_after`).
//! - Like Stripe, it refuses (400 `invalid_request_error`) to add lines to an invoice that is not a
//!   draft, to finalize one that is not a draft, and to pay or void one that is not open.
//!
//! Extra routes drive what a user would do on Stripe's pages: `POST /_fake/checkout/{id}/complete`
//! (`card=`), `POST /_fake/customers/{id}/card` (`card=`, saves it as the default). And
//! `POST /_fake/forget_idempotency_keys` (or [`FakeStripe::forget_idempotency_keys`]) forgets every
//! idempotency key, as Stripe does 24 hours after a key's first use: a request repeated after that
//! acts again.

mod http;

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::net::TcpListener;
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

pub use http::Request;

/// The API version the objects are shaped for (async-stripe `1.0.0-rc.10`).
pub const API_VERSION: &str = "2026-09-30.endive";

/// The most lines Stripe embeds in an invoice.
const EMBEDDED_LINES: usize = 10;

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

/// Where webhooks go.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    /// The endpoint URL (`http://127.0.0.1:PORT/path`).
    pub url: String,
    /// The signing secret (`whsec_…`).
    pub secret: String,
}

#[derive(Debug, Default)]
struct State {
    seq: u64,
    customers: BTreeMap<String, Value>,
    methods: BTreeMap<String, Value>,
    setup_intents: BTreeMap<String, Value>,
    sessions: BTreeMap<String, Value>,
    invoices: BTreeMap<String, Value>,
    idempotency: HashMap<String, (String, u16, Value)>,
    charges: Vec<Charge>,
    requests: Vec<String>,
    events: Vec<Value>,
}

#[derive(Debug, Default)]
struct Outbox {
    queue: VecDeque<(Value, u32)>,
    delivered: u64,
    failed_attempts: u64,
}

#[derive(Debug)]
struct Shared {
    state: Mutex<State>,
    outbox: Mutex<Outbox>,
    wake: Condvar,
    base_url: String,
    target: Mutex<Option<WebhookTarget>>,
}

/// A running fake.
#[derive(Debug, Clone)]
pub struct FakeStripe {
    shared: Arc<Shared>,
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

type Reply = (u16, Value);

fn error(status: u16, kind: &str, code: &str, message: &str) -> Reply {
    (
        status,
        json!({"error": {"type": kind, "code": code, "message": message}}),
    )
}

fn missing(what: &str, id: &str) -> Reply {
    error(
        404,
        "invalid_request_error",
        "resource_missing",
        &format!("No such {what}: '{id}'"),
    )
}

/// The signature header Stripe would send for `payload` at time `t`.
pub fn sign(payload: &str, secret: &str, t: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{t}.{payload}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

fn card(kind: &str) -> Option<(&'static str, &'static str)> {
    match kind {
        "pm_card_visa" => Some(("visa", "4242")),
        "pm_card_chargeDeclined" => Some(("visa", "0002")),
        "pm_card_authenticationRequired" => Some(("visa", "3184")),
        _ => None,
    }
}

impl FakeStripe {
    /// Starts serving on 127.0.0.1 (`port` 0: any free one).
    pub fn start(port: u16, target: Option<WebhookTarget>) -> std::io::Result<Self> {
        let listener = TcpListener::bind(("127.0.0.1", port))?;
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
                std::thread::spawn(move || http::serve(stream, |req| server.handle(req)));
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

    /// Webhooks delivered (2xx), and failed delivery attempts.
    pub fn deliveries(&self) -> (u64, u64) {
        let o = lock(&self.shared.outbox);
        (o.delivered, o.failed_attempts)
    }

    /// Waits until no webhook is waiting to be delivered (or `timeout` passes); `true` if drained.
    pub fn wait_delivered(&self, timeout: Duration) -> bool {
        let deadline = std::time::Instant::now() + timeout;
        while std::time::Instant::now() < deadline {
            if lock(&self.shared.outbox).queue.is_empty() {
                return true;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        false
    }

    /// A test helper with the effect of a user saving a card on a hosted page: attaches a test card
    /// to the customer and makes it the invoice default. Returns the payment method id.
    pub fn save_card(&self, customer: &str, kind: &str) -> Option<String> {
        let mut state = lock(&self.shared.state);
        let pm = attach_card(&mut state, customer, kind)?;
        let c = state.customers.get_mut(customer)?;
        c["invoice_settings"]["default_payment_method"] = json!(pm);
        let snapshot = c.clone();
        self.emit(&mut state, "customer.updated", snapshot, None);
        Some(pm)
    }

    /// A test helper with the effect of a user completing a Checkout session with a test card.
    pub fn complete_checkout(&self, session: &str, kind: &str) -> bool {
        let mut state = lock(&self.shared.state);
        self.complete_checkout_in(&mut state, session, kind).0 == 200
    }

    fn next_id(state: &mut State, prefix: &str) -> String {
        state.seq += 1;
        format!("{prefix}_fake{:06}", state.seq)
    }

    fn emit(&self, state: &mut State, kind: &str, object: Value, previous: Option<Value>) {
        let id = Self::next_id(state, "evt");
        let mut data = json!({ "object": shown(object) });
        if let Some(p) = previous {
            data["previous_attributes"] = p;
        }
        let event = json!({
            "id": id, "object": "event", "api_version": API_VERSION, "created": now(),
            "data": data, "livemode": false, "pending_webhooks": 1,
            "request": {"id": null, "idempotency_key": null}, "type": kind,
        });
        state.events.push(event.clone());
        lock(&self.shared.outbox).queue.push_back((event, 0));
        self.shared.wake.notify_all();
    }

    fn deliver_forever(&self) {
        loop {
            let next = {
                let mut outbox = lock(&self.shared.outbox);
                while outbox.queue.is_empty() {
                    outbox = self
                        .shared
                        .wake
                        .wait_timeout(outbox, Duration::from_millis(200))
                        .map(|(g, _)| g)
                        .unwrap_or_else(|e| e.into_inner().0);
                }
                outbox.queue.front().cloned()
            };
            let Some((event, attempts)) = next else {
                continue;
            };
            let target = lock(&self.shared.target).clone();
            let Some(target) = target else {
                // Nowhere to deliver: events stay readable through `events()`.
                lock(&self.shared.outbox).queue.pop_front();
                continue;
            };
            let body = event.to_string();
            let header = sign(&body, &target.secret, now());
            let ok = dev_http::post_json(&target.url, &body, &[("Stripe-Signature", &header)])
                .is_ok_and(|status| (200..300).contains(&status));
            let mut outbox = lock(&self.shared.outbox);
            outbox.queue.pop_front();
            if ok {
                outbox.delivered += 1;
            } else {
                outbox.failed_attempts += 1;
                if attempts < 20 {
                    outbox.queue.push_back((event, attempts + 1));
                }
                drop(outbox);
                std::thread::sleep(Duration::from_millis(50 * u64::from(attempts + 1)));
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

    fn complete_checkout_in(&self, state: &mut State, id: &str, kind: &str) -> Reply {
        let Some(session) = state.sessions.get(id).cloned() else {
            return missing("checkout session", id);
        };
        let customer = session["customer"].as_str().unwrap_or_default().to_owned();
        let Some(pm) = attach_card(state, &customer, kind) else {
            return missing("customer or test card", &customer);
        };
        let si = Self::next_id(state, "seti");
        let intent = json!({
            "id": si, "object": "setup_intent", "created": now(), "livemode": false,
            "payment_method_types": ["card"], "status": "succeeded", "usage": "off_session",
            "customer": customer, "payment_method": pm,
        });
        state.setup_intents.insert(si.clone(), intent.clone());
        let method = state.methods[&pm].clone();
        self.emit(state, "payment_method.attached", method, None);
        self.emit(state, "setup_intent.succeeded", intent, None);
        let Some(s) = state.sessions.get_mut(id) else {
            return missing("checkout session", id);
        };
        s["status"] = json!("complete");
        s["setup_intent"] = json!(si);
        let done = s.clone();
        self.emit(state, "checkout.session.completed", done.clone(), None);
        (200, done)
    }

    fn api(&self, state: &mut State, method: &str, rest: &str, req: &Request) -> Reply {
        let parts: Vec<&str> = rest.split('/').collect();
        match (method, parts.as_slice()) {
            ("GET", ["events", id]) => match state.events.iter().find(|e| e["id"] == *id) {
                Some(event) => (200, event.clone()),
                None => missing("event", id),
            },
            ("POST", ["customers"]) => {
                let id = Self::next_id(state, "cus");
                let customer = json!({
                    "id": id, "object": "customer", "created": now(), "livemode": false,
                    "description": req.param("description"), "metadata": req.map("metadata"),
                    "invoice_settings": {"default_payment_method": null},
                });
                state.customers.insert(id, customer.clone());
                (200, customer)
            }
            ("GET", ["customers", id]) => match state.customers.get(*id) {
                Some(c) => {
                    let mut c = c.clone();
                    let expand = req.list("expand");
                    if expand
                        .iter()
                        .any(|e| e == "invoice_settings.default_payment_method")
                    {
                        if let Some(pm) = c["invoice_settings"]["default_payment_method"]
                            .as_str()
                            .and_then(|pm| state.methods.get(pm))
                        {
                            c["invoice_settings"]["default_payment_method"] = pm.clone();
                        }
                    }
                    (200, c)
                }
                None => missing("customer", id),
            },
            ("POST", ["customers", id]) => {
                let pm = req.param("invoice_settings[default_payment_method]");
                if let Some(pm) = pm {
                    let owned = state
                        .methods
                        .get(pm)
                        .is_some_and(|m| m["customer"].as_str() == Some(*id));
                    if !owned {
                        return missing("payment method on this customer", pm);
                    }
                }
                let Some(c) = state.customers.get_mut(*id) else {
                    return missing("customer", id);
                };
                if let Some(pm) = pm {
                    c["invoice_settings"]["default_payment_method"] = json!(pm);
                }
                let c = c.clone();
                self.emit(state, "customer.updated", c.clone(), None);
                (200, c)
            }
            ("GET", ["setup_intents", id]) => match state.setup_intents.get(*id) {
                Some(s) => (200, s.clone()),
                None => missing("setup intent", id),
            },
            ("POST", ["checkout", "sessions"]) => {
                let Some(customer) = req
                    .param("customer")
                    .filter(|c| state.customers.contains_key(*c))
                else {
                    return missing("customer", req.param("customer").unwrap_or_default());
                };
                if req.param("mode") != Some("setup") {
                    return error(
                        400,
                        "invalid_request_error",
                        "parameter_invalid",
                        "only setup mode is faked",
                    );
                }
                let id = Self::next_id(state, "cs");
                let session = json!({
                    "id": id, "object": "checkout.session", "automatic_tax": {"enabled": false},
                    "created": now(), "custom_fields": [], "custom_text": {},
                    "expires_at": now() + 86_400, "livemode": false, "mode": "setup",
                    "payment_method_types": ["card"], "payment_status": "no_payment_required",
                    "shipping_options": [], "status": "open", "customer": customer,
                    "success_url": req.param("success_url"), "cancel_url": req.param("cancel_url"),
                    "url": format!("{}/checkout/{id}", self.shared.base_url),
                });
                state.sessions.insert(id, session.clone());
                (200, session)
            }
            ("POST", ["billing_portal", "sessions"]) => {
                let Some(customer) = req
                    .param("customer")
                    .filter(|c| state.customers.contains_key(*c))
                else {
                    return missing("customer", req.param("customer").unwrap_or_default());
                };
                let id = Self::next_id(state, "bps");
                (
                    200,
                    json!({
                        "id": id, "object": "billing_portal.session", "configuration": "bpc_fake",
                        "created": now(), "customer": customer, "livemode": false,
                        "return_url": req.param("return_url"),
                        "url": format!("{}/portal/{id}", self.shared.base_url),
                    }),
                )
            }
            ("POST", ["invoices"]) => self.create_invoice(state, req),
            ("GET", ["invoices"]) => {
                // Newest first: ids carry a zero-padded sequence number.
                let listed: Vec<Value> = state
                    .invoices
                    .values()
                    .rev()
                    .filter(|i| req.param("customer").is_none_or(|c| i["customer"] == c))
                    .filter(|i| req.param("status").is_none_or(|s| i["status"] == s))
                    .cloned()
                    .collect();
                list_page(listed, req, "/v1/invoices", "invoice")
            }
            ("GET", ["invoices", id]) => match state.invoices.get(*id) {
                Some(i) => (200, i.clone()),
                None => missing("invoice", id),
            },
            ("GET", ["invoices", id, "lines"]) => match state.invoices.get(*id) {
                Some(i) => list_page(
                    i["lines"]["data"].as_array().cloned().unwrap_or_default(),
                    req,
                    &format!("/v1/invoices/{id}/lines"),
                    "line item",
                ),
                None => missing("invoice", id),
            },
            ("POST", ["invoices", id, action]) => self.invoice_action(state, id, action, req),
            _ => missing("route", rest),
        }
    }

    fn create_invoice(&self, state: &mut State, req: &Request) -> Reply {
        let Some(customer) = req
            .param("customer")
            .filter(|c| state.customers.contains_key(*c))
        else {
            return missing("customer", req.param("customer").unwrap_or_default());
        };
        let id = Self::next_id(state, "in");
        let t = now();
        let invoice = json!({
            "id": id, "object": "invoice", "amount_due": 0, "amount_overpaid": 0, "amount_paid": 0,
            "amount_remaining": 0, "amount_shipping": 0, "attempt_count": 0, "attempted": false,
            "auto_advance": req.param("auto_advance") == Some("true"),
            "automatic_tax": {"enabled": false},
            "collection_method": req.param("collection_method").unwrap_or("charge_automatically"),
            "created": t, "currency": req.param("currency").unwrap_or("usd"),
            "customer": customer, "default_tax_rates": [], "description": req.param("description"),
            "discounts": [], "issuer": {"type": "self"},
            "lines": {"object": "list", "data": [], "has_more": false, "url": format!("/v1/invoices/{id}/lines")},
            "livemode": false, "metadata": req.map("metadata"), "payment_settings": {},
            "period_end": t, "period_start": t, "post_payment_credit_notes_amount": 0,
            "pre_payment_credit_notes_amount": 0, "starting_balance": 0, "status": "draft",
            "status_transitions": {}, "subtotal": 0, "total": 0,
        });
        state.invoices.insert(id, invoice.clone());
        (200, invoice)
    }

    fn invoice_action(&self, state: &mut State, id: &str, action: &str, req: &Request) -> Reply {
        let Some(invoice) = state.invoices.get(id).cloned() else {
            return missing("invoice", id);
        };
        let status = invoice["status"].as_str().unwrap_or_default().to_owned();
        let refuse = |what: &str| {
            error(
                400,
                "invalid_request_error",
                "invoice_not_editable",
                &format!(
                    "You can only {what} an invoice that is {}; this one is {status}.",
                    match what {
                        "add lines to" => "a draft",
                        _ => "open",
                    }
                ),
            )
        };
        match action {
            "add_lines" => {
                if status != "draft" {
                    return refuse("add lines to");
                }
                let currency = invoice["currency"].clone();
                let mut lines = invoice["lines"]["data"]
                    .as_array()
                    .cloned()
                    .unwrap_or_default();
                for i in 0.. {
                    let Some(amount) = req.param(&format!("lines[{i}][amount]")) else {
                        break;
                    };
                    let Ok(amount) = amount.parse::<i64>() else {
                        return error(
                            400,
                            "invalid_request_error",
                            "parameter_invalid_integer",
                            "amount must be an integer",
                        );
                    };
                    let line_id = Self::next_id(state, "il");
                    lines.push(json!({
                        "id": line_id, "object": "line_item", "amount": amount, "currency": currency,
                        "invoice": id,
                        "description": req.param(&format!("lines[{i}][description]")),
                        "discountable": true, "discounts": [], "livemode": false, "metadata": {},
                        "period": {"start": invoice["period_start"], "end": invoice["period_end"]},
                        "subtotal": amount,
                    }));
                }
                let total: i64 = lines.iter().filter_map(|l| l["amount"].as_i64()).sum();
                let inv = state.invoices.get_mut(id).expect("checked above");
                inv["lines"]["data"] = Value::Array(lines);
                inv["subtotal"] = json!(total);
                inv["total"] = json!(total);
                inv["amount_due"] = json!(total.max(0));
                inv["amount_remaining"] = json!(total.max(0));
                (200, inv.clone())
            }
            "finalize" => {
                if status != "draft" {
                    return error(
                        400,
                        "invalid_request_error",
                        "invoice_not_editable",
                        &format!("This invoice is already finalized ({status}), you can't re-finalize a non-draft invoice."),
                    );
                }
                let inv = state.invoices.get_mut(id).expect("checked above");
                inv["status"] = json!("open");
                inv["hosted_invoice_url"] = json!(format!("{}/i/{id}", self.shared.base_url));
                inv["status_transitions"]["finalized_at"] = json!(now());
                let inv = inv.clone();
                self.emit(
                    state,
                    "invoice.finalized",
                    inv.clone(),
                    Some(json!({"status": "draft"})),
                );
                (200, inv)
            }
            "void" => {
                if status != "open" {
                    return refuse("void");
                }
                let inv = state.invoices.get_mut(id).expect("checked above");
                inv["status"] = json!("void");
                let inv = inv.clone();
                self.emit(
                    state,
                    "invoice.voided",
                    inv.clone(),
                    Some(json!({"status": "open"})),
                );
                (200, inv)
            }
            "pay" => self.pay(state, id, &invoice),
            _ => missing("invoice action", action),
        }
    }

    fn pay(&self, state: &mut State, id: &str, invoice: &Value) -> Reply {
        match invoice["status"].as_str().unwrap_or_default() {
            "open" => {}
            "paid" => {
                return error(
                    400,
                    "invalid_request_error",
                    "invoice_already_paid",
                    "Invoice is already paid.",
                )
            }
            other => {
                return error(
                    400,
                    "invalid_request_error",
                    "invoice_not_open",
                    &format!("This invoice is {other}; only an open invoice can be paid."),
                )
            }
        }
        let customer = invoice["customer"].as_str().unwrap_or_default().to_owned();
        let pm = state
            .customers
            .get(&customer)
            .and_then(|c| c["invoice_settings"]["default_payment_method"].as_str())
            .and_then(|pm| state.methods.get(pm))
            .cloned();
        let Some(pm) = pm else {
            return error(
                400,
                "invalid_request_error",
                "invoice_no_payment_method",
                "This customer has no attached payment source or default payment method.",
            );
        };
        let outcome = match pm["fake_kind"].as_str() {
            Some("pm_card_chargeDeclined") => "declined",
            Some("pm_card_authenticationRequired") => "requires_action",
            _ => "succeeded",
        };
        let amount = invoice["amount_due"].as_i64().unwrap_or_default();
        state.charges.push(Charge {
            invoice: id.to_owned(),
            customer,
            amount,
            currency: invoice["currency"].as_str().unwrap_or_default().to_owned(),
            outcome: outcome.to_owned(),
            account: invoice["metadata"]["account"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
            month: invoice["metadata"]["month"]
                .as_str()
                .unwrap_or_default()
                .to_owned(),
        });
        let inv = state.invoices.get_mut(id).expect("checked by the caller");
        inv["attempted"] = json!(true);
        inv["attempt_count"] = json!(inv["attempt_count"].as_i64().unwrap_or_default() + 1);
        match outcome {
            "succeeded" => {
                inv["status"] = json!("paid");
                inv["amount_paid"] = json!(amount);
                inv["amount_remaining"] = json!(0);
                inv["status_transitions"]["paid_at"] = json!(now());
                let inv = inv.clone();
                self.emit(
                    state,
                    "invoice.paid",
                    inv.clone(),
                    Some(json!({"status": "open"})),
                );
                (200, inv)
            }
            "declined" => {
                let inv = inv.clone();
                self.emit(state, "invoice.payment_failed", inv, None);
                (
                    402,
                    json!({"error": {"type": "card_error", "code": "card_declined",
                        "decline_code": "generic_decline", "message": "Your card was declined."}}),
                )
            }
            _ => {
                let inv = inv.clone();
                self.emit(state, "invoice.payment_action_required", inv, None);
                (
                    402,
                    json!({"error": {"type": "card_error", "code": "invoice_payment_intent_requires_action",
                        "message": "This payment requires additional user action before it can be completed successfully."}}),
                )
            }
        }
    }
}

/// An object as the API shows it: an invoice (also inside a list) embeds at most 10 lines.
fn shown(mut body: Value) -> Value {
    if body["object"] == "list" {
        if let Some(items) = body["data"].as_array_mut() {
            for item in items.iter_mut() {
                *item = shown(std::mem::take(item));
            }
        }
        return body;
    }
    if body["object"] != "invoice" {
        return body;
    }
    let lines = &mut body["lines"];
    if let Some(data) = lines["data"].as_array_mut() {
        let total = data.len();
        data.truncate(EMBEDDED_LINES);
        lines["has_more"] = json!(total > EMBEDDED_LINES);
    }
    body
}

/// One page of a Stripe list of `items` (in list order): `limit` (1–100, default 10) and
/// `starting_after` (an id of an item of the list).
fn list_page(items: Vec<Value>, req: &Request, url: &str, what: &str) -> Reply {
    let limit = match req.param("limit").map(str::parse::<usize>) {
        None => 10,
        Some(Ok(n)) if (1..=100).contains(&n) => n,
        Some(_) => {
            return error(
                400,
                "invalid_request_error",
                "parameter_invalid_integer",
                "Invalid limit: must be an integer between 1 and 100.",
            )
        }
    };
    let start = match req.param("starting_after") {
        None => 0,
        Some(after) => match items.iter().position(|i| i["id"] == after) {
            Some(p) => p + 1,
            None => return missing(what, after),
        },
    };
    let rest = items.get(start..).unwrap_or_default();
    let page: Vec<Value> = rest.iter().take(limit).cloned().collect();
    (
        200,
        json!({"object": "list", "data": page, "has_more": rest.len() > limit, "url": url}),
    )
}

fn attach_card(state: &mut State, customer: &str, kind: &str) -> Option<String> {
    let (brand, last4) = card(kind)?;
    if !state.customers.contains_key(customer) {
        return None;
    }
    let id = FakeStripe::next_id(state, "pm");
    state.methods.insert(
        id.clone(),
        json!({
            "id": id, "object": "payment_method", "created": now(), "livemode": false, "type": "card",
            "billing_details": {}, "customer": customer, "fake_kind": kind,
            "card": {"brand": brand, "last4": last4, "exp_month": 12, "exp_year": 2034, "funding": "credit"},
        }),
    );
    Some(id)
}
