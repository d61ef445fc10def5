//! The double's side of the `Payments` port: what the Stripe adapter and Stripe do together.

use billing_rules::Currency;

use super::{emit, invoice_answer, remote, Answer, CardKind, Invoice, MemoryPayments};
use crate::ids::AccountId;
use crate::payments::{
    CardSummary, ChargeLine, CustomerView, DefaultMethod, InvoiceKey, PayOutcome, Payments,
    PaymentsError, RemoteInvoice, RemoteStatus,
};
use crate::webhooks::InvoiceChange;

impl Payments for MemoryPayments {
    async fn create_customer(&self, account: &AccountId) -> Result<String, PaymentsError> {
        let account = account.clone();
        match self.keyed(Some(format!("customer:{account}")), String::new(), |st| {
            let id = st.id("cus");
            st.customers.insert(id.clone(), (account, None));
            Answer::Text(id)
        }) {
            Answer::Text(id) => Ok(id),
            other => Err(PaymentsError::Refused(format!("{other:?}"))),
        }
    }

    async fn checkout_setup_url(
        &self,
        customer: &str,
        _currency: Currency,
        _return_url: &str,
    ) -> Result<String, PaymentsError> {
        Ok(format!("https://checkout.stripe.test/setup/{customer}"))
    }

    async fn portal_url(&self, customer: &str, _return_url: &str) -> Result<String, PaymentsError> {
        Ok(format!("https://billing.stripe.test/portal/{customer}"))
    }

    async fn set_default_method(&self, customer: &str, method: &str) -> Result<(), PaymentsError> {
        let mut st = self.state();
        st.calls += 1;
        if !st.methods.contains_key(method) {
            return Err(PaymentsError::Refused(format!(
                "no payment method {method}"
            )));
        }
        match st.customers.get_mut(customer) {
            Some(c) => {
                c.1 = Some(method.to_owned());
                Ok(())
            }
            None => Err(PaymentsError::Refused(format!("no customer {customer}"))),
        }
    }

    async fn customer(&self, customer: &str) -> Result<CustomerView, PaymentsError> {
        let mut st = self.state();
        st.calls += 1;
        let (account, method) = st
            .customers
            .get(customer)
            .cloned()
            .ok_or_else(|| PaymentsError::Refused(format!("no customer {customer}")))?;
        Ok(CustomerView {
            account: Some(account),
            default_method: method.map(|id| DefaultMethod {
                card: Some(CardSummary {
                    brand: "visa".into(),
                    last4: match st.methods.get(&id) {
                        Some(CardKind::Declined) => "0002".into(),
                        Some(CardKind::RequiresAction) => "3184".into(),
                        _ => "4242".into(),
                    },
                    exp_month: 12,
                    exp_year: 2034,
                }),
                id,
            }),
        })
    }

    async fn setup_intent(
        &self,
        _id: &str,
    ) -> Result<(Option<String>, Option<String>), PaymentsError> {
        Ok((None, None))
    }

    async fn find_invoice(
        &self,
        key: &InvoiceKey,
        customer: &str,
    ) -> Result<Option<RemoteInvoice>, PaymentsError> {
        let mut st = self.state();
        st.calls += 1;
        Ok(st
            .invoices
            .iter()
            .rev()
            .find(|(_, i)| {
                i.customer == customer
                    && i.account == key.account
                    && i.month == key.month
                    && i.status != RemoteStatus::Void
            })
            .map(|(id, i)| remote(id, i)))
    }

    async fn create_invoice(
        &self,
        key: &InvoiceKey,
        customer: &str,
        currency: Currency,
    ) -> Result<RemoteInvoice, PaymentsError> {
        let (account, month, customer) = (key.account.clone(), key.month, customer.to_owned());
        let answer = self.keyed(
            Some(key.idempotency_key("create")),
            format!("{customer}:{currency}"),
            |st| {
                if !st.customers.contains_key(&customer) {
                    return Answer::Refused(format!("no customer {customer}"));
                }
                let id = st.id("in");
                let inv = Invoice {
                    customer,
                    account,
                    month,
                    currency,
                    status: RemoteStatus::Draft,
                    lines: Vec::new(),
                    paid: 0,
                };
                let r = remote(&id, &inv);
                st.invoices.insert(id, inv);
                Answer::Invoice(r)
            },
        );
        invoice_answer(answer)
    }

    async fn add_lines(
        &self,
        key: &InvoiceKey,
        invoice: &str,
        currency: Currency,
        lines: &[ChargeLine],
    ) -> Result<RemoteInvoice, PaymentsError> {
        let minor = lines
            .iter()
            .map(|l| currency.to_minor_units(l.amount))
            .collect::<Result<Vec<i64>, _>>()
            .map_err(|e| PaymentsError::Refused(e.to_string()))?;
        let id = invoice.to_owned();
        let answer = self.keyed(
            Some(key.idempotency_key("lines")),
            format!("{id}:{minor:?}"),
            |st| match st.invoices.get_mut(&id) {
                Some(i) if i.status == RemoteStatus::Draft => {
                    i.lines.extend(minor);
                    Answer::Invoice(remote(&id, i))
                }
                Some(_) => Answer::Refused("invoice_not_editable".into()),
                None => Answer::Refused(format!("no invoice {id}")),
            },
        );
        invoice_answer(answer)
    }

    async fn finalize(
        &self,
        key: &InvoiceKey,
        invoice: &str,
    ) -> Result<RemoteInvoice, PaymentsError> {
        let id = invoice.to_owned();
        let answer = self.keyed(
            Some(key.idempotency_key("finalize")),
            id.clone(),
            |st| match st.invoices.get_mut(&id) {
                Some(i) if i.status == RemoteStatus::Draft => {
                    i.status = RemoteStatus::Open;
                    let r = remote(&id, i);
                    emit(st, InvoiceChange::Finalized, r.clone());
                    Answer::Invoice(r)
                }
                Some(_) => Answer::Refused("invoice_not_editable: already finalized".into()),
                None => Answer::Refused(format!("no invoice {id}")),
            },
        );
        invoice_answer(answer)
    }

    async fn pay(&self, key: &InvoiceKey, invoice: &str) -> Result<PayOutcome, PaymentsError> {
        self.pay_keyed(key.idempotency_key("pay"), invoice)
    }

    async fn pay_attempt(
        &self,
        key: &InvoiceKey,
        invoice: &str,
        attempt: &str,
    ) -> Result<PayOutcome, PaymentsError> {
        self.pay_keyed(key.idempotency_key(&format!("pay:{attempt}")), invoice)
    }

    async fn invoice(&self, id: &str) -> Result<RemoteInvoice, PaymentsError> {
        let mut st = self.state();
        st.calls += 1;
        st.invoices
            .get(id)
            .map(|i| remote(id, i))
            .ok_or_else(|| PaymentsError::Refused(format!("no invoice {id}")))
    }

    async fn void(&self, key: &InvoiceKey, invoice: &str) -> Result<RemoteInvoice, PaymentsError> {
        let id = invoice.to_owned();
        let answer = self.keyed(Some(key.idempotency_key("void")), id.clone(), |st| match st
            .invoices
            .get_mut(&id)
        {
            Some(i) if i.status == RemoteStatus::Open => {
                i.status = RemoteStatus::Void;
                let r = remote(&id, i);
                emit(st, InvoiceChange::Voided, r.clone());
                Answer::Invoice(r)
            }
            Some(_) => Answer::Refused("only an open invoice can be voided".into()),
            None => Answer::Refused(format!("no invoice {id}")),
        });
        invoice_answer(answer)
    }
}
