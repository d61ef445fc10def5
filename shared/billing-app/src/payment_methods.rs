//! The billing page's payment method (SPEC §6): hosted Stripe pages to add or change it, and its
//! display data read live from Stripe. Card data never reaches us; only the customer id is stored.

use serde::Serialize;
use tracing::warn;

use billing_rules::Currency;

use crate::ids::AccountId;
use crate::payments::{CustomerStore, Payments, PaymentsError};
use crate::store::StoreError;

/// A hosted page the user is sent to.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct HostedPage {
    /// Where to send the browser.
    pub url: String,
}

/// The primary payment method as the billing page shows it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum PaymentMethodView {
    /// No payment method is saved: the next charge will fail unless one is added.
    None,
    /// A card.
    Card {
        /// `visa`, `mastercard`, ...
        brand: String,
        /// The last four digits.
        last4: String,
        /// Expiry month, 1–12.
        exp_month: u32,
        /// Expiry year.
        exp_year: u32,
    },
    /// A method that is not a card (a bank debit, ...).
    Other,
    /// Stripe could not be asked just now; the rest of the page is still correct.
    Unavailable,
}

/// A payment method request failed.
#[derive(Debug, thiserror::Error)]
pub enum PaymentMethodError {
    /// The store failed.
    #[error("billing data could not be read or written")]
    Store(#[from] StoreError),
    /// Stripe failed or refused.
    #[error(transparent)]
    Payments(#[from] PaymentsError),
}

/// The payment method use cases for one account at a time.
#[derive(Debug)]
pub struct PaymentMethods<S, P> {
    store: S,
    payments: P,
    currency: Currency,
    return_url: String,
}

impl<S: CustomerStore, P: Payments> PaymentMethods<S, P> {
    /// Hosted pages send the user back to `return_url` (the billing page).
    pub fn new(store: S, payments: P, currency: Currency, return_url: String) -> Self {
        Self {
            store,
            payments,
            currency,
            return_url,
        }
    }

    /// The account's Stripe customer, created on first need. Creation is idempotent per account
    /// and the store keeps the first one recorded, so concurrent or repeated calls end with one.
    async fn customer(&self, account: &AccountId) -> Result<String, PaymentMethodError> {
        if let Some(c) = self.store.customer_of(account).await? {
            return Ok(c);
        }
        let created = self.payments.create_customer(account).await?;
        Ok(self.store.set_customer(account, &created).await?)
    }

    /// A Stripe Checkout session in setup mode; the saved method becomes the default for invoices
    /// when Stripe reports the completed session (webhook).
    pub async fn checkout(&self, account: &AccountId) -> Result<HostedPage, PaymentMethodError> {
        let customer = self.customer(account).await?;
        let url = self
            .payments
            .checkout_setup_url(&customer, self.currency, &self.return_url)
            .await?;
        Ok(HostedPage { url })
    }

    /// A Stripe Billing portal session, where saved methods are managed.
    pub async fn portal(&self, account: &AccountId) -> Result<HostedPage, PaymentMethodError> {
        let customer = self.customer(account).await?;
        let url = self
            .payments
            .portal_url(&customer, &self.return_url)
            .await?;
        Ok(HostedPage { url })
    }

    /// The default method, live from Stripe; never creates a customer. A Stripe failure is shown
    /// as `Unavailable` rather than failing the whole page.
    pub async fn current(&self, account: &AccountId) -> Result<PaymentMethodView, StoreError> {
        let Some(customer) = self.store.customer_of(account).await? else {
            return Ok(PaymentMethodView::None);
        };
        Ok(match self.payments.customer(&customer).await {
            Ok(view) => match view.default_method {
                None => PaymentMethodView::None,
                Some(m) => match m.card {
                    Some(c) => PaymentMethodView::Card {
                        brand: c.brand,
                        last4: c.last4,
                        exp_month: c.exp_month,
                        exp_year: c.exp_year,
                    },
                    None => PaymentMethodView::Other,
                },
            },
            Err(e) => {
                warn!(error = %e, %account, "payment method not read from Stripe");
                PaymentMethodView::Unavailable
            }
        })
    }
}
