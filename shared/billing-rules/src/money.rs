//! Money: the currencies, rounding a decimal amount once to what is billed, and Stripe's minor
//! units. An amount is a `Decimal`; its currency travels with the record or response that holds it.

use std::fmt;
use std::str::FromStr;

use rust_decimal::{Decimal, RoundingStrategy};
use serde::{Deserialize, Serialize};

/// The currencies the platform prices in. Each knows its minor unit and Stripe's minimum charge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "UPPERCASE")]
pub enum Currency {
    /// US dollar, 2 decimals.
    Usd,
    /// Euro, 2 decimals.
    Eur,
    /// Pound sterling, 2 decimals.
    Gbp,
    /// Japanese yen, 0 decimals.
    Jpy,
    /// Kuwaiti dinar, 3 decimals.
    Kwd,
}

/// Why an amount cannot be turned into money or minor units.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum MoneyError {
    /// The currency code is not one the platform prices in.
    #[error("unknown currency `{0}` (expected one of USD, EUR, GBP, JPY, KWD)")]
    UnknownCurrency(String),
    /// The amount has more decimals than the currency's minor unit.
    #[error("{amount} has more decimals than {currency} allows ({exponent})")]
    NotInMinorUnits {
        /// The amount given.
        amount: Decimal,
        /// Its currency.
        currency: Currency,
        /// The number of decimals the currency allows.
        exponent: u32,
    },
    /// The amount does not fit in Stripe's 64-bit minor units.
    #[error("{0} does not fit in minor units")]
    Overflow(Decimal),
}

impl Currency {
    /// ISO 4217 code.
    pub const fn code(self) -> &'static str {
        match self {
            Currency::Usd => "USD",
            Currency::Eur => "EUR",
            Currency::Gbp => "GBP",
            Currency::Jpy => "JPY",
            Currency::Kwd => "KWD",
        }
    }

    /// Number of decimals of the minor unit (cents: 2, yen: 0, fils: 3).
    pub const fn minor_unit_exponent(self) -> u32 {
        match self {
            Currency::Usd | Currency::Eur | Currency::Gbp => 2,
            Currency::Jpy => 0,
            Currency::Kwd => 3,
        }
    }

    /// The smallest amount Stripe charges in this currency. A net amount below it is carried to the
    /// next invoice instead of being charged (SPEC §4.4). KWD is not in Stripe's table: its minimum
    /// is the equivalent of USD 0.50, rounded up to 0.200.
    pub fn stripe_minimum_charge(self) -> Decimal {
        match self {
            Currency::Usd | Currency::Eur => Decimal::new(50, 2),
            Currency::Gbp => Decimal::new(30, 2),
            Currency::Jpy => Decimal::new(50, 0),
            Currency::Kwd => Decimal::new(200, 3),
        }
    }

    /// The decimals amounts are billed in: the minor unit, except for three-decimal currencies,
    /// whose Stripe amounts must end in 0 (KWD 1.230, never 1.234): they are billed in hundredths.
    pub const fn billing_exponent(self) -> u32 {
        match self {
            Currency::Kwd => 2,
            _ => self.minor_unit_exponent(),
        }
    }

    /// Rounds an exact amount once to what is billed (the minor unit; KWD 0.010), half away from
    /// zero.
    pub fn round(self, amount: Decimal) -> Decimal {
        amount.round_dp_with_strategy(
            self.billing_exponent(),
            RoundingStrategy::MidpointAwayFromZero,
        )
    }

    /// Stripe's integer amount for an already-rounded amount (USD 12.34 → 1234, JPY 500 → 500).
    pub fn to_minor_units(self, amount: Decimal) -> Result<i64, MoneyError> {
        let exponent = self.minor_unit_exponent();
        if amount.normalize().scale() > self.billing_exponent() {
            return Err(MoneyError::NotInMinorUnits {
                amount,
                currency: self,
                exponent: self.billing_exponent(),
            });
        }
        let scaled = amount
            .checked_mul(Decimal::from(10_i64.pow(exponent)))
            .ok_or(MoneyError::Overflow(amount))?;
        i64::try_from(scaled).map_err(|_| MoneyError::Overflow(amount))
    }

    /// The amount of an integer number of minor units (1234 cents → 12.34).
    pub fn from_minor_units(self, units: i64) -> Decimal {
        Decimal::new(units, self.minor_unit_exponent())
    }
}

impl fmt::Display for Currency {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.code())
    }
}

impl FromStr for Currency {
    type Err = MoneyError;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s.to_ascii_uppercase().as_str() {
            "USD" => Ok(Currency::Usd),
            "EUR" => Ok(Currency::Eur),
            "GBP" => Ok(Currency::Gbp),
            "JPY" => Ok(Currency::Jpy),
            "KWD" => Ok(Currency::Kwd),
            _ => Err(MoneyError::UnknownCurrency(s.to_owned())),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> Decimal {
        s.parse().expect("test decimal")
    }

    #[test]
    fn rounding_is_half_away_from_zero_at_the_minor_unit() {
        let cases = [
            (Currency::Usd, "1.005", "1.01"),
            (Currency::Usd, "1.004999", "1.00"),
            (Currency::Usd, "-1.005", "-1.01"),
            (Currency::Usd, "2.675", "2.68"),
            (Currency::Jpy, "12.5", "13"),
            (Currency::Jpy, "12.49", "12"),
            (Currency::Kwd, "0.005", "0.01"),
            (Currency::Kwd, "1.2344", "1.23"),
            (Currency::Kwd, "1.235", "1.24"),
        ];
        for (currency, exact, rounded) in cases {
            assert_eq!(currency.round(d(exact)), d(rounded), "{currency} {exact}");
        }
    }

    #[test]
    fn minor_units_round_trip_for_zero_two_and_three_decimal_currencies() {
        assert_eq!(Currency::Usd.to_minor_units(d("12.34")), Ok(1234));
        assert_eq!(Currency::Usd.to_minor_units(d("12.3")), Ok(1230));
        assert_eq!(Currency::Jpy.to_minor_units(d("500")), Ok(500));
        assert_eq!(Currency::Kwd.to_minor_units(d("1.23")), Ok(1230));
        assert_eq!(Currency::Usd.from_minor_units(1234), d("12.34"));
        assert_eq!(Currency::Jpy.from_minor_units(500), d("500"));
        assert_eq!(Currency::Kwd.from_minor_units(1234), d("1.234"));
    }

    #[test]
    fn three_decimal_amounts_reach_stripe_ending_in_zero() {
        // Stripe refuses a KWD amount whose last minor digit is not 0: billing rounds to 0.010.
        let billed = Currency::Kwd.round(d("7.2449"));
        assert_eq!(billed, d("7.24"));
        assert_eq!(Currency::Kwd.to_minor_units(billed), Ok(7240));
        assert!(matches!(
            Currency::Kwd.to_minor_units(d("1.234")),
            Err(MoneyError::NotInMinorUnits { .. })
        ));
    }

    #[test]
    fn an_unrounded_amount_is_refused_in_minor_units() {
        assert!(matches!(
            Currency::Usd.to_minor_units(d("0.001")),
            Err(MoneyError::NotInMinorUnits { .. })
        ));
        assert!(matches!(
            Currency::Jpy.to_minor_units(d("1.5")),
            Err(MoneyError::NotInMinorUnits { .. })
        ));
    }

    #[test]
    fn currency_codes_parse_case_insensitively_and_unknown_ones_are_named() {
        assert_eq!("usd".parse::<Currency>(), Ok(Currency::Usd));
        let err = "XYZ".parse::<Currency>().expect_err("unknown");
        assert!(err.to_string().contains("XYZ"));
    }
}
