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
use crate::payments::{PayOutcome, PaymentsError, RemoteInvoice, RemoteStatus};
use crate::webhooks::{InvoiceChange, PaymentEvent, VerifiedEvent};

mod port;

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

    /// Charges an invoice under an idempotency key (the first charge or a retry).
    fn pay_keyed(&self, key: String, invoice: &str) -> Result<PayOutcome, PaymentsError> {
        let id = invoice.to_owned();
        let answer = self.keyed(Some(key), id.clone(), |st| match charge(st, &id) {
            Ok(outcome) => Answer::Pay(outcome),
            Err(e) => Answer::Refused(e),
        });
        match answer {
            Answer::Pay(p) => Ok(p),
            Answer::Refused(e) => Err(PaymentsError::Refused(e)),
            other => Err(PaymentsError::Refused(format!("{other:?}"))),
        }
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
        invoice_pdf: (i.status != RemoteStatus::Draft)
            .then(|| format!("https://invoice.stripe.test/{id}/pdf")),
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
        // As the Stripe adapter reports it: Stripe refuses to pay a paid invoice, the adapter then
        // reads it and reports it paid. No second charge.
        RemoteStatus::Paid => return Ok(PayOutcome::Paid(remote(id, &inv))),
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
