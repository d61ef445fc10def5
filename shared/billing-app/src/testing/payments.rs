//! A Stripe double without HTTP, with Stripe's semantics where money depends on them: idempotency
//! keys replay the first answer for 24 hours of its clock and are then forgotten; invoices move
//! draft → open → paid | void | uncollectible; amounts are kept in minor units, so an amount that is
//! not one is refused as Stripe refuses it; cards succeed, decline or ask for authentication; and
//! every change Stripe would report is queued as the webhook event it would send.

use std::collections::{BTreeMap, HashMap};
use std::sync::{Arc, Mutex, MutexGuard};

use chrono::{DateTime, TimeDelta, Utc};

use billing_rules::{Currency, Month};

use crate::clock::Clock;
use crate::ids::AccountId;
use crate::payments::{
    CardSummary, ChargeLine, CustomerView, DefaultMethod, InvoiceKey, PayOutcome, Payments,
    PaymentsError, RemoteInvoice, RemoteStatus,
};
use crate::webhooks::{InvoiceChange, PaymentEvent, VerifiedEvent};

/// How long Stripe keeps an idempotency key.
pub const IDEMPOTENCY_WINDOW: TimeDelta = TimeDelta::hours(24);

/// What a saved test card does when charged.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CardKind {
    /// Charges succeed (`pm_card_visa`).
    Succeeds,
    /// Charges are declined (`pm_card_chargeDeclined`).
    Declined,
    /// The bank asks for authentication (`pm_card_authenticationRequired`).
    RequiresAction,
}

/// One charge attempt.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ChargeAttempt {
    /// The invoice charged.
    pub invoice: String,
    /// Its account and month, from its metadata.
    pub account: AccountId,
    /// The month.
    pub month: Month,
    /// Minor units.
    pub amount: i64,
    /// Whether money moved.
    pub succeeded: bool,
}

#[derive(Debug, Clone)]
struct Invoice {
    customer: String,
    account: AccountId,
    month: Month,
    currency: Currency,
    status: RemoteStatus,
    lines: Vec<i64>,
    paid: i64,
}

#[derive(Debug, Clone)]
enum Answer {
    Text(String),
    Invoice(RemoteInvoice),
    Pay(PayOutcome),
    Refused(String),
}

#[derive(Debug, Default)]
struct State {
    seq: u64,
    customers: BTreeMap<String, (AccountId, Option<String>)>,
    methods: HashMap<String, CardKind>,
    invoices: BTreeMap<String, Invoice>,
    keys: HashMap<String, (DateTime<Utc>, String, Answer)>,
    charges: Vec<ChargeAttempt>,
    events: Vec<VerifiedEvent>,
    calls: u64,
}

impl State {
    fn id(&mut self, prefix: &str) -> String {
        self.seq += 1;
        format!("{prefix}_{:08}", self.seq)
    }
}

/// The double; clones share the same Stripe.
#[derive(Clone)]
pub struct MemoryPayments {
    clock: Arc<dyn Clock>,
    state: Arc<Mutex<State>>,
}

impl std::fmt::Debug for MemoryPayments {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MemoryPayments").finish_non_exhaustive()
    }
}

impl MemoryPayments {
    /// An empty Stripe on a clock (idempotency keys expire by it).
    pub fn new(clock: Arc<dyn Clock>) -> Self {
        Self {
            clock,
            state: Arc::new(Mutex::new(State::default())),
        }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Saves a card as the customer's default, as Checkout in setup mode does; returns its id.
    /// The `setup_intent.succeeded` event is queued.
    pub fn save_card(&self, customer: &str, kind: CardKind) -> Option<String> {
        let mut st = self.state();
        st.customers.get(customer)?;
        let id = st.id("pm");
        st.methods.insert(id.clone(), kind);
        if let Some(c) = st.customers.get_mut(customer) {
            c.1 = Some(id.clone());
        }
        let evt = st.id("evt");
        st.events.push(VerifiedEvent {
            id: evt,
            event: PaymentEvent::MethodSetUp {
                customer: Some(customer.to_owned()),
                setup_intent: None,
                method: Some(id.clone()),
            },
        });
        Some(id)
    }

    /// The user pays an open invoice on its hosted page with the default card.
    pub fn pay_on_hosted_page(&self, invoice: &str) -> bool {
        let mut st = self.state();
        matches!(charge(&mut st, invoice), Ok(PayOutcome::Paid(_)))
    }

    /// Every charge attempt so far.
    pub fn charges(&self) -> Vec<ChargeAttempt> {
        self.state().charges.clone()
    }

    /// The events Stripe would have sent since the last call, in the order it made them.
    pub fn take_events(&self) -> Vec<VerifiedEvent> {
        std::mem::take(&mut self.state().events)
    }

    /// Every invoice of an account-month, void ones included.
    pub fn invoices_of(&self, account: &AccountId, month: Month) -> Vec<RemoteInvoice> {
        let st = self.state();
        st.invoices
            .iter()
            .filter(|(_, i)| &i.account == account && i.month == month)
            .map(|(id, i)| remote(id, i))
            .collect()
    }

    /// Requests made (reads included).
    pub fn calls(&self) -> u64 {
        self.state().calls
    }

    /// Runs a mutating call once per idempotency key within Stripe's window: a repeat with the same
    /// parameters replays the first answer, with others it is refused; after 24 hours the key is
    /// forgotten and the call is new.
    fn keyed(
        &self,
        key: Option<String>,
        fingerprint: String,
        call: impl FnOnce(&mut State) -> Answer,
    ) -> Answer {
        let now = self.clock.now();
        let mut st = self.state();
        st.calls += 1;
        if let Some(k) = &key {
            if let Some((at, seen, answer)) = st.keys.get(k) {
                if now - *at < IDEMPOTENCY_WINDOW {
                    return if *seen == fingerprint {
                        answer.clone()
                    } else {
                        Answer::Refused("idempotency_key_in_use".into())
                    };
                }
            }
        }
        let answer = call(&mut st);
        if let Some(k) = key {
            st.keys.insert(k, (now, fingerprint, answer.clone()));
        }
        answer
    }
}

fn remote(id: &str, i: &Invoice) -> RemoteInvoice {
    let total: i64 = i.lines.iter().sum();
    RemoteInvoice {
        id: id.to_owned(),
        status: i.status,
        total: i.currency.from_minor_units(total),
        amount_paid: i.currency.from_minor_units(i.paid),
        line_count: i.lines.len(),
        hosted_invoice_url: (i.status != RemoteStatus::Draft)
            .then(|| format!("https://invoice.stripe.test/{id}")),
        account: Some(i.account.clone()),
        month: Some(i.month),
        customer: Some(i.customer.clone()),
        livemode: false,
    }
}

fn emit(st: &mut State, change: InvoiceChange, invoice: RemoteInvoice) {
    let id = st.id("evt");
    st.events.push(VerifiedEvent {
        id,
        event: PaymentEvent::Invoice { change, invoice },
    });
}

fn charge(st: &mut State, id: &str) -> Result<PayOutcome, String> {
    let inv = st.invoices.get(id).cloned().ok_or("no such invoice")?;
    match inv.status {
        RemoteStatus::Open | RemoteStatus::Uncollectible => {}
        RemoteStatus::Paid => return Err("invoice_already_paid".into()),
        _ => return Err("invoice_not_open".into()),
    }
    let total: i64 = inv.lines.iter().sum();
    let card = st
        .customers
        .get(&inv.customer)
        .and_then(|c| c.1.as_ref())
        .and_then(|m| st.methods.get(m))
        .copied();
    let Some(card) = card else {
        return Ok(PayOutcome::Declined {
            code: "invoice_no_payment_method".into(),
            message: "This customer has no default payment method.".into(),
        });
    };
    let succeeded = card == CardKind::Succeeds;
    st.charges.push(ChargeAttempt {
        invoice: id.to_owned(),
        account: inv.account.clone(),
        month: inv.month,
        amount: total,
        succeeded,
    });
    match card {
        CardKind::Succeeds => {
            let i = st.invoices.get_mut(id).ok_or("no such invoice")?;
            i.status = RemoteStatus::Paid;
            i.paid = total;
            let r = remote(id, i);
            emit(st, InvoiceChange::Paid, r.clone());
            Ok(PayOutcome::Paid(r))
        }
        CardKind::Declined => {
            let r = remote(id, &inv);
            emit(st, InvoiceChange::PaymentFailed, r);
            Ok(PayOutcome::Declined {
                code: "card_declined".into(),
                message: "Your card was declined.".into(),
            })
        }
        CardKind::RequiresAction => {
            let r = remote(id, &inv);
            emit(st, InvoiceChange::ActionRequired, r);
            Ok(PayOutcome::ActionRequired {
                message: "The payment needs the card holder's authentication.".into(),
            })
        }
    }
}

fn invoice_answer(answer: Answer) -> Result<RemoteInvoice, PaymentsError> {
    match answer {
        Answer::Invoice(i) => Ok(i),
        Answer::Refused(e) => Err(PaymentsError::Refused(e)),
        other => Err(PaymentsError::Refused(format!(
            "unexpected answer {other:?}"
        ))),
    }
}

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
        let id = invoice.to_owned();
        let answer = self.keyed(
            Some(key.idempotency_key("pay")),
            id.clone(),
            |st| match charge(st, &id) {
                Ok(outcome) => Answer::Pay(outcome),
                Err(e) => Answer::Refused(e),
            },
        );
        match answer {
            Answer::Pay(p) => Ok(p),
            Answer::Refused(e) => Err(PaymentsError::Refused(e)),
            other => Err(PaymentsError::Refused(format!("{other:?}"))),
        }
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
