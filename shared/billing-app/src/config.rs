//! Reading settings from the environment (through a lookup, so tests pass their own), shared by the
//! functions' `Config`s.

use billing_rules::calendar::Holidays;
use billing_rules::Currency;

/// A setting that is missing or unreadable; `main` fails at start-up with it.
#[derive(Debug, thiserror::Error)]
#[error("configuration: {name} {problem}")]
pub struct ConfigError {
    /// The variable.
    pub name: &'static str,
    /// What is wrong with it.
    pub problem: String,
}

/// A variable that must be set and not empty.
pub fn required(
    get: &impl Fn(&str) -> Option<String>,
    name: &'static str,
) -> Result<String, ConfigError> {
    get(name).filter(|v| !v.is_empty()).ok_or(ConfigError {
        name,
        problem: "is not set".into(),
    })
}

/// `CURRENCY`, default USD.
pub fn currency(get: &impl Fn(&str) -> Option<String>) -> Result<Currency, ConfigError> {
    get("CURRENCY")
        .unwrap_or_else(|| "USD".into())
        .parse()
        .map_err(|e: billing_rules::money::MoneyError| ConfigError {
            name: "CURRENCY",
            problem: e.to_string(),
        })
}

/// `HOLIDAYS`: comma-separated `YYYY-MM-DD` dates that are not business days (default none).
pub fn holidays(get: &impl Fn(&str) -> Option<String>) -> Result<Holidays, ConfigError> {
    Holidays::parse_list(&get("HOLIDAYS").unwrap_or_default()).map_err(|e| ConfigError {
        name: "HOLIDAYS",
        problem: format!("is not a comma-separated list of YYYY-MM-DD dates: {e}"),
    })
}
/// A lookup over fixed pairs (tests, tools): the value of the last pair named `k`, as a later
/// setting overrides an earlier one.
pub fn lookup_in(vars: &[(&str, &str)]) -> impl Fn(&str) -> Option<String> {
    let vars: Vec<(String, String)> = vars
        .iter()
        .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
        .collect();
    move |k| {
        vars.iter()
            .rev()
            .find(|(name, _)| name == k)
            .map(|(_, v)| v.clone())
    }
}
