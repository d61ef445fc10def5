//! The invoice draft of an account-month: rated lines, a balance carried from an earlier month,
//! credits, and what happens to the net amount (SPEC §4).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::calendar::Month;
use crate::credits::{allocate_credits, CreditAllocation, CreditGrant, UsageSlice};
use crate::money::Currency;
use crate::rating::{lines_total, RatedLine};

/// A net amount below Stripe's minimum, carried from an earlier invoice as a line of this one.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct CarriedBalance {
    /// The invoice it was not charged on.
    pub from_month: Month,
    /// The rounded amount carried.
    pub amount: Decimal,
}

/// What becomes of an invoice's net amount.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", content = "amount", rename_all = "snake_case")]
pub enum Settlement {
    /// Charged through Stripe to the primary payment method.
    Charge(Decimal),
    /// Nothing to charge (credits covered everything, or no usage): a zero-charge statement.
    ZeroCharge,
    /// Below Stripe's minimum charge: carried to the next month's invoice as a line.
    CarryForward(Decimal),
}

/// A computed invoice, before anything is recorded or charged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct InvoiceDraft {
    /// The month billed.
    pub month: Month,
    /// Its currency.
    pub currency: Currency,
    /// Usage lines: this month's, then adjustments for earlier months' late usage.
    pub lines: Vec<RatedLine>,
    /// A balance carried from an earlier invoice.
    pub carried_in: Option<CarriedBalance>,
    /// Sum of the rounded usage lines.
    pub usage_total: Decimal,
    /// Usage total plus the carried balance.
    pub gross: Decimal,
    /// Credits applied to the usage (never to a carried balance).
    pub credits: CreditAllocation,
    /// `gross - credits`.
    pub net: Decimal,
    /// What happens to the net.
    pub settlement: Settlement,
}

/// Drafts an account-month's invoice from its rated lines, the usage slices for credits, the grants
/// and any carried balance.
pub fn draft_invoice(
    currency: Currency,
    month: Month,
    lines: Vec<RatedLine>,
    usage: &[UsageSlice],
    grants: &[CreditGrant],
    carried_in: Option<CarriedBalance>,
) -> InvoiceDraft {
    let usage_total = lines_total(&lines);
    let credits = allocate_credits(currency, grants, usage, usage_total);
    let gross = usage_total + carried_in.map_or(Decimal::ZERO, |c| c.amount);
    let net = gross - credits.total;
    let settlement = if net.is_zero() {
        Settlement::ZeroCharge
    } else if net < currency.stripe_minimum_charge() {
        Settlement::CarryForward(net)
    } else {
        Settlement::Charge(net)
    };
    InvoiceDraft {
        month,
        currency,
        lines,
        carried_in,
        usage_total,
        gross,
        credits,
        net,
        settlement,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credits::GrantKind;
    use crate::rating::{rate_lines, slot_count, LineKey, UsageTotals};
    use crate::usage::ServiceId;
    use chrono::NaiveDate;

    fn d(s: &str) -> Decimal {
        s.parse().expect("test decimal")
    }

    fn march() -> Month {
        "2026-03".parse().expect("m")
    }

    fn lines(amount: &str) -> Vec<RatedLine> {
        let key = LineKey {
            usage_month: march(),
            service: ServiceId::parse("vm").expect("s"),
        };
        rate_lines(Currency::Usd, [(key, UsageTotals::of(1, d(amount)))])
    }

    fn usage(amount: &str) -> Vec<UsageSlice> {
        vec![UsageSlice::day(
            NaiveDate::from_ymd_opt(2026, 3, 3).expect("day"),
            d(amount),
        )]
    }

    fn grant(amount: &str) -> CreditGrant {
        let t = "2026-01-01T00:00:00Z".parse().expect("t");
        CreditGrant {
            id: "g".into(),
            kind: GrantKind::Promotional,
            priority: 0,
            remaining: d(amount),
            effective_at: t,
            expires_at: None,
            granted_at: t,
        }
    }

    proptest::proptest! {
        #![proptest_config(proptest::prelude::ProptestConfig::with_cases(1_000))]

        #[test]
        fn an_invoice_total_is_its_rounded_lines_and_net_plus_credits_is_gross(
            parts in proptest::collection::vec((0_usize..3, 0_u64..300, 0_i64..10_000_000, 1_u32..29), 0..25),
            grant_cents in proptest::collection::vec(0_i64..100_000, 0..4),
            carried_cents in proptest::option::of(1_i64..50),
        ) {
            let services = ["gpu", "vm", "disk"];
            let totals = parts.iter().map(|(s, h, p, _)| {
                let key = LineKey { usage_month: march(), service: ServiceId::parse(services[*s]).expect("s") };
                (key, UsageTotals::of(slot_count(*h), Decimal::new(*p, 6)))
            });
            let lines = rate_lines(Currency::Usd, totals);
            let days: Vec<UsageSlice> = parts.iter().map(|(_, h, p, day)| {
                let date = NaiveDate::from_ymd_opt(2026, 3, *day).expect("day");
                UsageSlice::day(date, Decimal::from(*h) * Decimal::new(*p, 6))
            }).collect();
            let grants: Vec<CreditGrant> = grant_cents.iter().enumerate().map(|(i, c)| {
                let mut g = grant("0");
                g.id = format!("g{i}");
                g.remaining = Decimal::new(*c, 2);
                g
            }).collect();
            let carried = carried_cents.map(|c| CarriedBalance { from_month: march().prev(), amount: Decimal::new(c, 2) });
            let inv = draft_invoice(Currency::Usd, march(), lines, &days, &grants, carried);
            // The usage total from the raw parts: each service exact, rounded once, then summed.
            let mut per_service = std::collections::BTreeMap::new();
            for (s, h, p, _) in &parts {
                *per_service.entry(*s).or_insert(Decimal::ZERO) += Decimal::from(*h) * Decimal::new(*p, 6);
            }
            let usage_total: Decimal = per_service.values().map(|e| Currency::Usd.round(*e)).sum();
            let carried_amount = carried.map_or(Decimal::ZERO, |c| c.amount);
            proptest::prop_assert_eq!(inv.usage_total, usage_total);
            proptest::prop_assert_eq!(inv.gross, usage_total + carried_amount);
            proptest::prop_assert_eq!(inv.net + inv.credits.total, inv.gross);
            proptest::prop_assert!(inv.credits.total <= usage_total, "credits pay for usage only");
            proptest::prop_assert!(inv.credits.total <= grant_cents.iter().map(|c| Decimal::new(*c, 2)).sum());
            let minimum = Currency::Usd.stripe_minimum_charge();
            match inv.settlement {
                Settlement::ZeroCharge => proptest::prop_assert!(inv.net.is_zero()),
                Settlement::CarryForward(a) => proptest::prop_assert!(a == inv.net && a > Decimal::ZERO && a < minimum),
                Settlement::Charge(a) => proptest::prop_assert!(a == inv.net && a >= minimum),
            }
        }
    }

    #[test]
    fn usage_beyond_credits_is_charged() {
        let inv = draft_invoice(
            Currency::Usd,
            march(),
            lines("12"),
            &usage("12"),
            &[grant("5")],
            None,
        );
        assert_eq!(
            (inv.gross, inv.credits.total, inv.net),
            (d("12"), d("5"), d("7"))
        );
        assert_eq!(inv.settlement, Settlement::Charge(d("7")));
    }

    #[test]
    fn usage_fully_covered_by_credits_is_a_zero_charge_statement() {
        let inv = draft_invoice(
            Currency::Usd,
            march(),
            lines("12"),
            &usage("12"),
            &[grant("50")],
            None,
        );
        assert_eq!(inv.net, d("0"));
        assert_eq!(inv.settlement, Settlement::ZeroCharge);
        let idle = draft_invoice(Currency::Usd, march(), vec![], &[], &[grant("50")], None);
        assert_eq!(idle.settlement, Settlement::ZeroCharge);
    }

    #[test]
    fn a_net_below_stripes_minimum_is_carried_and_charged_with_the_next_invoice() {
        let inv = draft_invoice(
            Currency::Usd,
            march(),
            lines("0.49"),
            &usage("0.49"),
            &[],
            None,
        );
        assert_eq!(inv.settlement, Settlement::CarryForward(d("0.49")));
        let carried = CarriedBalance {
            from_month: march(),
            amount: d("0.49"),
        };
        let april = march().next();
        let next = draft_invoice(
            Currency::Usd,
            april,
            vec![],
            &[],
            &[grant("100")],
            Some(carried),
        );
        // Credits pay for usage, not for a carried balance: 0.49 alone is still below the minimum.
        assert_eq!(next.settlement, Settlement::CarryForward(d("0.49")));
        let key = LineKey {
            usage_month: april,
            service: ServiceId::parse("vm").expect("s"),
        };
        let april_lines = rate_lines(Currency::Usd, [(key, UsageTotals::of(1, d("0.10")))]);
        let next = draft_invoice(Currency::Usd, april, april_lines, &[], &[], Some(carried));
        assert_eq!(next.gross, d("0.59"));
        assert_eq!(next.settlement, Settlement::Charge(d("0.59")));
    }
}
