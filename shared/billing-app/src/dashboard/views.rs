//! What the billing page is shown: the views the dashboard's calls return, serialized as they are.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use billing_rules::rating::RatedLine;
use billing_rules::ServiceId;
use billing_rules::{Currency, Month};

use crate::alerts::AlertSettings;
use crate::ids::{ResourceId, SessionId};

/// Credits now, and after this month's projected usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreditsView {
    /// The unexpired balance now.
    pub remaining: Decimal,
    /// What it will be once this month's projected usage is paid from it.
    pub remaining_after_month: Decimal,
    /// When they run out if the running sessions keep running (over this month and the next
    /// twelve); `null` when nothing is left or they last past that.
    pub runs_out_at: Option<DateTime<Utc>>,
}

/// The billing page's summary.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Summary {
    /// Currency of every amount.
    pub currency: Currency,
    /// The current month.
    pub month: Month,
    /// When the figures were computed.
    pub as_of: DateTime<Utc>,
    /// Credits.
    pub credits: CreditsView,
    /// Every hour started this month, open sessions included.
    pub month_to_date: Decimal,
    /// If open sessions keep running to the month's end.
    pub projected_month_end: Decimal,
    /// Month to date by service.
    pub usage_by_service: Vec<RatedLine>,
    /// When this month will be charged (its first business day of next month).
    pub next_charge_date: NaiveDate,
    /// Alert settings, if any.
    pub alerts: Option<AlertsView>,
    /// The monthly spend limit, if set.
    pub spend_limit: Option<Decimal>,
}

/// Alert settings as shown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlertsView {
    /// Who is alerted.
    pub email: String,
    /// Thresholds, ascending.
    pub thresholds: Vec<Decimal>,
    /// Whether a threshold the projection will reach is forecast, with the instant it will.
    pub forecast: bool,
    /// Credit balance levels, ascending.
    pub low_balance: Vec<Decimal>,
    /// Why the mail service refused the address, if it did: alerts are paused until it changes.
    pub refused: Option<String>,
}

impl From<AlertSettings> for AlertsView {
    fn from(s: AlertSettings) -> Self {
        Self {
            email: s.email.to_string(),
            thresholds: s.thresholds.values().to_vec(),
            forecast: s.forecast,
            low_balance: s.low_balance.values().to_vec(),
            refused: s.refused,
        }
    }
}

/// A month's usage by service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct UsageReport {
    /// Currency.
    pub currency: Currency,
    /// The month (invoice month: adjustment lines name their own month).
    pub month: Month,
    /// Lines by service.
    pub lines: Vec<RatedLine>,
    /// Their sum.
    pub total: Decimal,
    /// The month's usage per UTC day, each day rounded on its own (the total rounds once, per line).
    pub by_day: Vec<DayUsage>,
}

/// One day's usage (every service).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct DayUsage {
    /// The UTC day.
    pub date: NaiveDate,
    /// The amount of the hours that started that day, rounded to the currency's minor unit.
    pub amount: Decimal,
}

/// One session of a month's detail.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionLine {
    /// The session.
    pub session: SessionId,
    /// The resource it ran on.
    pub resource: ResourceId,
    /// The service.
    pub service: ServiceId,
    /// Start.
    pub started_at: DateTime<Utc>,
    /// Stop; `null` while it runs.
    pub stopped_at: Option<DateTime<Utc>>,
    /// Whole minutes run (to now while it runs).
    pub minutes: i64,
    /// Billed hours of the whole session (so far while it runs).
    pub billed_hours: u64,
    /// Of those, the hours that started in the month.
    pub month_hours: u64,
    /// The hourly price, fixed at the start.
    pub hourly_price: Decimal,
    /// `month_hours × hourly_price`, exact (invoice lines round once, per service).
    pub month_amount: Decimal,
}

/// A page of a month's sessions, oldest start first.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct SessionsPage {
    /// Currency.
    pub currency: Currency,
    /// The month.
    pub month: Month,
    /// The sessions with hours in the month.
    pub sessions: Vec<SessionLine>,
    /// Pass as `cursor` for the next page; `null` on the last page.
    pub next_cursor: Option<String>,
}

/// What deleting an account did, and what is still due.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Deletion {
    /// When the account was deleted (the first deletion, if repeated).
    pub deleted_at: DateTime<Utc>,
    /// Sessions closed at that instant.
    pub sessions_closed: usize,
    /// Usage of the current month, billed by the normal cycle.
    pub usage_to_be_billed: Decimal,
    /// Invoices still open or failed, still due.
    pub unpaid_invoices: Decimal,
    /// When the final bill is charged.
    pub final_charge_date: NaiveDate,
    /// Currency.
    pub currency: Currency,
}
