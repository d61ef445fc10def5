//! Credits (SPEC §4.2): grants used in order (lower priority number, soonest expiry with
//! non-expiring last, promotional before paid, oldest), each paying only for usage whose hours
//! started while it was valid. Credits never go negative, are never used twice, and never exceed
//! the gross.

use std::cmp::Ordering;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use crate::money::Currency;

/// Promotional credits are used before paid ones at equal priority and expiry.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum GrantKind {
    /// Given away (trial, goodwill).
    Promotional,
    /// Bought by the customer.
    Paid,
}

/// A credit grant and what is left of it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditGrant {
    /// Stable id; every use is recorded against it.
    pub id: String,
    /// Promotional or paid.
    pub kind: GrantKind,
    /// Lower numbers are used first.
    pub priority: u32,
    /// What is left, in minor units of the currency.
    pub remaining: Decimal,
    /// Pays for hours that start at or after this instant.
    pub effective_at: DateTime<Utc>,
    /// Pays for hours that start before this instant; `None` never expires.
    pub expires_at: Option<DateTime<Utc>>,
    /// When it was granted (older first at equal rank).
    pub granted_at: DateTime<Utc>,
}

impl CreditGrant {
    /// Whether the grant may pay for every hour that starts in `[from, to)`.
    pub fn covers(&self, from: DateTime<Utc>, to: DateTime<Utc>) -> bool {
        self.effective_at <= from && self.expires_at.is_none_or(|exp| to <= exp)
    }

    /// Whether the grant is valid at an instant (and so counts in the balance shown then).
    pub fn is_valid_at(&self, at: DateTime<Utc>) -> bool {
        self.effective_at <= at && self.expires_at.is_none_or(|exp| at < exp)
    }
}

/// The SPEC §4.2 order of use.
pub fn grant_order(a: &CreditGrant, b: &CreditGrant) -> Ordering {
    let expiry = |g: &CreditGrant| (g.expires_at.is_none(), g.expires_at);
    a.priority
        .cmp(&b.priority)
        .then_with(|| expiry(a).cmp(&expiry(b)))
        .then_with(|| a.kind.cmp(&b.kind))
        .then_with(|| a.granted_at.cmp(&b.granted_at))
        .then_with(|| a.id.cmp(&b.id))
}

/// The exact amount of usage whose hours started in `[from, to)`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageSlice {
    /// Inclusive start.
    pub from: DateTime<Utc>,
    /// Exclusive end.
    pub to: DateTime<Utc>,
    /// Exact (unrounded) amount.
    pub amount: Decimal,
}

impl UsageSlice {
    /// The usage of one UTC day.
    pub fn day(date: NaiveDate, amount: Decimal) -> Self {
        let from = date.and_time(chrono::NaiveTime::MIN).and_utc();
        let to = date
            .succ_opt()
            .unwrap_or(date)
            .and_time(chrono::NaiveTime::MIN)
            .and_utc();
        Self { from, to, amount }
    }
}

/// What one grant paid.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditUse {
    /// The grant.
    pub grant_id: String,
    /// The amount it paid, in minor units.
    pub amount: Decimal,
}

/// Which grants paid how much.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct CreditAllocation {
    /// Each grant used, in order of use.
    pub uses: Vec<CreditUse>,
    /// Their sum.
    pub total: Decimal,
}

/// Applies credits to a month's usage, whose rounded gross is `gross`.
///
/// Usage is walked in time order; each slice is paid by the grants valid over it, in SPEC order.
/// Walking time in order and preferring the soonest expiry spends credits that are about to expire
/// before the others. Each grant's use is rounded once to the minor unit, capped by its balance, and
/// the total is capped by the gross. When the credits covered all usage exactly, a rounding
/// difference up to the gross is taken from the grants already used, so that a fully covered month
/// is never charged a stray minor unit.
pub fn allocate_credits(
    currency: Currency,
    grants: &[CreditGrant],
    usage: &[UsageSlice],
    gross: Decimal,
) -> CreditAllocation {
    let mut order: Vec<&CreditGrant> = grants
        .iter()
        .filter(|g| g.remaining > Decimal::ZERO)
        .collect();
    order.sort_by(|a, b| grant_order(a, b));
    let mut left: Vec<Decimal> = order.iter().map(|g| g.remaining).collect();
    let mut used = vec![Decimal::ZERO; order.len()];

    let mut slices: Vec<&UsageSlice> = usage.iter().filter(|s| s.amount > Decimal::ZERO).collect();
    slices.sort_by_key(|s| (s.from, s.to));
    let mut uncovered = Decimal::ZERO;
    for slice in slices {
        let mut need = slice.amount;
        for (i, grant) in order.iter().enumerate() {
            if need.is_zero() {
                break;
            }
            if left[i].is_zero() || !grant.covers(slice.from, slice.to) {
                continue;
            }
            let take = need.min(left[i]);
            left[i] -= take;
            used[i] += take;
            need -= take;
        }
        uncovered += need;
    }

    let gross = gross.max(Decimal::ZERO);
    let mut applied: Vec<Decimal> = used
        .iter()
        .zip(&order)
        .map(|(u, g)| currency.round(*u).min(g.remaining))
        .collect();
    let mut total: Decimal = applied.iter().sum();
    for a in applied.iter_mut().rev() {
        if total <= gross {
            break;
        }
        let cut = (total - gross).min(*a);
        *a -= cut;
        total -= cut;
    }
    if uncovered.is_zero() {
        for (i, a) in applied.iter_mut().enumerate() {
            if total >= gross {
                break;
            }
            if used[i].is_zero() {
                continue;
            }
            let add = (gross - total).min(order[i].remaining - *a);
            *a += add;
            total += add;
        }
    }

    CreditAllocation {
        uses: order
            .iter()
            .zip(applied)
            .filter(|(_, a)| !a.is_zero())
            .map(|(g, amount)| CreditUse {
                grant_id: g.id.clone(),
                amount,
            })
            .collect(),
        total,
    }
}

/// The credit balance valid at an instant.
pub fn balance_at(grants: &[CreditGrant], at: DateTime<Utc>) -> Decimal {
    grants
        .iter()
        .filter(|g| g.is_valid_at(at))
        .map(|g| g.remaining)
        .sum()
}

/// The balance valid at `at` once `allocation` is paid from the grants (what the dashboard shows as
/// the credits left after this month's estimated usage). Uses of grants no longer valid at `at` do not
/// lower it: they were never part of it.
pub fn balance_after(
    grants: &[CreditGrant],
    allocation: &CreditAllocation,
    at: DateTime<Utc>,
) -> Decimal {
    grants
        .iter()
        .filter(|g| g.is_valid_at(at))
        .map(|g| {
            let used: Decimal = allocation
                .uses
                .iter()
                .filter(|u| u.grant_id == g.id)
                .map(|u| u.amount)
                .sum();
            g.remaining - used
        })
        .sum()
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("test decimal")
    }

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("test instant")
    }

    fn grant(id: &str, amount: &str, expires: Option<&str>) -> CreditGrant {
        CreditGrant {
            id: id.into(),
            kind: GrantKind::Paid,
            priority: 0,
            remaining: d(amount),
            effective_at: at("2026-01-01T00:00:00Z"),
            expires_at: expires.map(at),
            granted_at: at("2026-01-01T00:00:00Z"),
        }
    }

    fn day(date: &str, amount: &str) -> UsageSlice {
        UsageSlice::day(
            NaiveDate::parse_from_str(date, "%Y-%m-%d").expect("date"),
            d(amount),
        )
    }

    fn used(a: &CreditAllocation) -> Vec<(&str, Decimal)> {
        a.uses
            .iter()
            .map(|u| (u.grant_id.as_str(), u.amount))
            .collect()
    }

    fn spend(grants: &mut [CreditGrant], a: &CreditAllocation) {
        for u in &a.uses {
            if let Some(g) = grants.iter_mut().find(|g| g.id == u.grant_id) {
                g.remaining -= u.amount;
            }
        }
    }

    #[test]
    fn the_spec_example_over_february_and_march() {
        // A $10 expiring 15 March, B $5 never expiring.
        let mut grants = vec![
            grant("A", "10", Some("2026-03-15T00:00:00Z")),
            grant("B", "5", None),
        ];
        // February usage $12.
        let feb = [day("2026-02-10", "12")];
        let a = allocate_credits(Currency::Usd, &grants, &feb, d("12"));
        assert_eq!(used(&a), vec![("A", d("10")), ("B", d("2"))]);
        assert_eq!(d("12") - a.total, d("0"));
        spend(&mut grants, &a);
        assert_eq!(grants[1].remaining, d("3"));
        // March: $4 before the 15th, $6 after → A is spent; B pays $3; charged $7.
        let march = [day("2026-03-05", "4"), day("2026-03-20", "6")];
        let a = allocate_credits(Currency::Usd, &grants, &march, d("10"));
        assert_eq!(used(&a), vec![("B", d("3"))]);
        assert_eq!(d("10") - a.total, d("7"));
    }

    #[test]
    fn credits_expiring_mid_month_still_cover_the_usage_before_expiry() {
        let grants = [grant("A", "100", Some("2026-03-15T00:00:00Z"))];
        let march = [day("2026-03-05", "4"), day("2026-03-20", "6")];
        let a = allocate_credits(Currency::Usd, &grants, &march, d("10"));
        assert_eq!(used(&a), vec![("A", d("4"))]);
    }

    #[test]
    fn grants_are_used_by_priority_then_expiry_then_promotional_then_age() {
        let mut p1 = grant("priority-1", "1", None);
        p1.priority = 1;
        let soon = grant("soon", "1", Some("2026-06-01T00:00:00Z"));
        let later = grant("later", "1", Some("2026-07-01T00:00:00Z"));
        let mut promo = grant("promo", "1", None);
        promo.kind = GrantKind::Promotional;
        let old = grant("old", "1", None);
        let mut young = grant("young", "1", None);
        young.granted_at = at("2026-02-01T00:00:00Z");
        let grants = [p1, young, old, promo, later, soon];
        let a = allocate_credits(Currency::Usd, &grants, &[day("2026-05-01", "6")], d("6"));
        let order: Vec<_> = a.uses.iter().map(|u| u.grant_id.as_str()).collect();
        assert_eq!(
            order,
            vec!["soon", "later", "promo", "old", "young", "priority-1"]
        );
    }

    #[test]
    fn a_grant_never_pays_for_usage_before_it_took_effect() {
        let mut g = grant("new", "50", None);
        g.effective_at = at("2026-03-10T00:00:00Z");
        let a = allocate_credits(
            Currency::Usd,
            &[g],
            &[day("2026-03-09", "5"), day("2026-03-10", "7")],
            d("12"),
        );
        assert_eq!(used(&a), vec![("new", d("7"))]);
    }

    #[test]
    fn full_coverage_leaves_no_stray_cent_from_rounding() {
        // Two slices whose exact sum rounds up: 5.0015 + 4.9945 = 9.996 → gross 10.00.
        let grants = [grant("A", "5.00", None), grant("B", "20", None)];
        let usage = [day("2026-03-01", "5.0015"), day("2026-03-02", "4.9945")];
        let a = allocate_credits(Currency::Usd, &grants, &usage, d("10.00"));
        assert_eq!(a.total, d("10.00"));
    }

    #[test]
    fn the_balance_after_an_allocation_counts_only_grants_still_valid() {
        let grants = [
            grant("expired", "10", Some("2026-03-15T00:00:00Z")),
            grant("open", "5", None),
        ];
        let march = [day("2026-03-05", "4"), day("2026-03-20", "3")];
        let a = allocate_credits(Currency::Usd, &grants, &march, d("7"));
        assert_eq!(used(&a), vec![("expired", d("4")), ("open", d("3"))]);
        // On 25 March the expired grant is no longer in the balance: 5 − 3 = 2 left.
        assert_eq!(balance_at(&grants, at("2026-03-25T00:00:00Z")), d("5"));
        assert_eq!(
            balance_after(&grants, &a, at("2026-03-25T00:00:00Z")),
            d("2")
        );
    }

    #[test]
    fn no_grants_or_no_usage_apply_nothing() {
        let empty = allocate_credits(Currency::Usd, &[], &[day("2026-03-01", "3")], d("3"));
        assert_eq!(empty, CreditAllocation::default());
        let idle = allocate_credits(Currency::Usd, &[grant("A", "5", None)], &[], d("0"));
        assert_eq!(idle.total, d("0"));
        assert!(idle.uses.is_empty());
    }

    fn arb_grant() -> impl Strategy<Value = CreditGrant> {
        (
            0_u32..3,
            any::<bool>(),
            0_i64..5_000,
            prop::option::of(1_u32..60),
            0_u32..40,
            0_i64..100,
        )
            .prop_map(
                |(priority, promo, cents, expiry_day, eff_day, age)| CreditGrant {
                    id: String::new(),
                    kind: if promo {
                        GrantKind::Promotional
                    } else {
                        GrantKind::Paid
                    },
                    priority,
                    remaining: Decimal::new(cents, 2),
                    effective_at: at("2026-03-01T00:00:00Z")
                        + chrono::TimeDelta::days(i64::from(eff_day) - 10),
                    expires_at: expiry_day.map(|e| {
                        at("2026-03-01T00:00:00Z") + chrono::TimeDelta::days(i64::from(e))
                    }),
                    granted_at: at("2026-01-01T00:00:00Z") + chrono::TimeDelta::hours(age),
                },
            )
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(2_000))]

        #[test]
        fn credits_never_exceed_the_grants_or_the_gross_and_net_plus_credits_is_gross(
            grants in prop::collection::vec(arb_grant(), 0..6),
            slices in prop::collection::vec((0_u32..31, 0_i64..1_000_000), 0..20),
        ) {
            let grants: Vec<CreditGrant> = grants.into_iter().enumerate().map(|(i, mut g)| {
                g.id = format!("g{i}");
                g
            }).collect();
            let usage: Vec<UsageSlice> = slices.iter().map(|(day, amount)| {
                let date = NaiveDate::from_ymd_opt(2026, 3, day + 1).expect("march day");
                UsageSlice::day(date, Decimal::new(*amount, 4))
            }).collect();
            let gross = Currency::Usd.round(usage.iter().map(|s| s.amount).sum());
            let a = allocate_credits(Currency::Usd, &grants, &usage, gross);
            let net = gross - a.total;
            prop_assert!(a.total <= gross);
            prop_assert!(net >= Decimal::ZERO);
            prop_assert_eq!(net + a.total, gross);
            prop_assert_eq!(a.uses.iter().map(|u| u.amount).sum::<Decimal>(), a.total);
            for u in &a.uses {
                let g = grants.iter().find(|g| g.id == u.grant_id).expect("a known grant");
                prop_assert!(u.amount > Decimal::ZERO && u.amount <= g.remaining);
                prop_assert_eq!(u.amount, Currency::Usd.round(u.amount));
                // A grant pays only if some usage fell in its validity.
                prop_assert!(usage.iter().any(|s| s.amount > Decimal::ZERO && g.covers(s.from, s.to)));
            }
            let ids: std::collections::BTreeSet<_> = a.uses.iter().map(|u| &u.grant_id).collect();
            prop_assert_eq!(ids.len(), a.uses.len(), "a grant is used once per allocation");
        }
    }
}
