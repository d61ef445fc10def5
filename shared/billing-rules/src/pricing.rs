//! The price list: an hourly price per service with the time it takes effect. A session takes the
//! price in force when it started, so a price change never reprices running work (SPEC §2).

use std::collections::BTreeMap;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::money::Currency;
use crate::usage::{ServiceId, UsageError};

/// A price that cannot be set.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PriceError {
    /// Prices are zero or positive.
    #[error("an hourly price cannot be negative (got {0})")]
    Negative(Decimal),
}

/// Hourly prices per service, each with its effective time, in one currency.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PriceList {
    currency: Currency,
    prices: BTreeMap<ServiceId, BTreeMap<DateTime<Utc>, Decimal>>,
}

impl PriceList {
    /// An empty price list.
    pub fn new(currency: Currency) -> Self {
        Self {
            currency,
            prices: BTreeMap::new(),
        }
    }

    /// The currency of every price.
    pub const fn currency(&self) -> Currency {
        self.currency
    }

    /// Sets the hourly price of a service from an instant on.
    pub fn set(
        &mut self,
        service: ServiceId,
        effective_from: DateTime<Utc>,
        hourly: Decimal,
    ) -> Result<(), PriceError> {
        if hourly.is_sign_negative() && !hourly.is_zero() {
            return Err(PriceError::Negative(hourly));
        }
        self.prices
            .entry(service)
            .or_default()
            .insert(effective_from, hourly);
        Ok(())
    }

    /// The hourly price in force for a service at an instant; an unknown service is an error.
    pub fn price_at(&self, service: &ServiceId, at: DateTime<Utc>) -> Result<Decimal, UsageError> {
        self.prices
            .get(service)
            .and_then(|p| p.range(..=at).next_back())
            .map(|(_, price)| *price)
            .ok_or_else(|| UsageError::UnknownService {
                service: service.clone(),
                at,
            })
    }

    /// Every entry: service, effective time, hourly price.
    pub fn entries(&self) -> impl Iterator<Item = (&ServiceId, DateTime<Utc>, Decimal)> {
        self.prices
            .iter()
            .flat_map(|(s, p)| p.iter().map(move |(t, price)| (s, *t, *price)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("test instant")
    }

    #[test]
    fn a_session_takes_the_price_in_force_when_it_started() {
        let gpu = ServiceId::parse("gpu-h100").expect("service");
        let mut prices = PriceList::new(Currency::Usd);
        prices
            .set(
                gpu.clone(),
                at("2026-01-01T00:00:00Z"),
                "2.50".parse().expect("d"),
            )
            .expect("set");
        prices
            .set(
                gpu.clone(),
                at("2026-03-01T00:00:00Z"),
                "2.10".parse().expect("d"),
            )
            .expect("set");
        assert_eq!(
            prices.price_at(&gpu, at("2026-02-28T23:59:59Z")),
            Ok("2.50".parse().expect("d"))
        );
        assert_eq!(
            prices.price_at(&gpu, at("2026-03-01T00:00:00Z")),
            Ok("2.10".parse().expect("d"))
        );
        let before = prices
            .price_at(&gpu, at("2025-12-31T00:00:00Z"))
            .expect_err("no price yet");
        assert!(before.to_string().contains("unknown service `gpu-h100`"));
        let other = ServiceId::parse("tpu").expect("service");
        assert!(matches!(
            prices.price_at(&other, at("2026-03-01T00:00:00Z")),
            Err(UsageError::UnknownService { .. })
        ));
    }

    #[test]
    fn a_negative_price_is_refused() {
        let mut prices = PriceList::new(Currency::Usd);
        let err = prices
            .set(
                ServiceId::parse("vm").expect("s"),
                at("2026-01-01T00:00:00Z"),
                "-1".parse().expect("d"),
            )
            .expect_err("negative");
        assert_eq!(err, PriceError::Negative("-1".parse().expect("d")));
        assert_eq!(prices.entries().count(), 0);
    }
}
