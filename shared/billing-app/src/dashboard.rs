//! What the signed-in account sees and changes on its billing page (SPEC §3, §7, §8). Every amount
//! comes from the rules' `estimate_month` and `allocate_credits`, the same functions the alerts and
//! the invoice use, over the per-month usage lines: a constant number of store reads per call.

use chrono::{DateTime, NaiveDate, Utc};
use futures_util::future::try_join3;
use rust_decimal::Decimal;
use serde::Serialize;

use billing_rules::calendar::{first_business_day, Holidays};
use billing_rules::credits::{
    allocate_credits, balance_after, balance_at, CreditGrant, UsageSlice,
};
use billing_rules::estimate::open_session_days;
use billing_rules::forecast::{runway, MonthInput};
use billing_rules::rating::{slot_count, RatedLine, UsageTotals};
use billing_rules::usage::{billed_hours, hours_in_window};
use billing_rules::ServiceId;
use billing_rules::{Currency, Month};

use crate::alerts::{AlertSettings, AlertStore};
use crate::clock::Clock;
use crate::credits::CreditStore;
use crate::events::{UsageChange, UsageEvent};
use crate::figures::{month_figures, MonthFigures};
use crate::ids::{AccountId, EventId, ResourceId, SessionId};
use crate::ingest::{IngestError, UsageRecorder};
use crate::invoices::{InvoiceRecord, InvoiceStatus, InvoiceStore};
use crate::store::{SessionCursor, StoreError, UsageStore};

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

/// Day amounts summed per day of `month` (others dropped), then rounded, oldest day first.
fn usage_by_day(
    currency: Currency,
    month: Month,
    slices: impl IntoIterator<Item = UsageSlice>,
) -> Vec<DayUsage> {
    let mut days = std::collections::BTreeMap::<NaiveDate, Decimal>::new();
    for slice in slices {
        let date = slice.from.date_naive();
        if Month::of_date(date) == month {
            *days.entry(date).or_default() += slice.amount;
        }
    }
    days.into_iter()
        .map(|(date, amount)| DayUsage {
            date,
            amount: currency.round(amount),
        })
        .collect()
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

/// A dashboard request failed.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// The store failed.
    #[error("billing data could not be read or written")]
    Store(#[from] StoreError),
    /// Closing a session failed.
    #[error("a running session could not be closed")]
    Ingest(#[from] IngestError),
    /// A page cursor that this API did not give out.
    #[error("`{0}` is not a cursor from a previous page")]
    BadCursor(String),
}

/// The billing page's use cases for one account at a time.
#[derive(Debug)]
pub struct Dashboard<S, C> {
    recorder: UsageRecorder<S, C>,
    clock: C,
    currency: Currency,
    holidays: Holidays,
}

impl<S, C> Dashboard<S, C>
where
    S: UsageStore + CreditStore + AlertStore + InvoiceStore,
    C: Clock + Clone,
{
    /// A dashboard; `recorder` closes sessions on deletion through the normal usage path.
    pub fn new(
        recorder: UsageRecorder<S, C>,
        clock: C,
        currency: Currency,
        holidays: Holidays,
    ) -> Self {
        Self {
            recorder,
            clock,
            currency,
            holidays,
        }
    }

    fn store(&self) -> &S {
        self.recorder.store()
    }

    /// The summary of the current month.
    pub async fn summary(&self, account: &AccountId) -> Result<Summary, DashboardError> {
        let now = self.clock.now();
        let month = Month::of(now);
        // Independent reads, concurrently: one round trip's wait instead of one per read.
        let (figures, grants, alerts) = try_join3(
            month_figures(self.store(), self.currency, account, month, now),
            self.store().grants(account),
            self.store().alert_settings(account),
        )
        .await?;
        let MonthFigures {
            recorded,
            open,
            estimate: e,
        } = figures;
        let grants: Vec<CreditGrant> = grants.into_iter().map(|g| g.grant).collect();
        let runs_out_at = runway(
            &MonthInput {
                currency: self.currency,
                month,
                recorded: &recorded.lines,
                recorded_days: &recorded.days,
                open: &open,
            },
            &grants,
            now,
        );
        let mut days = recorded.days;
        days.extend(open_session_days(month, &open, month.end()));
        let projected_use = allocate_credits(self.currency, &grants, &days, e.projected_total);
        Ok(Summary {
            currency: self.currency,
            month,
            as_of: now,
            credits: CreditsView {
                remaining: balance_at(&grants, now),
                remaining_after_month: balance_after(&grants, &projected_use, now),
                runs_out_at,
            },
            month_to_date: e.month_to_date_total,
            projected_month_end: e.projected_total,
            usage_by_service: e.month_to_date,
            next_charge_date: first_business_day(month.next(), &self.holidays),
            alerts: alerts.map(AlertsView::from),
        })
    }

    /// A month's usage by service (default: the current month, to date, open sessions included).
    pub async fn usage(
        &self,
        account: &AccountId,
        month: Option<Month>,
    ) -> Result<UsageReport, DashboardError> {
        let now = self.clock.now();
        let month = month.unwrap_or_else(|| Month::of(now));
        let MonthFigures {
            recorded,
            open,
            estimate: e,
        } = month_figures(self.store(), self.currency, account, month, now).await?;
        let running = open_session_days(month, &open, now);
        Ok(UsageReport {
            currency: self.currency,
            month,
            total: e.month_to_date_total,
            lines: e.month_to_date,
            by_day: usage_by_day(
                self.currency,
                month,
                recorded.days.into_iter().chain(running),
            ),
        })
    }

    /// A page of the sessions with hours in a month (default: the current month). Sessions are read
    /// by start, from the month's start less the longest session accepted, so a page may hold fewer
    /// than `limit` sessions; follow `next_cursor` until it is `null`.
    pub async fn sessions(
        &self,
        account: &AccountId,
        month: Option<Month>,
        cursor: Option<&str>,
        limit: u32,
    ) -> Result<SessionsPage, DashboardError> {
        let now = self.clock.now();
        let month = month.unwrap_or_else(|| Month::of(now));
        let cursor = cursor
            .map(|c| SessionCursor::parse(c).ok_or_else(|| DashboardError::BadCursor(c.to_owned())))
            .transpose()?;
        let from = month.start() - self.recorder.policy().limits.max_duration;
        let (records, next) = self
            .store()
            .sessions_started(account, from, month.end(), cursor.as_ref(), limit)
            .await?;
        let sessions = records
            .iter()
            .filter_map(|r| {
                let priced = r.priced()?;
                let until = r.stopped_at.unwrap_or(now);
                let month_hours =
                    hours_in_window(priced.started_at, until, month.start(), month.end());
                (month_hours > 0).then(|| SessionLine {
                    session: r.session.clone(),
                    resource: r.resource.clone(),
                    service: priced.service.clone(),
                    started_at: priced.started_at,
                    stopped_at: r.stopped_at,
                    minutes: (until - priced.started_at).num_minutes(),
                    billed_hours: billed_hours(priced.started_at, until),
                    month_hours,
                    hourly_price: priced.hourly_price,
                    month_amount: UsageTotals::of(slot_count(month_hours), priced.hourly_price)
                        .amount,
                })
            })
            .collect();
        Ok(SessionsPage {
            currency: self.currency,
            month,
            sessions,
            next_cursor: next.map(|c| c.token()),
        })
    }

    /// Past invoices, newest first.
    pub async fn invoices(
        &self,
        account: &AccountId,
    ) -> Result<Vec<InvoiceRecord>, DashboardError> {
        Ok(self.store().invoices(account).await?)
    }

    /// The alert settings.
    pub async fn alerts(
        &self,
        account: &AccountId,
    ) -> Result<Option<AlertSettings>, DashboardError> {
        Ok(self.store().alert_settings(account).await?)
    }

    /// Replaces the alert settings.
    pub async fn set_alerts(
        &self,
        account: &AccountId,
        settings: &AlertSettings,
    ) -> Result<(), DashboardError> {
        Ok(self.store().save_alert_settings(account, settings).await?)
    }

    /// Deletes the account (SPEC §8): no usage is accepted after this instant, running sessions are
    /// closed at it, and what was used before stays due, billed by the normal cycle. Repeating it
    /// changes nothing and reports the same deletion.
    pub async fn delete_account(&self, account: &AccountId) -> Result<Deletion, DashboardError> {
        let deleted_at = self.store().mark_deleted(account, self.clock.now()).await?;
        let open = self.store().open_sessions(account).await?;
        for session in &open {
            let stop = UsageEvent {
                event_id: EventId::parse(&format!("deletion:{}", session.session)).map_err(
                    |e| StoreError::Corrupt {
                        key: session.session.to_string(),
                        problem: e.to_string(),
                    },
                )?,
                account: account.clone(),
                session: session.session.clone(),
                resource: session.resource.clone(),
                change: UsageChange::Stopped {
                    at: deleted_at,
                    assumed: true,
                },
            };
            match self.recorder.record(&stop).await {
                // A session already longer than the maximum was refused when it ran over: nothing
                // of it is billable, and nothing is left to close.
                Ok(_) | Err(IngestError::Refused(_)) => {}
                Err(e) => return Err(e.into()),
            }
        }
        let month = Month::of(deleted_at);
        let e = month_figures(self.store(), self.currency, account, month, deleted_at)
            .await?
            .estimate;
        let unpaid = self
            .store()
            .invoices(account)
            .await?
            .iter()
            .filter(|r| matches!(r.status, InvoiceStatus::Open | InvoiceStatus::PaymentFailed))
            .map(|r| r.amount_charged)
            .sum();
        Ok(Deletion {
            deleted_at,
            sessions_closed: open.len(),
            usage_to_be_billed: e.month_to_date_total,
            unpaid_invoices: unpaid,
            final_charge_date: first_business_day(month.next(), &self.holidays),
            currency: self.currency,
        })
    }
}
