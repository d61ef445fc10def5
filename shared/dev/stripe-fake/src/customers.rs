//! Customers and how they set up a payment method: Checkout (setup mode), the billing portal, setup
//! intents and the test cards.

use serde_json::json;

use crate::state::{error, lock, missing, now, Reply, State};
use crate::{FakeStripe, Request};

fn card(kind: &str) -> Option<(&'static str, &'static str)> {
    match kind {
        "pm_card_visa" => Some(("visa", "4242")),
        "pm_card_mastercard" => Some(("mastercard", "4444")),
        "pm_card_chargeDeclined" => Some(("visa", "0002")),
        "pm_card_authenticationRequired" => Some(("visa", "3184")),
        _ => None,
    }
}

impl FakeStripe {
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

    pub(crate) fn complete_checkout_in(&self, state: &mut State, id: &str, kind: &str) -> Reply {
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

    pub(crate) fn create_customer(&self, state: &mut State, req: &Request) -> Reply {
        let id = Self::next_id(state, "cus");
        let customer = json!({
            "id": id, "object": "customer", "created": now(), "livemode": false,
            "description": req.param("description"), "metadata": req.map("metadata"),
            "invoice_settings": {"default_payment_method": null},
        });
        state.customers.insert(id, customer.clone());
        (200, customer)
    }

    pub(crate) fn retrieve_customer(&self, state: &State, id: &str, req: &Request) -> Reply {
        let Some(c) = state.customers.get(id) else {
            return missing("customer", id);
        };
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

    pub(crate) fn update_customer(&self, state: &mut State, id: &str, req: &Request) -> Reply {
        let pm = req.param("invoice_settings[default_payment_method]");
        if let Some(pm) = pm {
            let owned = state
                .methods
                .get(pm)
                .is_some_and(|m| m["customer"].as_str() == Some(id));
            if !owned {
                return missing("payment method on this customer", pm);
            }
        }
        let Some(c) = state.customers.get_mut(id) else {
            return missing("customer", id);
        };
        if let Some(pm) = pm {
            c["invoice_settings"]["default_payment_method"] = json!(pm);
        }
        let c = c.clone();
        self.emit(state, "customer.updated", c.clone(), None);
        (200, c)
    }

    pub(crate) fn retrieve_setup_intent(&self, state: &State, id: &str) -> Reply {
        match state.setup_intents.get(id) {
            Some(s) => (200, s.clone()),
            None => missing("setup intent", id),
        }
    }

    pub(crate) fn create_checkout_session(&self, state: &mut State, req: &Request) -> Reply {
        let customer = match known_customer(state, req) {
            Ok(c) => c,
            Err(missing) => return missing,
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

    pub(crate) fn create_portal_session(&self, state: &mut State, req: &Request) -> Reply {
        let customer = match known_customer(state, req) {
            Ok(c) => c,
            Err(missing) => return missing,
        };
        let id = Self::next_id(state, "bps");
        let session = json!({
            "id": id, "object": "billing_portal.session", "configuration": "bpc_fake",
            "created": now(), "customer": customer, "livemode": false,
            "return_url": req.param("return_url"),
            "url": format!("{}/portal/{id}", self.shared.base_url),
        });
        // Kept for its hosted page (`pages.rs`), which links back to `return_url`.
        state.sessions.insert(id, session.clone());
        (200, session)
    }
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

/// The `customer` parameter, if it names a customer; the reply Stripe gives if it does not.
pub(crate) fn known_customer<'r>(state: &State, req: &'r Request) -> Result<&'r str, Reply> {
    req.param("customer")
        .filter(|c| state.customers.contains_key(*c))
        .ok_or_else(|| missing("customer", req.param("customer").unwrap_or_default()))
}
