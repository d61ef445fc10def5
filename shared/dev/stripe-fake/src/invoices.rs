//! Invoices: create, add lines, finalize, pay (the charge ledger), void, list and page through
//! lines, each refused as Stripe refuses it in the wrong status.

use serde_json::{json, Value};

use crate::customers::known_customer;
use crate::state::{error, missing, now, Reply, State};
use crate::{Charge, FakeStripe, Request};

/// The most lines Stripe embeds in an invoice.
const EMBEDDED_LINES: usize = 10;

impl FakeStripe {
    pub(crate) fn list_invoices(&self, state: &State, req: &Request) -> Reply {
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

    pub(crate) fn retrieve_invoice(&self, state: &State, id: &str) -> Reply {
        match state.invoices.get(id) {
            Some(i) => (200, i.clone()),
            None => missing("invoice", id),
        }
    }

    pub(crate) fn invoice_lines(&self, state: &State, id: &str, req: &Request) -> Reply {
        match state.invoices.get(id) {
            Some(i) => list_page(
                i["lines"]["data"].as_array().cloned().unwrap_or_default(),
                req,
                &format!("/v1/invoices/{id}/lines"),
                "line item",
            ),
            None => missing("invoice", id),
        }
    }

    pub(crate) fn create_invoice(&self, state: &mut State, req: &Request) -> Reply {
        let customer = match known_customer(state, req) {
            Ok(c) => c,
            Err(missing) => return missing,
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

    /// Announces that an invoice left status `from` (an event with its previous status, as Stripe
    /// sends) and answers with the invoice.
    fn changed(&self, state: &mut State, kind: &str, invoice: Value, from: &str) -> Reply {
        self.emit(
            state,
            kind,
            invoice.clone(),
            Some(json!({ "status": from })),
        );
        (200, invoice)
    }

    pub(crate) fn invoice_action(
        &self,
        state: &mut State,
        id: &str,
        action: &str,
        req: &Request,
    ) -> Reply {
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
                inv["invoice_pdf"] = json!(format!("{}/i/{id}/pdf", self.shared.base_url));
                inv["status_transitions"]["finalized_at"] = json!(now());
                let inv = inv.clone();
                self.changed(state, "invoice.finalized", inv, "draft")
            }
            "void" => {
                if status != "open" {
                    return refuse("void");
                }
                let inv = state.invoices.get_mut(id).expect("checked above");
                inv["status"] = json!("void");
                let inv = inv.clone();
                self.changed(state, "invoice.voided", inv, "open")
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
                self.changed(state, "invoice.paid", inv, "open")
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
pub(crate) fn shown(mut body: Value) -> Value {
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
