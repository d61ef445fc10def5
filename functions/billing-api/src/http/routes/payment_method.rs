//! `GET /v1/billing/payment-method`: the account's default payment method, live from Stripe (its own
//! route, so the summary never waits on Stripe); `POST /v1/billing/payment-method/{checkout,portal}`:
//! Stripe's hosted pages for the account's card.

use billing_app::ids::AccountId;
use billing_app::payment_methods::PaymentMethods;
use billing_app::payments::{CustomerStore, Payments};
use lambda_http::{Body, Response};

use crate::http::problem::{ok, ApiError};

/// The default payment method: `none`, a `card`, `other`, or `unavailable` when Stripe cannot be
/// asked just now (a 200: the page shows it and the rest of the page is unaffected).
pub(crate) async fn current<S: CustomerStore, P: Payments>(
    methods: &PaymentMethods<S, P>,
    account: &AccountId,
) -> Result<Response<Body>, ApiError> {
    ok(&methods.current(account).await?)
}

/// A Checkout page (setup mode) to save a card, for the account's own Stripe customer.
pub(crate) async fn checkout<S: CustomerStore, P: Payments>(
    methods: &PaymentMethods<S, P>,
    account: &AccountId,
) -> Result<Response<Body>, ApiError> {
    ok(&methods.checkout(account).await?)
}

/// A billing portal page to manage the account's cards.
pub(crate) async fn portal<S: CustomerStore, P: Payments>(
    methods: &PaymentMethods<S, P>,
    account: &AccountId,
) -> Result<Response<Body>, ApiError> {
    ok(&methods.portal(account).await?)
}

#[cfg(test)]
mod tests {
    use crate::http::testing::{call, dashboard, json, request};
    use billing_app::ids::AccountId;
    use billing_app::payment_methods::PaymentMethods;
    use billing_app::payments::CustomerStore;
    use billing_rules::Currency;
    use billing_stripe::{StripePayments, StripeSettings};
    use lambda_http::http::StatusCode;

    #[tokio::test]
    async fn the_sample_checkout_event_gets_a_hosted_page_for_its_claims_account() {
        let f = dashboard().await;
        let sample = lambda_http::request::from_str(include_str!(
            "../../../../../events/api-payment-method-checkout.json"
        ))
        .expect("fixture");
        let (status, _, body) = call(&f, sample).await;
        assert_eq!(status, StatusCode::OK, "{body}");
        assert!(json(&body)["url"]
            .as_str()
            .is_some_and(|u| u.contains("/checkout/")));
        let demo = AccountId::parse("acct-demo").expect("id");
        assert!(f.store.customer_of(&demo).await.expect("read").is_some());
    }

    #[tokio::test]
    async fn hosted_pages_use_the_accounts_own_customer_and_its_card_shows_on_its_route() {
        let f = dashboard().await;
        let demo = AccountId::parse("acct-demo").expect("id");
        let post = |p: &str, who: &str| request("POST", p, Some(who), None, None);
        let (_, _, s) = call(
            &f,
            request(
                "GET",
                "/v1/billing/payment-method",
                Some("acct-demo"),
                None,
                None,
            ),
        )
        .await;
        assert_eq!(json(&s), serde_json::json!({"state": "none"}));
        assert!(f.fake.requests().is_empty(), "no customer, no Stripe call");

        let (status, _, c) =
            call(&f, post("/v1/billing/payment-method/checkout", "acct-demo")).await;
        assert_eq!(status, StatusCode::OK);
        let url = json(&c)["url"].as_str().expect("url").to_owned();
        let customer = f
            .store
            .customer_of(&demo)
            .await
            .expect("read")
            .expect("created");
        let session = url.rsplit('/').next().expect("session id");
        assert!(f.fake.complete_checkout(session, "pm_card_visa"), "{url}");
        f.fake
            .save_card(&customer, "pm_card_visa")
            .expect("default card");
        let (status, _, p) = call(&f, post("/v1/billing/payment-method/portal", "acct-demo")).await;
        assert_eq!(status, StatusCode::OK);
        assert!(
            json(&p)["url"]
                .as_str()
                .is_some_and(|u| u.contains("/portal/")),
            "{p}"
        );
        call(&f, post("/v1/billing/payment-method/checkout", "acct-demo")).await;
        assert_eq!(
            f.store.customer_of(&demo).await.expect("read"),
            Some(customer.clone())
        );
        let customers_created = f
            .fake
            .requests()
            .iter()
            .filter(|r| *r == "POST /v1/customers")
            .count();
        assert_eq!(customers_created, 1, "one customer for every page asked");

        let (_, _, s) = call(
            &f,
            request(
                "GET",
                "/v1/billing/payment-method",
                Some("acct-demo"),
                None,
                None,
            ),
        )
        .await;
        let card = &json(&s);
        assert_eq!(
            (
                card["state"].as_str(),
                card["brand"].as_str(),
                card["last4"].as_str()
            ),
            (Some("card"), Some("visa"), Some("4242"))
        );

        // acct-other sees no card, and its own page makes its own customer.
        let (_, _, s) = call(
            &f,
            request(
                "GET",
                "/v1/billing/payment-method",
                Some("acct-other"),
                None,
                None,
            ),
        )
        .await;
        assert_eq!(json(&s)["state"], "none");
        call(&f, post("/v1/billing/payment-method/portal", "acct-other")).await;
        let other = f
            .store
            .customer_of(&AccountId::parse("acct-other").expect("id"))
            .await
            .expect("read");
        assert!(other.is_some_and(|o| o != customer));
        let (status, _, _) = call(
            &f,
            request(
                "GET",
                "/v1/billing/payment-method/checkout",
                Some("acct-demo"),
                None,
                None,
            ),
        )
        .await;
        assert_eq!(status, StatusCode::METHOD_NOT_ALLOWED);
    }

    #[tokio::test]
    async fn with_stripe_down_the_method_is_unavailable_the_summary_answers_and_a_hosted_page_is_a_503(
    ) {
        let mut f = dashboard().await;
        let demo = AccountId::parse("acct-demo").expect("id");
        f.store
            .set_customer(&demo, "cus_known")
            .await
            .expect("customer");
        let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
        let down = format!("http://{}", closed.local_addr().expect("addr"));
        drop(closed);
        f.api.methods = PaymentMethods::new(
            f.store.clone(),
            StripePayments::new(&StripeSettings::local(&down)).expect("client"),
            Currency::Usd,
            "https://cloud.example/billing".into(),
        );
        let (status, _, m) = call(
            &f,
            request(
                "GET",
                "/v1/billing/payment-method",
                Some("acct-demo"),
                None,
                None,
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json(&m), serde_json::json!({"state": "unavailable"}));
        let (status, _, s) = call(
            &f,
            request("GET", "/v1/billing/summary", Some("acct-demo"), None, None),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json(&s)["month_to_date"], "16.00");
        let (status, ctype, body) = call(
            &f,
            request(
                "POST",
                "/v1/billing/payment-method/portal",
                Some("acct-demo"),
                None,
                None,
            ),
        )
        .await;
        assert_eq!(
            (status, ctype.as_str()),
            (StatusCode::SERVICE_UNAVAILABLE, "application/problem+json")
        );
        assert!(
            json(&body)["detail"]
                .as_str()
                .is_some_and(|d| d.contains("try again")),
            "{body}"
        );
    }
}
