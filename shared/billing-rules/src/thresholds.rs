//! Monthly cost alert thresholds (SPEC §7).

use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

/// The most thresholds an account may set.
pub const MAX_THRESHOLDS: usize = 10;

/// Thresholds that cannot be saved.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ThresholdError {
    /// Zero or negative.
    #[error("thresholds must be positive amounts (got {0})")]
    NotPositive(Decimal),
    /// More than [`MAX_THRESHOLDS`] distinct values.
    #[error("at most {MAX_THRESHOLDS} thresholds can be set (got {0})")]
    TooMany(usize),
}

/// Validated thresholds: positive, at most ten, duplicates removed, ascending.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(try_from = "Vec<Decimal>", into = "Vec<Decimal>")]
pub struct Thresholds(Vec<Decimal>);

impl Thresholds {
    /// Validates a list of thresholds.
    pub fn parse(values: impl IntoIterator<Item = Decimal>) -> Result<Self, ThresholdError> {
        let mut v: Vec<Decimal> = values.into_iter().map(|d| d.normalize()).collect();
        if let Some(bad) = v.iter().find(|d| **d <= Decimal::ZERO) {
            return Err(ThresholdError::NotPositive(*bad));
        }
        v.sort();
        v.dedup();
        if v.len() > MAX_THRESHOLDS {
            return Err(ThresholdError::TooMany(v.len()));
        }
        Ok(Self(v))
    }

    /// The thresholds, ascending.
    pub fn values(&self) -> &[Decimal] {
        &self.0
    }

    /// Every threshold at or below a month-to-date amount (reached).
    pub fn crossed(&self, amount: Decimal) -> impl Iterator<Item = Decimal> + '_ {
        self.0.iter().copied().filter(move |t| *t <= amount)
    }

    /// The thresholds a move of the month-to-date amount from `before` to `after` crosses.
    pub fn newly_crossed(&self, before: Decimal, after: Decimal) -> Vec<Decimal> {
        self.crossed(after).filter(|t| *t > before).collect()
    }
}

impl TryFrom<Vec<Decimal>> for Thresholds {
    type Error = ThresholdError;
    fn try_from(v: Vec<Decimal>) -> Result<Self, Self::Error> {
        Self::parse(v)
    }
}

impl From<Thresholds> for Vec<Decimal> {
    fn from(t: Thresholds) -> Self {
        t.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("test decimal")
    }

    fn t(values: &[&str]) -> Thresholds {
        Thresholds::parse(values.iter().map(|v| d(v))).expect("valid thresholds")
    }

    #[test]
    fn thresholds_are_deduplicated_sorted_and_validated() {
        assert_eq!(
            t(&["100", "50", "100.00", "10"]).values(),
            &[d("10"), d("50"), d("100")]
        );
        assert_eq!(
            Thresholds::parse([d("0")]),
            Err(ThresholdError::NotPositive(d("0")))
        );
        assert_eq!(
            Thresholds::parse([d("-5")]),
            Err(ThresholdError::NotPositive(d("-5")))
        );
        let eleven = (1..=11).map(Decimal::from);
        assert_eq!(Thresholds::parse(eleven), Err(ThresholdError::TooMany(11)));
        assert!(Thresholds::parse((1..=10).chain(1..=10).map(Decimal::from)).is_ok());
    }

    #[test]
    fn a_move_across_several_thresholds_crosses_each_once() {
        let th = t(&["10", "50", "100"]);
        assert_eq!(th.newly_crossed(d("5"), d("9.99")), Vec::<Decimal>::new());
        assert_eq!(th.newly_crossed(d("5"), d("10")), vec![d("10")]);
        assert_eq!(th.newly_crossed(d("10"), d("60")), vec![d("50")]);
        assert_eq!(
            th.newly_crossed(d("0"), d("150")),
            vec![d("10"), d("50"), d("100")]
        );
        assert_eq!(
            th.crossed(d("50")).collect::<Vec<_>>(),
            vec![d("10"), d("50")]
        );
    }
}
