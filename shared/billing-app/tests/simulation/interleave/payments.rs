//! The payment processor with a yield point before each call.

use super::*;

/// The Stripe double, yielding before some requests.
#[derive(Debug, Clone)]
pub struct YieldingPayments {
    /// The double.
    pub inner: MemoryPayments,
    /// Where to yield.
    pub yields: Yields,
}

impl Payments for YieldingPayments {
    async fn create_customer(&self, account: &AccountId) -> Result<String, PaymentsError> {
        self.yields.point().await;
        self.inner.create_customer(account).await
    }
    async fn checkout_setup_url(
        &self,
        customer: &str,
        currency: Currency,
        return_url: &str,
    ) -> Result<String, PaymentsError> {
        self.yields.point().await;
        self.inner
            .checkout_setup_url(customer, currency, return_url)
            .await
    }
    async fn portal_url(&self, customer: &str, return_url: &str) -> Result<String, PaymentsError> {
        self.yields.point().await;
        self.inner.portal_url(customer, return_url).await
    }
    async fn set_default_method(&self, customer: &str, method: &str) -> Result<(), PaymentsError> {
        self.yields.point().await;
        self.inner.set_default_method(customer, method).await
    }
    async fn customer(&self, customer: &str) -> Result<CustomerView, PaymentsError> {
        self.yields.point().await;
        self.inner.customer(customer).await
    }
    async fn setup_intent(
        &self,
        id: &str,
    ) -> Result<(Option<String>, Option<String>), PaymentsError> {
        self.yields.point().await;
        self.inner.setup_intent(id).await
    }
    async fn find_invoice(
        &self,
        key: &InvoiceKey,
        customer: &str,
    ) -> Result<Option<RemoteInvoice>, PaymentsError> {
        self.yields.point().await;
        self.inner.find_invoice(key, customer).await
    }
    async fn create_invoice(
        &self,
        key: &InvoiceKey,
        customer: &str,
        currency: Currency,
    ) -> Result<RemoteInvoice, PaymentsError> {
        self.yields.point().await;
        self.inner.create_invoice(key, customer, currency).await
    }
    async fn add_lines(
        &self,
        key: &InvoiceKey,
        invoice: &str,
        currency: Currency,
        lines: &[ChargeLine],
    ) -> Result<RemoteInvoice, PaymentsError> {
        self.yields.point().await;
        self.inner.add_lines(key, invoice, currency, lines).await
    }
    async fn finalize(
        &self,
        key: &InvoiceKey,
        invoice: &str,
    ) -> Result<RemoteInvoice, PaymentsError> {
        self.yields.point().await;
        self.inner.finalize(key, invoice).await
    }
    async fn pay(&self, key: &InvoiceKey, invoice: &str) -> Result<PayOutcome, PaymentsError> {
        self.yields.point().await;
        self.inner.pay(key, invoice).await
    }
    async fn pay_attempt(
        &self,
        key: &InvoiceKey,
        invoice: &str,
        attempt: &str,
    ) -> Result<PayOutcome, PaymentsError> {
        self.yields.point().await;
        self.inner.pay_attempt(key, invoice, attempt).await
    }
    async fn invoice(&self, id: &str) -> Result<RemoteInvoice, PaymentsError> {
        self.yields.point().await;
        self.inner.invoice(id).await
    }
    async fn void(&self, key: &InvoiceKey, invoice: &str) -> Result<RemoteInvoice, PaymentsError> {
        self.yields.point().await;
        self.inner.void(key, invoice).await
    }
}
