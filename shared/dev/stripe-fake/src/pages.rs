//! The hosted pages a browser is sent to, as plain HTML: `GET /checkout/{id}` offers the test cards,
//! `POST /checkout/{id}` completes the session with the chosen one (the same as
//! `POST /_fake/checkout/{id}/complete`) and sends the browser to the session's `success_url`;
//! `GET /portal/{id}` links back to the portal session's `return_url`. Enough for a browser test to
//! do what a user does on Stripe's pages.

use serde_json::Value;

use crate::state::lock;
use crate::{FakeStripe, Request};

/// A page: its status and HTML.
pub(crate) type Page = (u16, String);

/// The test cards offered on the Checkout page.
const CARDS: &[(&str, &str)] = &[
    ("pm_card_visa", "Visa ending 4242"),
    ("pm_card_mastercard", "Mastercard ending 4444"),
    (
        "pm_card_chargeDeclined",
        "Visa ending 0002 (declined when charged)",
    ),
];

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn page(title: &str, body: &str, refresh_to: Option<&str>) -> String {
    let refresh = refresh_to
        .map(|u| {
            format!(
                r#"<meta http-equiv="refresh" content="0;url={}">"#,
                escape(u)
            )
        })
        .unwrap_or_default();
    format!(
        r#"<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{title}</title>{refresh}</head><body><main><h1>{title}</h1>{body}</main></body></html>"#
    )
}

fn not_found(what: &str) -> Page {
    (
        404,
        page("Not found", &format!("<p>No such {what}.</p>"), None),
    )
}

impl FakeStripe {
    /// The hosted page at `path`, if it is one (`/checkout/…` or `/portal/…`).
    pub(crate) fn hosted_page(&self, req: &Request) -> Option<Page> {
        let parts: Vec<&str> = req.path.trim_matches('/').split('/').collect();
        let mut state = lock(&self.shared.state);
        Some(match (req.method.as_str(), parts.as_slice()) {
            ("GET", ["checkout", id]) => match state.sessions.get(*id) {
                Some(s) if s["object"] == "checkout.session" => {
                    let options: String = CARDS
                        .iter()
                        .enumerate()
                        .map(|(i, (value, label))| {
                            let checked = if i == 0 { " checked" } else { "" };
                            format!(r#"<p><label><input type="radio" name="card" value="{value}"{checked}> {label}</label></p>"#)
                        })
                        .collect();
                    let cancel = escape(s["cancel_url"].as_str().unwrap_or("/"));
                    (
                        200,
                        page(
                            "Save a card (Stripe Checkout, fake)",
                            &format!(
                                r#"<form method="post" action="/checkout/{id}"><fieldset><legend>Test card</legend>{options}</fieldset><button type="submit" id="save-card">Save card</button></form><p><a href="{cancel}">Cancel</a></p>"#
                            ),
                            None,
                        ),
                    )
                }
                _ => not_found("Checkout session"),
            },
            ("POST", ["checkout", id]) => {
                let card = req.param("card").unwrap_or("pm_card_visa").to_owned();
                let (status, session) = self.complete_checkout_in(&mut state, id, &card);
                match (status, session["success_url"].as_str()) {
                    (200, Some(url)) => (
                        200,
                        page(
                            "Card saved",
                            &format!(r#"<p><a href="{}">Back to billing</a></p>"#, escape(url)),
                            Some(url),
                        ),
                    ),
                    _ => not_found("Checkout session"),
                }
            }
            ("GET", ["portal", id]) => match state.sessions.get(*id).map(|s| &s["return_url"]) {
                Some(Value::String(url)) => (
                    200,
                    page(
                        "Billing portal (fake)",
                        &format!(
                            r#"<p>Payment methods are managed here on Stripe's portal.</p><p><a id="portal-return" href="{}">Return to billing</a></p>"#,
                            escape(url)
                        ),
                        None,
                    ),
                ),
                _ => not_found("portal session"),
            },
            _ => return None,
        })
    }
}
