//! The payments port over async-stripe (`=1.0.0-rc.10`, Stripe API `2026-09-30.endive`), and the
//! verification of Stripe webhooks.
//!
//! - Every mutating call carries the idempotency key of its (account, month, step) or (account,
//!   purpose); a call that fails for a transient reason is retried with the same key, so Stripe
//!   replays the first answer instead of acting twice.
//! - Every attempt has a timeout; calls are paced to a configured rate so that all workers together
//!   stay under Stripe's rate limit.
//! - A declined charge is a [`PayOutcome`], not an error.
//! - Stripe embeds at most 10 lines in an invoice (async-stripe's list type has no `total_count`): the
//!   line count of an invoice with more is read by paging through its lines, one more request per
//!   100 lines beyond the first 10.

mod config;
mod webhook;

use std::collections::HashMap;
use std::time::Duration;

use rust_decimal::Decimal;
use tokio::sync::Mutex;
use tokio::time::Instant;

use billing_app::ids::AccountId;
use billing_app::payments::{
    CardSummary, ChargeLine, CustomerView, DefaultMethod, InvoiceKey, PayOutcome, Payments,
    PaymentsError, RemoteInvoice, RemoteStatus,
};
use billing_app::webhooks::VerifiedEvent;
use billing_rules::{Currency, Month};
use stripe::{
    ApiErrorsCode, ApiErrorsType, Client, ClientBuilder, IdempotencyKey, RequestStrategy,
    StripeError, StripeRequest,
};
use stripe_billing::billing_portal_session::CreateBillingPortalSession;
use stripe_billing::invoice::{
    AddLinesInvoice, AddLinesInvoiceLines, CreateInvoice, FinalizeInvoiceInvoice, ListInvoice,
    PayInvoice, RetrieveInvoice, VoidInvoiceInvoice,
};
use stripe_billing::invoice_line_item::ListInvoiceInvoiceLineItem;
use stripe_checkout::checkout_session::CreateCheckoutSession;
use stripe_core::customer::{
    CreateCustomer, RetrieveCustomer, RetrieveCustomerReturned, UpdateCustomer,
    UpdateCustomerInvoiceSettings,
};
use stripe_core::setup_intent::RetrieveSetupIntent;
use stripe_shared::{CheckoutSessionMode, Invoice, InvoiceCollectionMethod, InvoiceStatus};

pub use config::{Secret, SecretError, SetupError, StripeConfig};
pub use webhook::{read_fetched_event, verify_event, WebhookRejected};

/// The Stripe API version this adapter speaks: create the webhook endpoint pinned to it.
pub const API_VERSION: &str = "2026-09-30.endive";

/// How to reach Stripe.
#[derive(Clone)]
pub struct StripeSettings {
    /// The secret API key (never logged).
    pub api_key: String,
    /// Another base URL (the local fake); Stripe's own when `None`.
    pub base_url: Option<String>,
    /// Per-attempt timeout.
    pub timeout: Duration,
    /// The most requests per second this process may send.
    pub requests_per_second: u32,
    /// Attempts per call (the first included) for transient failures.
    pub attempts: u32,
}

impl std::fmt::Debug for StripeSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StripeSettings")
            .field("api_key", &"<redacted>")
            .field("base_url", &self.base_url)
            .field("timeout", &self.timeout)
            .field("requests_per_second", &self.requests_per_second)
            .field("attempts", &self.attempts)
            .finish()
    }
}

impl StripeSettings {
    /// Settings for a local Stripe fake at `base_url` (tests and the local stack): a test key, no
    /// rate limit to speak of.
    pub fn local(base_url: &str) -> Self {
        Self {
            api_key: "sk_test_local".into(),
            base_url: Some(base_url.to_owned()),
            timeout: Duration::from_secs(10),
            requests_per_second: 1_000,
            attempts: 3,
        }
    }

    /// Reads the settings: `STRIPE_API_KEY_PARAMETER` names an SSM SecureString holding the key,
    /// resolved once here (or `STRIPE_API_KEY` holds it, for local runs only); `STRIPE_API_BASE` (a
    /// fake's URL), `STRIPE_TIMEOUT_MS` (default 10000), and the rate: `STRIPE_MAX_RPS` (all
    /// processes together, default 25, Stripe's test-mode limit) divided by `STRIPE_MAX_CONCURRENCY`
    /// (processes at once, default 1). `ssm` gives the SSM client, called only when the key is
    /// read from SSM: a function given the key directly never builds that client.
    pub async fn from_env(
        get: impl Fn(&str) -> Option<String>,
        ssm: impl FnOnce() -> Option<aws_sdk_ssm::Client>,
    ) -> Result<Self, String> {
        let config = StripeConfig::from_lookup(&get).map_err(|e| e.to_string())?;
        Self::resolve(&config, ssm).await.map_err(|e| e.to_string())
    }

    /// The settings of a [`StripeConfig`], its key read from SSM if it is named there (`ssm` is
    /// called only then).
    pub async fn resolve(
        config: &StripeConfig,
        ssm: impl FnOnce() -> Option<aws_sdk_ssm::Client>,
    ) -> Result<Self, SecretError> {
        Ok(Self {
            api_key: config.api_key.resolve(ssm).await?,
            base_url: config.base_url.clone(),
            timeout: config.timeout,
            requests_per_second: config.requests_per_second,
            attempts: 3,
        })
    }
}

/// Spaces requests evenly at a maximum rate, across the tasks of one process.
#[derive(Debug)]
struct Pace {
    gap: Duration,
    next: Mutex<Instant>,
}

impl Pace {
    fn new(per_second: u32) -> Self {
        Self {
            gap: Duration::from_secs(1) / per_second.max(1),
            next: Mutex::new(Instant::now()),
        }
    }

    async fn wait(&self) {
        let mut next = self.next.lock().await;
        let now = Instant::now();
        if *next > now {
            tokio::time::sleep_until(*next).await;
        }
        *next = (*next).max(now) + self.gap;
    }
}

/// The Stripe adapter of [`Payments`].
#[derive(Debug)]
pub struct StripePayments {
    client: Client,
    pace: Pace,
    attempts: u32,
}

impl StripePayments {
    /// A client for these settings.
    pub fn new(settings: &StripeSettings) -> Result<Self, PaymentsError> {
        let mut builder = ClientBuilder::new(settings.api_key.clone()).timeout(settings.timeout);
        if let Some(url) = &settings.base_url {
            builder = builder.url(url.clone());
        }
        Ok(Self {
            client: builder
                .build()
                .map_err(|e| PaymentsError::Refused(e.to_string()))?,
            pace: Pace::new(settings.requests_per_second),
            attempts: settings.attempts.max(1),
        })
    }

    /// Sends one request, retrying transient failures with the same idempotency key.
    async fn call<R>(&self, request: &R, key: Option<String>) -> Result<R::Output, StripeError>
    where
        R: StripeRequest,
        R::Output: miniserde::Deserialize,
    {
        let strategy = match &key {
            Some(k) => RequestStrategy::Idempotent(
                IdempotencyKey::new(k).map_err(|e| StripeError::ConfigError(e.to_string()))?,
            ),
            None => RequestStrategy::Once,
        };
        let mut attempt = 0;
        loop {
            attempt += 1;
            self.pace.wait().await;
            let out = request
                .customize()
                .request_strategy(strategy.clone())
                .send(&self.client)
                .await;
            match out {
                Err(e) if transient(&e) && attempt < self.attempts => {
                    tracing::warn!(attempt, error = %e, "Stripe call failed; retrying with the same key");
                    tokio::time::sleep(Duration::from_millis(200 * 2_u64.pow(attempt))).await;
                }
                other => return other,
            }
        }
    }
}

fn transient(e: &StripeError) -> bool {
    match e {
        StripeError::Stripe(_, status) => matches!(status, 409 | 429 | 500..=599),
        StripeError::ClientError(_) | StripeError::Timeout => true,
        StripeError::JSONDeserialize(_) | StripeError::ConfigError(_) => false,
    }
}

fn payments_error(e: StripeError) -> PaymentsError {
    if transient(&e) {
        PaymentsError::Unavailable(e.to_string())
    } else {
        PaymentsError::Refused(e.to_string())
    }
}

fn stripe_currency(c: Currency) -> Result<stripe_types::Currency, PaymentsError> {
    c.code()
        .to_ascii_lowercase()
        .parse()
        .map_err(|_| PaymentsError::Refused(format!("Stripe does not know {c}")))
}

fn currency_of(invoice: &Invoice) -> Option<Currency> {
    invoice
        .currency
        .to_string()
        .to_ascii_uppercase()
        .parse()
        .ok()
}

/// Minor units to major units in the invoice's currency.
fn major(invoice: &Invoice, minor: i64) -> Decimal {
    match currency_of(invoice) {
        Some(c) => c.from_minor_units(minor),
        None => Decimal::from(minor),
    }
}

/// The invoice as billing reads it, counting only the lines Stripe embedded (at most 10): use
/// [`StripePayments::read`] for the true count. Webhooks have no client to page with: for them the
/// count is a lower bound when the invoice has more than 10 lines.
fn remote(invoice: &Invoice) -> RemoteInvoice {
    let meta = invoice.metadata.clone().unwrap_or_default();
    RemoteInvoice {
        id: invoice
            .id
            .as_ref()
            .map(|i| i.as_str().to_owned())
            .unwrap_or_default(),
        status: match invoice.status {
            Some(InvoiceStatus::Open) => RemoteStatus::Open,
            Some(InvoiceStatus::Paid) => RemoteStatus::Paid,
            Some(InvoiceStatus::Void) => RemoteStatus::Void,
            Some(InvoiceStatus::Uncollectible) => RemoteStatus::Uncollectible,
            _ => RemoteStatus::Draft,
        },
        total: major(invoice, invoice.total),
        amount_paid: major(invoice, invoice.amount_paid),
        line_count: invoice.lines.data.len(),
        hosted_invoice_url: invoice.hosted_invoice_url.clone(),
        account: meta.get("account").and_then(|a| AccountId::parse(a).ok()),
        month: meta.get("month").and_then(|m| m.parse::<Month>().ok()),
        customer: invoice
            .customer
            .as_ref()
            .map(|c| c.id().as_str().to_owned()),
        livemode: invoice.livemode,
    }
}

fn id_of(invoice: &Invoice) -> Option<String> {
    invoice.id.as_ref().map(|i| i.as_str().to_owned())
}

/// Whether a listed invoice is the account-month's (by metadata) and not void.
fn is_invoice_of(invoice: &Invoice, key: &InvoiceKey, month: &str) -> bool {
    let meta = invoice.metadata.as_ref();
    let value = |k: &str| meta.and_then(|m| m.get(k)).map(String::as_str);
    value("account") == Some(key.account.as_str())
        && value("month") == Some(month)
        && invoice.status != Some(InvoiceStatus::Void)
}

fn card_of(method: &stripe_shared::PaymentMethod) -> DefaultMethod {
    DefaultMethod {
        id: method.id.as_str().to_owned(),
        card: method.card.as_ref().map(|c| CardSummary {
            brand: c.brand.clone(),
            last4: c.last4.clone(),
            exp_month: u32::try_from(c.exp_month).unwrap_or_default(),
            exp_year: u32::try_from(c.exp_year).unwrap_or_default(),
        }),
    }
}

/// `GET /v1/events/{id}`, read as raw JSON so that the webhook's own parsing reads it.
struct FetchEvent(String);

impl StripeRequest for FetchEvent {
    type Output = miniserde::json::Value;

    fn build(&self) -> stripe_client_core::RequestBuilder {
        stripe_client_core::RequestBuilder::new(
            stripe_client_core::StripeMethod::Get,
            format!("/events/{}", self.0),
        )
    }
}

impl StripePayments {
    /// [`remote`] with the true line count: when Stripe embedded only the first lines, the rest
    /// are counted by paging through `GET /v1/invoices/{id}/lines`.
    async fn read(&self, invoice: &Invoice) -> Result<RemoteInvoice, PaymentsError> {
        let mut out = remote(invoice);
        if !invoice.lines.has_more {
            return Ok(out);
        }
        let id = id_of(invoice).ok_or_else(|| {
            PaymentsError::Refused("Stripe returned an invoice without id".into())
        })?;
        let mut after = invoice.lines.data.last().map(|l| l.id.as_str().to_owned());
        loop {
            let mut request = ListInvoiceInvoiceLineItem::new(id.as_str()).limit(100);
            if let Some(a) = &after {
                request = request.starting_after(a.as_str());
            }
            let page = self.call(&request, None).await.map_err(payments_error)?;
            out.line_count += page.data.len();
            match page.data.last() {
                Some(last) if page.has_more => after = Some(last.id.as_str().to_owned()),
                _ => return Ok(out),
            }
        }
    }

    /// An event as Stripe stored it (Stripe keeps events for 30 days), read exactly as a webhook
    /// delivery of it would be: for an operator's replay.
    pub async fn stored_event(&self, id: &str) -> Result<VerifiedEvent, PaymentsError> {
        if id.is_empty() || !id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_') {
            return Err(PaymentsError::Refused(format!(
                "`{id}` is not a Stripe event id"
            )));
        }
        let raw = self
            .call(&FetchEvent(id.to_owned()), None)
            .await
            .map_err(payments_error)?;
        read_fetched_event(&miniserde::json::to_string(&raw))
            .map_err(|e| PaymentsError::Refused(e.to_string()))
    }
}

impl Payments for StripePayments {
    async fn create_customer(&self, account: &AccountId) -> Result<String, PaymentsError> {
        let request = CreateCustomer::new()
            .description(format!("billing account {account}"))
            .metadata(HashMap::from([(
                "account".to_owned(),
                account.as_str().to_owned(),
            )]));
        let customer = self
            .call(&request, Some(format!("customer:{account}")))
            .await
            .map_err(payments_error)?;
        Ok(customer.id.as_str().to_owned())
    }

    async fn checkout_setup_url(
        &self,
        customer: &str,
        currency: Currency,
        return_url: &str,
    ) -> Result<String, PaymentsError> {
        let request = CreateCheckoutSession::new()
            .mode(CheckoutSessionMode::Setup)
            .customer(customer)
            .currency(stripe_currency(currency)?)
            .success_url(format!("{return_url}?payment_method=updated"))
            .cancel_url(return_url);
        let session = self.call(&request, None).await.map_err(payments_error)?;
        session
            .url
            .ok_or_else(|| PaymentsError::Refused("Checkout returned no URL".into()))
    }

    async fn portal_url(&self, customer: &str, return_url: &str) -> Result<String, PaymentsError> {
        let request = CreateBillingPortalSession::new()
            .customer(customer)
            .return_url(return_url);
        Ok(self.call(&request, None).await.map_err(payments_error)?.url)
    }

    async fn set_default_method(&self, customer: &str, method: &str) -> Result<(), PaymentsError> {
        let mut settings = UpdateCustomerInvoiceSettings::new();
        settings.default_payment_method = Some(method.to_owned());
        let request = UpdateCustomer::new(customer).invoice_settings(settings);
        self.call(&request, Some(format!("default:{customer}:{method}")))
            .await
            .map_err(payments_error)?;
        Ok(())
    }

    async fn customer(&self, customer: &str) -> Result<CustomerView, PaymentsError> {
        let request = RetrieveCustomer::new(customer)
            .expand(vec!["invoice_settings.default_payment_method".to_owned()]);
        match self.call(&request, None).await.map_err(payments_error)? {
            RetrieveCustomerReturned::Customer(c) => Ok(CustomerView {
                account: c
                    .metadata
                    .as_ref()
                    .and_then(|m| m.get("account"))
                    .and_then(|a| AccountId::parse(a).ok()),
                default_method: c
                    .invoice_settings
                    .as_ref()
                    .and_then(|s| s.default_payment_method.as_ref())
                    .map(|m| match m {
                        stripe_types::Expandable::Object(pm) => card_of(pm),
                        stripe_types::Expandable::Id(id) => DefaultMethod {
                            id: id.as_str().to_owned(),
                            card: None,
                        },
                    }),
            }),
            RetrieveCustomerReturned::DeletedCustomer(_) => Ok(CustomerView {
                account: None,
                default_method: None,
            }),
        }
    }

    async fn setup_intent(
        &self,
        id: &str,
    ) -> Result<(Option<String>, Option<String>), PaymentsError> {
        let intent = self
            .call(&RetrieveSetupIntent::new(id), None)
            .await
            .map_err(payments_error)?;
        Ok((
            intent.customer.map(|c| c.id().as_str().to_owned()),
            intent.payment_method.map(|m| m.id().as_str().to_owned()),
        ))
    }

    async fn find_invoice(
        &self,
        key: &InvoiceKey,
        customer: &str,
    ) -> Result<Option<RemoteInvoice>, PaymentsError> {
        // The list (newest first) is strongly consistent, unlike the search API; a read: no key.
        let month = key.month.to_string();
        let mut after: Option<String> = None;
        loop {
            let mut request = ListInvoice::new().customer(customer).limit(100);
            if let Some(a) = &after {
                request = request.starting_after(a.as_str());
            }
            let page = self.call(&request, None).await.map_err(payments_error)?;
            if let Some(found) = page.data.iter().find(|i| is_invoice_of(i, key, &month)) {
                return self.read(found).await.map(Some);
            }
            match page.data.last().and_then(id_of) {
                Some(last) if page.has_more => after = Some(last),
                _ => return Ok(None),
            }
        }
    }

    async fn create_invoice(
        &self,
        key: &InvoiceKey,
        customer: &str,
        currency: Currency,
    ) -> Result<RemoteInvoice, PaymentsError> {
        let request = CreateInvoice::new()
            .customer(customer)
            .currency(stripe_currency(currency)?)
            .auto_advance(false)
            .collection_method(InvoiceCollectionMethod::ChargeAutomatically)
            .description(format!("Cloud usage, {}", key.month))
            .metadata(HashMap::from([
                ("account".to_owned(), key.account.as_str().to_owned()),
                ("month".to_owned(), key.month.to_string()),
            ]));
        let invoice = self
            .call(&request, Some(key.idempotency_key("create")))
            .await
            .map_err(payments_error)?;
        Ok(remote(&invoice))
    }

    async fn add_lines(
        &self,
        key: &InvoiceKey,
        invoice: &str,
        currency: Currency,
        lines: &[ChargeLine],
    ) -> Result<RemoteInvoice, PaymentsError> {
        let lines = lines
            .iter()
            .map(|l| {
                let minor = currency.to_minor_units(l.amount).map_err(|_| {
                    PaymentsError::Refused(format!("{} is not a {currency} amount", l.amount))
                })?;
                let mut line = AddLinesInvoiceLines::new();
                line.amount = Some(minor);
                line.description = Some(l.description.clone());
                Ok(line)
            })
            .collect::<Result<Vec<_>, PaymentsError>>()?;
        let invoice = self
            .call(
                &AddLinesInvoice::new(invoice, lines),
                Some(key.idempotency_key("lines")),
            )
            .await
            .map_err(payments_error)?;
        Ok(remote(&invoice))
    }

    async fn finalize(
        &self,
        key: &InvoiceKey,
        invoice: &str,
    ) -> Result<RemoteInvoice, PaymentsError> {
        let request = FinalizeInvoiceInvoice::new(invoice).auto_advance(false);
        let invoice = self
            .call(&request, Some(key.idempotency_key("finalize")))
            .await
            .map_err(payments_error)?;
        Ok(remote(&invoice))
    }

    async fn pay(&self, key: &InvoiceKey, invoice: &str) -> Result<PayOutcome, PaymentsError> {
        let request = PayInvoice::new(invoice).off_session(true);
        let (err, status) = match self.call(&request, Some(key.idempotency_key("pay"))).await {
            Ok(paid) => return Ok(PayOutcome::Paid(remote(&paid))),
            Err(e) if transient(&e) => return Err(payments_error(e)),
            Err(StripeError::Stripe(err, status)) => (err, status),
            Err(e) => return Err(payments_error(e)),
        };
        let code = err
            .code
            .as_ref()
            .map(|c| c.as_str().to_owned())
            .unwrap_or_default();
        let message = err
            .message
            .clone()
            .unwrap_or_else(|| "the payment was not accepted".into());
        if matches!(
            err.code,
            Some(ApiErrorsCode::InvoicePaymentIntentRequiresAction)
        ) {
            return Ok(PayOutcome::ActionRequired { message });
        }
        if err.type_ == ApiErrorsType::CardError
            || status == 402
            || message.contains("payment method")
        {
            // Declined, or no usable payment method: the user must act, not us.
            return Ok(PayOutcome::Declined { code, message });
        }
        // Stripe keeps idempotency keys for 24 hours: a retry after that finds an invoice paid by
        // the first attempt (or on its hosted page) and is refused. Stripe's state decides.
        let current = self.invoice(invoice).await?;
        if current.status == RemoteStatus::Paid {
            return Ok(PayOutcome::Paid(current));
        }
        Err(PaymentsError::Refused(format!("{status}: {message}")))
    }

    async fn invoice(&self, id: &str) -> Result<RemoteInvoice, PaymentsError> {
        let invoice = self
            .call(&RetrieveInvoice::new(id), None)
            .await
            .map_err(payments_error)?;
        self.read(&invoice).await
    }

    async fn void(&self, key: &InvoiceKey, invoice: &str) -> Result<RemoteInvoice, PaymentsError> {
        let invoice = self
            .call(
                &VoidInvoiceInvoice::new(invoice),
                Some(key.idempotency_key("void")),
            )
            .await
            .map_err(payments_error)?;
        Ok(remote(&invoice))
    }
}
