//! What billing publishes on the platform's bus (`source: billing`), one type per `detail-type`,
//! each with a stable `alert_id` that consumers deduplicate on (a retry publishes the same id).
//! The schemas are in `docs/platform-events.md`, with samples in `events/`.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use billing_rules::{Currency, Month};

use crate::ids::AccountId;

/// The month-to-date cost reached one of the account's thresholds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CostThresholdCrossed {
    /// Stable id of this alert (`<account>:<month>:<threshold>`).
    pub alert_id: String,
    /// The account.
    pub account_id: AccountId,
    /// The month.
    pub month: Month,
    /// The threshold crossed.
    pub threshold: Decimal,
    /// Month to date when it was noticed.
    pub month_to_date: Decimal,
    /// Projection to the month's end.
    pub projected: Decimal,
    /// Currency of the amounts.
    pub currency: Currency,
}

/// At the current rate (running sessions keep running) the month will reach a threshold.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CostThresholdForecast {
    /// Stable id (`<account>:<month>:forecast:<threshold>`).
    pub alert_id: String,
    /// The account.
    pub account_id: AccountId,
    /// The month.
    pub month: Month,
    /// The threshold it will reach.
    pub threshold: Decimal,
    /// When, at the current rate (to the second).
    pub reaches_at: DateTime<Utc>,
    /// Month to date now.
    pub month_to_date: Decimal,
    /// Projection to the month's end.
    pub projected: Decimal,
    /// Currency of the amounts.
    pub currency: Currency,
}

/// The credit balance, after the month's usage so far, fell below a level the account set.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreditsLow {
    /// Stable id (`<account>:<month>:credits-low:<level>`).
    pub alert_id: String,
    /// The account.
    pub account_id: AccountId,
    /// The month.
    pub month: Month,
    /// The level crossed.
    pub level: Decimal,
    /// The balance after the month's usage so far.
    pub balance: Decimal,
    /// When the credits run out at the current rate, if they do within the horizon.
    pub runs_out_at: Option<DateTime<Utc>>,
    /// Currency of the amounts.
    pub currency: Currency,
}

/// The credits are spent while usage continues: from now on usage is charged.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreditsExhausted {
    /// Stable id (`<account>:<month>:credits-exhausted`).
    pub alert_id: String,
    /// The account.
    pub account_id: AccountId,
    /// The month.
    pub month: Month,
    /// Month to date.
    pub month_to_date: Decimal,
    /// What credits pay of it.
    pub paid_by_credits: Decimal,
    /// Currency of the amounts.
    pub currency: Currency,
}

/// A grant with an unused balance expires within a week.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreditsExpiring {
    /// Stable id (`<account>:credits-expiring:<grant>`).
    pub alert_id: String,
    /// The account.
    pub account_id: AccountId,
    /// The grant.
    pub grant_id: String,
    /// When it expires (it pays for hours that start before).
    pub expires_at: DateTime<Utc>,
    /// What is left of it after the month's usage so far.
    pub unused: Decimal,
    /// Currency of the amount.
    pub currency: Currency,
}

/// The month to date reached the account's spend limit: the platform should stop starting
/// resources for it (and may stop running ones; billing stops nothing).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpendLimitReached {
    /// Stable id (`<account>:<month>:spend-limit:<limit>`).
    pub alert_id: String,
    /// The account.
    pub account_id: AccountId,
    /// The month.
    pub month: Month,
    /// The limit reached.
    pub limit: Decimal,
    /// Month to date when it was noticed.
    pub month_to_date: Decimal,
    /// Currency of the amounts.
    pub currency: Currency,
}

/// At the current rate the month to date reaches the spend limit within the hour.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SpendLimitApproaching {
    /// Stable id (`<account>:<month>:spend-limit-approaching:<limit>`).
    pub alert_id: String,
    /// The account.
    pub account_id: AccountId,
    /// The month.
    pub month: Month,
    /// The limit.
    pub limit: Decimal,
    /// When it is reached if the running sessions keep running (to the second).
    pub reaches_at: DateTime<Utc>,
    /// Month to date now.
    pub month_to_date: Decimal,
    /// Currency of the amounts.
    pub currency: Currency,
}

/// An event billing publishes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlatformEvent {
    /// `CostThresholdCrossed`.
    ThresholdCrossed(CostThresholdCrossed),
    /// `CostThresholdForecast`.
    ThresholdForecast(CostThresholdForecast),
    /// `CreditsLow`.
    CreditsLow(CreditsLow),
    /// `CreditsExhausted`.
    CreditsExhausted(CreditsExhausted),
    /// `CreditsExpiring`.
    CreditsExpiring(CreditsExpiring),
    /// `SpendLimitReached`.
    SpendLimitReached(SpendLimitReached),
    /// `SpendLimitApproaching`.
    SpendLimitApproaching(SpendLimitApproaching),
}

impl PlatformEvent {
    /// Its EventBridge `detail-type`.
    pub fn detail_type(&self) -> &'static str {
        match self {
            Self::ThresholdCrossed(_) => "CostThresholdCrossed",
            Self::ThresholdForecast(_) => "CostThresholdForecast",
            Self::CreditsLow(_) => "CreditsLow",
            Self::CreditsExhausted(_) => "CreditsExhausted",
            Self::CreditsExpiring(_) => "CreditsExpiring",
            Self::SpendLimitReached(_) => "SpendLimitReached",
            Self::SpendLimitApproaching(_) => "SpendLimitApproaching",
        }
    }

    /// Its `detail`, as JSON.
    pub fn detail(&self) -> serde_json::Value {
        let value = match self {
            Self::ThresholdCrossed(e) => serde_json::to_value(e),
            Self::ThresholdForecast(e) => serde_json::to_value(e),
            Self::CreditsLow(e) => serde_json::to_value(e),
            Self::CreditsExhausted(e) => serde_json::to_value(e),
            Self::CreditsExpiring(e) => serde_json::to_value(e),
            Self::SpendLimitReached(e) => serde_json::to_value(e),
            Self::SpendLimitApproaching(e) => serde_json::to_value(e),
        };
        value.unwrap_or_default()
    }

    /// The id consumers deduplicate on.
    pub fn alert_id(&self) -> &str {
        match self {
            Self::ThresholdCrossed(e) => &e.alert_id,
            Self::ThresholdForecast(e) => &e.alert_id,
            Self::CreditsLow(e) => &e.alert_id,
            Self::CreditsExhausted(e) => &e.alert_id,
            Self::CreditsExpiring(e) => &e.alert_id,
            Self::SpendLimitReached(e) => &e.alert_id,
            Self::SpendLimitApproaching(e) => &e.alert_id,
        }
    }
}
