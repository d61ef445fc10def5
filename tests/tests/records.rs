//! Credit grants with their ledger, and invoice records, on both stores.

use billing_app::credits::{CreditStore, GrantError, LedgerEntry, NewGrant, Revocation};
use billing_app::ids::AccountId;
use billing_app::invoices::{Advance, InvoiceRecord, InvoiceStatus, InvoiceStore};
use billing_rules::credits::GrantKind;
use billing_rules::{Currency, Month};
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("instant")
}

fn d(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

fn acct(s: &str) -> AccountId {
    AccountId::parse(s).expect("account")
}

fn revocation(by: &str, reason: &str) -> Revocation {
    Revocation::new(by, reason).expect("who and why")
}

fn grant(id: &str, amount: &str) -> NewGrant {
    NewGrant::new(
        id.into(),
        Currency::Usd,
        GrantKind::Promotional,
        0,
        d(amount),
        at("2026-11-01T00:00:00Z"),
        Some(at("2027-01-01T00:00:00Z")),
        at("2026-11-20T12:00:00Z"),
        "ops@example.com".into(),
        "launch promotion".into(),
    )
    .expect("valid grant")
}

async fn a_grant_is_recorded_once_with_its_ledger_entry_and_revoking_keeps_the_history<
    S: CreditStore,
>(
    store: S,
) {
    let a = acct("a1");
    store
        .create_grant(&a, &grant("g1", "25.00"))
        .await
        .expect("store")
        .expect("created");
    let again = store
        .create_grant(&a, &grant("g1", "99.00"))
        .await
        .expect("store");
    assert_eq!(again, Err(GrantError::Exists("g1".into())));
    let grants = store.grants(&a).await.expect("grants");
    assert_eq!(grants.len(), 1);
    assert_eq!(grants[0].grant.remaining, d("25"));
    assert!(store
        .grants(&acct("other"))
        .await
        .expect("grants")
        .is_empty());

    let left = store
        .revoke_grant(
            &a,
            "g1",
            &revocation("ops@example.com", "abuse"),
            at("2026-11-21T00:00:00Z"),
        )
        .await
        .expect("store");
    assert_eq!(left, Ok(d("25")));
    assert_eq!(
        store.grants(&a).await.expect("grants")[0].grant.remaining,
        d("0")
    );
    let unknown = store
        .revoke_grant(
            &a,
            "nope",
            &revocation("ops", "x"),
            at("2026-11-21T00:00:00Z"),
        )
        .await
        .expect("store");
    assert_eq!(unknown, Err(GrantError::Unknown("nope".into())));

    let ledger = store.ledger(&a).await.expect("ledger");
    assert!(
        matches!(&ledger[0], LedgerEntry::Granted { amount, reason, .. } if *amount == d("25") && reason == "launch promotion")
    );
    assert!(
        matches!(&ledger[1], LedgerEntry::Revoked { amount, by, .. } if *amount == d("25") && by == "ops@example.com")
    );
    assert_eq!(ledger.len(), 2, "the refused grant left no entry");
}

fn record(month: &str) -> InvoiceRecord {
    InvoiceRecord {
        month: month.parse::<Month>().expect("month"),
        currency: Currency::Usd,
        status: InvoiceStatus::Draft,
        gross: d("12.00"),
        credits_applied: d("5.00"),
        amount_charged: d("7.00"),
        stripe_invoice_id: None,
        hosted_invoice_url: None,
        invoice_pdf_url: None,
        step: billing_app::invoices::BillingStep::Notified,
        lines: Vec::new(),
        carried_forward: None,
        written_off: None,
        payment_error: None,
        held: None,
    }
}

async fn an_invoice_exists_once_per_month_and_its_status_never_goes_back<S: InvoiceStore>(
    store: S,
) {
    let a = acct("a1");
    let october: Month = "2026-10".parse().expect("m");
    assert!(store
        .create_invoice(&a, &record("2026-10"))
        .await
        .expect("create"));
    let mut other = record("2026-10");
    other.gross = d("999");
    assert!(
        !store.create_invoice(&a, &other).await.expect("create"),
        "never replaced"
    );
    assert!(store
        .create_invoice(&a, &record("2026-09"))
        .await
        .expect("create"));

    assert_eq!(
        store
            .advance_invoice(&a, october, InvoiceStatus::Open)
            .await
            .expect("open"),
        Advance::Advanced
    );
    assert_eq!(
        store
            .advance_invoice(&a, october, InvoiceStatus::Paid)
            .await
            .expect("paid"),
        Advance::Advanced
    );
    // A late `payment_failed` or `finalized` webhook cannot move a paid invoice back.
    assert_eq!(
        store
            .advance_invoice(&a, october, InvoiceStatus::PaymentFailed)
            .await
            .expect("late"),
        Advance::Refused(InvoiceStatus::Paid)
    );
    assert_eq!(
        store
            .advance_invoice(&a, october, InvoiceStatus::Paid)
            .await
            .expect("again"),
        Advance::Unchanged
    );
    let missing: Month = "2026-01".parse().expect("m");
    assert_eq!(
        store
            .advance_invoice(&a, missing, InvoiceStatus::Open)
            .await
            .expect("missing"),
        Advance::Missing
    );

    let listed = store.invoices(&a).await.expect("list");
    let summary: Vec<_> = listed
        .iter()
        .map(|r| (r.month.to_string(), r.status, r.gross))
        .collect();
    assert_eq!(
        summary,
        [
            ("2026-10".to_owned(), InvoiceStatus::Paid, d("12")),
            ("2026-09".to_owned(), InvoiceStatus::Draft, d("12"))
        ]
    );
}

e2e::on_both_stores!(
    a_grant_is_recorded_once_with_its_ledger_entry_and_revoking_keeps_the_history,
    an_invoice_exists_once_per_month_and_its_status_never_goes_back,
);
