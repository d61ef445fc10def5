//! The fake's state behind its one lock, and the shapes of its replies (Stripe's error object).

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{SystemTime, UNIX_EPOCH};

use serde_json::{json, Value};

use crate::{Charge, FakeStripe, WebhookTarget};

#[derive(Debug, Default)]
pub(crate) struct State {
    pub(crate) seq: u64,
    pub(crate) customers: BTreeMap<String, Value>,
    pub(crate) methods: BTreeMap<String, Value>,
    pub(crate) setup_intents: BTreeMap<String, Value>,
    pub(crate) sessions: BTreeMap<String, Value>,
    pub(crate) invoices: BTreeMap<String, Value>,
    pub(crate) idempotency: HashMap<String, (String, u16, Value)>,
    pub(crate) charges: Vec<Charge>,
    pub(crate) requests: Vec<String>,
    pub(crate) events: Vec<Value>,
}

#[derive(Debug, Default)]
pub(crate) struct Outbox {
    pub(crate) queue: VecDeque<(Value, u32)>,
    pub(crate) delivered: u64,
    pub(crate) failed_attempts: u64,
}

#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) state: Mutex<State>,
    pub(crate) outbox: Mutex<Outbox>,
    pub(crate) wake: Condvar,
    pub(crate) base_url: String,
    pub(crate) target: Mutex<Option<WebhookTarget>>,
}

#[allow(
    clippy::disallowed_methods,
    reason = "the fake stands in for Stripe, whose timestamps and signatures are wall-clock time"
)]
pub(crate) fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() as i64)
}

pub(crate) fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

pub(crate) type Reply = (u16, Value);

pub(crate) fn error(status: u16, kind: &str, code: &str, message: &str) -> Reply {
    (
        status,
        json!({"error": {"type": kind, "code": code, "message": message}}),
    )
}

pub(crate) fn missing(what: &str, id: &str) -> Reply {
    error(
        404,
        "invalid_request_error",
        "resource_missing",
        &format!("No such {what}: '{id}'"),
    )
}

impl FakeStripe {
    pub(crate) fn next_id(state: &mut State, prefix: &str) -> String {
        state.seq += 1;
        format!("{prefix}_fake{:06}", state.seq)
    }
}
