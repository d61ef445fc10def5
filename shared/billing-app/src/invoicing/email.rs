//! The emails of invoicing, as pure functions of the record: the receipt of a paid invoice and the
//! statement of a month with nothing to charge.

use crate::ids::AccountId;
use crate::invoices::{InvoiceRecord, InvoiceStatus};

/// The receipt or statement of a settled month (subject, text); `None` when there is nothing to tell
/// (a failed payment is told by the webhook, once per failed attempt Stripe reports).
pub fn invoice_email(
    account: &AccountId,
    record: &InvoiceRecord,
    billing_page: &str,
) -> Option<(String, String)> {
    if record.status != InvoiceStatus::Paid {
        return None;
    }
    let c = record.currency;
    let mut text = format!("Your invoice for {} ({}):\n\n", record.month, account);
    for line in &record.lines {
        text.push_str(&format!(
            "  {:<60} {:>12} {c}\n",
            line.description, line.amount
        ));
    }
    let subject = if record.amount_charged.is_zero() {
        match (record.carried_forward, record.written_off) {
            (_, Some(off)) => text.push_str(&format!(
                "\n{off} {c} is below the minimum charge and this is the account's last invoice: it is written off. Nothing was charged.\n"
            )),
            (Some(carried), None) if carried.is_sign_negative() => text.push_str(&format!(
                "\n{} {c} is in your favour: it is carried to next month's invoice as a credit. Nothing was charged.\n",
                -carried
            )),
            (Some(carried), None) => text.push_str(&format!(
                "\n{carried} {c} is below the minimum charge: it is carried to next month's invoice. Nothing was charged.\n"
            )),
            (None, None) => text.push_str("\nYour credits covered it: nothing was charged.\n"),
        }
        format!("Your {} statement: nothing to pay", record.month)
    } else {
        text.push_str(&format!(
            "\n{} {c} was charged to your payment method.\n",
            record.amount_charged
        ));
        if let Some(url) = &record.hosted_invoice_url {
            text.push_str(&format!("Invoice: {url}\n"));
        }
        format!(
            "Your {} invoice: {} {c} charged",
            record.month, record.amount_charged
        )
    };
    text.push_str(&format!("\nBilling page: {billing_page}\n"));
    Some((subject, text))
}

#[cfg(test)]
mod tests {
    use rust_decimal::Decimal;

    use billing_rules::Currency;

    use super::*;
    use crate::invoices::BillingStep;
    use crate::payments::ChargeLine;

    fn d(s: &str) -> Decimal {
        s.parse().expect("decimal")
    }

    fn record(charged: &str, carried: Option<&str>, written_off: Option<&str>) -> InvoiceRecord {
        InvoiceRecord {
            month: "2027-01".parse().expect("month"),
            currency: Currency::Usd,
            status: InvoiceStatus::Paid,
            gross: d("12.00"),
            credits_applied: d("0"),
            amount_charged: d(charged),
            stripe_invoice_id: Some("in_1".into()),
            hosted_invoice_url: Some("https://pay.example/in_1".into()),
            invoice_pdf_url: None,
            step: BillingStep::Settled,
            lines: vec![ChargeLine {
                description: "gpu: 4 h".into(),
                amount: d("12.00"),
                usage: None,
            }],
            carried_forward: carried.map(d),
            written_off: written_off.map(d),
            payment_error: None,
            held: None,
        }
    }

    #[test]
    fn each_settled_month_says_what_happened_to_its_money() {
        let account = AccountId::parse("acct-1").expect("id");
        let page = "https://billing.example";
        let cases = [
            (
                record("12.00", None, None),
                "Your 2027-01 invoice: 12.00 USD charged",
                "12.00 USD was charged",
            ),
            (
                record("0", None, None),
                "Your 2027-01 statement: nothing to pay",
                "Your credits covered it",
            ),
            (
                record("0", Some("0.30"), None),
                "Your 2027-01 statement: nothing to pay",
                "0.30 USD is below the minimum charge: it is carried",
            ),
            (
                record("0", Some("-4.00"), None),
                "Your 2027-01 statement: nothing to pay",
                "4.00 USD is in your favour",
            ),
            (
                record("0", None, Some("0.30")),
                "Your 2027-01 statement: nothing to pay",
                "it is written off",
            ),
        ];
        for (r, subject, says) in cases {
            let (s, text) = invoice_email(&account, &r, page).expect("an email");
            assert_eq!(s, subject);
            assert!(text.contains(says), "{text}");
            assert!(text.contains("gpu: 4 h"), "{text}");
            assert!(
                text.ends_with("Billing page: https://billing.example\n"),
                "{text}"
            );
        }
    }

    #[test]
    fn an_unpaid_month_gets_no_receipt() {
        let account = AccountId::parse("acct-1").expect("id");
        let mut r = record("12.00", None, None);
        r.status = InvoiceStatus::PaymentFailed;
        assert_eq!(invoice_email(&account, &r, "p"), None);
    }
}
