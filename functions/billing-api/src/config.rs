//! The function's configuration, read once from the environment in `main`.

use billing_rules::calendar::Holidays;
use billing_rules::Currency;

/// A setting that is missing or unreadable.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {name} {problem}")]
pub struct ConfigError {
    name: &'static str,
    problem: String,
}

/// Settings of `billing-api`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Config {
    /// `TABLE_NAME`.
    pub table: String,
    /// `CURRENCY` (default USD).
    pub currency: Currency,
    /// `ACCOUNT_CLAIM`: the verified JWT claim that holds the account id (default `sub`).
    pub account_claim: String,
    /// `HOLIDAYS`: comma-separated UTC dates on which no billing run happens.
    pub holidays: Holidays,
}

impl Config {
    /// Reads the settings through a lookup (the process environment in `main`).
    pub fn from_lookup(get: impl Fn(&str) -> Option<String>) -> Result<Self, ConfigError> {
        Ok(Self {
            table: get("TABLE_NAME")
                .filter(|t| !t.is_empty())
                .ok_or(ConfigError {
                    name: "TABLE_NAME",
                    problem: "is not set".into(),
                })?,
            currency: get("CURRENCY")
                .unwrap_or_else(|| "USD".into())
                .parse()
                .map_err(|e: billing_rules::money::MoneyError| ConfigError {
                    name: "CURRENCY",
                    problem: e.to_string(),
                })?,
            account_claim: get("ACCOUNT_CLAIM")
                .filter(|c| !c.is_empty())
                .unwrap_or_else(|| "sub".into()),
            holidays: Holidays::parse_list(&get("HOLIDAYS").unwrap_or_default()).map_err(|e| {
                ConfigError {
                    name: "HOLIDAYS",
                    problem: format!("is not a comma-separated list of YYYY-MM-DD dates: {e}"),
                }
            })?,
        })
    }
}
