//! A month's figures for an account, read once and computed by the rules: what the dashboard, the
//! alerts and `billing-admin` all show, so they can never disagree.

use chrono::{DateTime, Utc};
use futures_util::future::try_join;

use billing_rules::estimate::{estimate_month, MonthEstimate};
use billing_rules::rating::PricedSession;
use billing_rules::{Currency, Month};

use crate::ids::AccountId;
use crate::store::{MonthUsage, SessionRecord, StoreError, UsageStore};

/// An account's month at an instant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MonthFigures {
    /// The recorded usage lines and day amounts of the month's invoice.
    pub recorded: MonthUsage,
    /// The sessions still running, with their prices.
    pub open: Vec<PricedSession>,
    /// Month to date and projection.
    pub estimate: MonthEstimate,
}

/// Reads an account's month (two concurrent requests: its usage lines and its running sessions) and
/// estimates it.
/// A running session already billed through the month (invoicing billed it to the month's end) is in
/// the recorded lines: it is not counted again.
pub async fn month_figures<S: UsageStore>(
    store: &S,
    currency: Currency,
    account: &AccountId,
    month: Month,
    now: DateTime<Utc>,
) -> Result<MonthFigures, StoreError> {
    let (recorded, open) = try_join(
        store.month_usage(account, month),
        store.open_sessions(account),
    )
    .await?;
    Ok(estimate_figures(currency, month, recorded, &open, now))
}

/// The figures of a month from its recorded lines and the account's open sessions, as read.
pub fn estimate_figures(
    currency: Currency,
    month: Month,
    recorded: MonthUsage,
    open: &[SessionRecord],
    now: DateTime<Utc>,
) -> MonthFigures {
    let open: Vec<PricedSession> = open
        .iter()
        .filter(|s| s.billed_through.is_none_or(|b| b < month))
        .filter_map(|s| s.priced())
        .collect();
    let estimate = estimate_month(currency, month, &recorded.lines, &open, now);
    MonthFigures {
        recorded,
        open,
        estimate,
    }
}
