//! What the crate's unit tests share: amounts, instants, a grant and the running GPU of the rules'
//! examples (docs/billing-rules.md: 2.50 an hour).

use billing_rules::credits::{CreditGrant, GrantKind};
use billing_rules::rating::PricedSession;
use billing_rules::ServiceId;
use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

pub(crate) fn d(s: &str) -> Decimal {
    s.parse().expect("decimal")
}

pub(crate) fn at(s: &str) -> DateTime<Utc> {
    s.parse().expect("instant")
}

/// A promotional grant effective from 1 November.
pub(crate) fn grant(id: &str, amount: &str, expires: Option<&str>) -> CreditGrant {
    CreditGrant {
        id: id.into(),
        kind: GrantKind::Promotional,
        priority: 0,
        remaining: d(amount),
        effective_at: at("2026-11-01T00:00:00Z"),
        expires_at: expires.map(at),
        granted_at: at("2026-11-01T00:00:00Z"),
    }
}

/// A GPU at 2.50 an hour running since `start`.
pub(crate) fn gpu_since(start: &str) -> PricedSession {
    PricedSession {
        service: ServiceId::parse("gpu").expect("service"),
        hourly_price: d("2.50"),
        started_at: at(start),
        stopped_at: None,
    }
}
