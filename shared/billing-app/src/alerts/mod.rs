//! Alerts (SPEC §7, docs/billing-rules.md "Alerts"): cost thresholds crossed, thresholds forecast,
//! credits low, exhausted and expiring. Each is sent once (an email and a platform event), whichever
//! of the checks notices it first.
//!
//! An account is checked in `record-usage` after each recorded (or redelivered) event of it, and by
//! the sweep ([`sweep`]) every few minutes while it has running sessions, so a resource left running
//! with no further events is still noticed within one sweep. Both run the same [`CostAlerts::check`]
//! over the same month figures the dashboard shows. For each due alert a marker is claimed
//! conditionally first: of two concurrent checks only one wins. Then the event is published and the
//! email sent, and the marker is set to `sent`. A failed publish or send marks it `failed`, which a
//! retry may claim again; a crash after sending leaves it claimed, so an email is never sent twice
//! (at most once, retried on known failures).

mod check;
mod due;
mod email;
mod limit;
pub mod sweep;

use std::future::Future;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use billing_rules::thresholds::Thresholds;
use billing_rules::Month;

use crate::ids::AccountId;
use crate::notify::{EmailAddress, NotifyError};
use crate::store::{AccountState, StoreError};

pub use check::CostAlerts;
pub use due::due_alerts;
pub use email::alert_email;
pub use limit::{spend_limit_alerts, SpendLimit, SpendLimitError, APPROACHING_WITHIN};

/// Where and when to alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSettings {
    /// Who is alerted.
    pub email: EmailAddress,
    /// Monthly cost thresholds.
    pub thresholds: Thresholds,
    /// Also warn, once per threshold and month, when the projection (running sessions keep
    /// running) will reach a threshold, with the date and time it will. Off unless chosen.
    pub forecast: bool,
    /// Credit balance levels: warn once per level and month when the balance after the month's
    /// usage so far falls below one.
    pub low_balance: Thresholds,
    /// Why the mail service refused the address, if it did: no email is tried again until the
    /// settings are saved again (which clears it). Shown on the billing page.
    pub refused: Option<String>,
}

impl AlertSettings {
    /// Cost thresholds only, no forecast and no credit levels.
    pub fn thresholds(email: EmailAddress, thresholds: Thresholds) -> Self {
        Self {
            email,
            thresholds,
            forecast: false,
            low_balance: Thresholds::default(),
            refused: None,
        }
    }
}

/// Which alert, of which month or grant: each is sent at most once.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum AlertKey {
    /// The month to date reached a threshold.
    Crossed {
        /// The month.
        month: Month,
        /// The threshold.
        threshold: Decimal,
    },
    /// The projection will reach a threshold.
    Forecast {
        /// The month.
        month: Month,
        /// The threshold.
        threshold: Decimal,
    },
    /// The credit balance fell below a level.
    CreditsLow {
        /// The month.
        month: Month,
        /// The level.
        level: Decimal,
    },
    /// The credits are spent while usage continues.
    CreditsExhausted {
        /// The month.
        month: Month,
    },
    /// The month to date reached the spend limit (a new limit is a new alert).
    SpendLimitReached {
        /// The month.
        month: Month,
        /// The limit.
        limit: Decimal,
    },
    /// The month to date reaches the spend limit within the hour at the current rate.
    SpendLimitApproaching {
        /// The month.
        month: Month,
        /// The limit.
        limit: Decimal,
    },
    /// A grant with an unused balance expires within a week.
    CreditsExpiring {
        /// The grant.
        grant: String,
        /// Its expiry.
        expires_at: DateTime<Utc>,
    },
}

impl AlertKey {
    /// The alert's id within its account (the platform event's `alert_id` is `<account>:<id>`).
    pub fn id(&self) -> String {
        match self {
            Self::Crossed { month, threshold } => format!("{month}:{}", threshold.normalize()),
            Self::Forecast { month, threshold } => {
                format!("{month}:forecast:{}", threshold.normalize())
            }
            Self::CreditsLow { month, level } => {
                format!("{month}:credits-low:{}", level.normalize())
            }
            Self::CreditsExhausted { month } => format!("{month}:credits-exhausted"),
            Self::SpendLimitReached { month, limit } => {
                format!("{month}:spend-limit:{}", limit.normalize())
            }
            Self::SpendLimitApproaching { month, limit } => {
                format!("{month}:spend-limit-approaching:{}", limit.normalize())
            }
            Self::CreditsExpiring { grant, .. } => format!("credits-expiring:{grant}"),
        }
    }

    /// After this instant the alert can never be due again: its marker may be forgotten later.
    pub fn relevant_until(&self) -> DateTime<Utc> {
        match self {
            Self::Crossed { month, .. }
            | Self::Forecast { month, .. }
            | Self::CreditsLow { month, .. }
            | Self::CreditsExhausted { month }
            | Self::SpendLimitReached { month, .. }
            | Self::SpendLimitApproaching { month, .. } => month.end(),
            Self::CreditsExpiring { expires_at, .. } => *expires_at,
        }
    }
}

/// How an alert ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertOutcome {
    /// Sent: never again.
    Sent,
    /// Not sent: may be claimed again.
    Failed,
}

/// Storage of alert settings and sent-alert markers.
pub trait AlertStore: Send + Sync {
    /// An account's alert settings.
    fn alert_settings(
        &self,
        account: &AccountId,
    ) -> impl Future<Output = Result<Option<AlertSettings>, StoreError>> + Send;

    /// Saves an account's alert settings.
    fn save_alert_settings(
        &self,
        account: &AccountId,
        settings: &AlertSettings,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// Records that the mail service refused the account's alert address (kept until the settings
    /// are saved again).
    fn record_refusal(
        &self,
        account: &AccountId,
        reason: &str,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// The account's monthly spend limit, if it set one.
    fn spend_limit(
        &self,
        account: &AccountId,
    ) -> impl Future<Output = Result<Option<SpendLimit>, StoreError>> + Send;

    /// Sets (`Some`) or removes (`None`) the account's spend limit.
    fn save_spend_limit(
        &self,
        account: &AccountId,
        limit: Option<&SpendLimit>,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;

    /// What billing knows of the account.
    fn account(
        &self,
        account: &AccountId,
    ) -> impl Future<Output = Result<AccountState, StoreError>> + Send;

    /// The ids ([`AlertKey::id`]) of the account's alerts sent or being sent (one read, so a check
    /// claims only what is new).
    fn claimed_alerts(
        &self,
        account: &AccountId,
    ) -> impl Future<Output = Result<Vec<String>, StoreError>> + Send;

    /// Claims an alert; `false` if it was sent or is being sent.
    fn claim_alert(
        &self,
        account: &AccountId,
        key: &AlertKey,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records how a claimed alert ended.
    fn finish_alert(
        &self,
        account: &AccountId,
        key: &AlertKey,
        outcome: AlertOutcome,
    ) -> impl Future<Output = Result<(), StoreError>> + Send;
}

/// The check failed; retrying it is safe.
#[derive(Debug, thiserror::Error)]
pub enum AlertError {
    /// The store failed.
    #[error("alert state could not be read or written")]
    Store(#[from] StoreError),
    /// The email or the event could not be sent.
    #[error("an alert could not be sent")]
    Notify(#[from] NotifyError),
}
