//! Webhooks: events recorded, signed as Stripe signs them, and delivered in the background until
//! accepted.

use std::time::Duration;

use hmac::{Hmac, KeyInit, Mac};
use serde_json::{json, Value};
use sha2::Sha256;

use crate::invoices::shown;
use crate::state::{lock, now, State};
use crate::{FakeStripe, API_VERSION};

/// Where webhooks go.
#[derive(Debug, Clone)]
pub struct WebhookTarget {
    /// The endpoint URL (`http://127.0.0.1:PORT/path`).
    pub url: String,
    /// The signing secret (`whsec_…`).
    pub secret: String,
}

/// The signature header Stripe would send for `payload` at time `t`.
pub fn sign(payload: &str, secret: &str, t: i64) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(secret.as_bytes()).expect("HMAC takes any key");
    mac.update(format!("{t}.{payload}").as_bytes());
    format!("t={t},v1={}", hex::encode(mac.finalize().into_bytes()))
}

impl FakeStripe {
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

    pub(crate) fn emit(
        &self,
        state: &mut State,
        kind: &str,
        object: Value,
        previous: Option<Value>,
    ) {
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

    pub(crate) fn deliver_forever(&self) {
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
}
