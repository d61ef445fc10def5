//! What the signed-in account sees and changes on its billing page (SPEC §3, §7, §8). Every amount
//! comes from the rules' `estimate_month` and `allocate_credits`, the same functions the alerts and
//! the invoice use, over the per-month usage lines: a constant number of store reads per call.

use chrono::NaiveDate;
use futures_util::future::try_join4;
use rust_decimal::Decimal;

use billing_rules::calendar::{first_business_day, Holidays};
use billing_rules::credits::{
    allocate_credits, balance_after, balance_at, CreditGrant, UsageSlice,
};
use billing_rules::estimate::open_session_days;
use billing_rules::forecast::{runway, MonthInput};
use billing_rules::rating::{slot_count, UsageTotals};
use billing_rules::usage::{billed_hours, hours_in_window};
use billing_rules::{Currency, Month};

use crate::access::{check_access, AccessDecision, AccessError, AccessStore};
use crate::alerts::{AlertSettings, AlertStore, SpendLimit, SpendLimitError};
use crate::clock::Clock;
use crate::credits::CreditStore;
use crate::events::{UsageChange, UsageEvent};
use crate::figures::{month_figures, MonthFigures};
use crate::ids::{AccountId, EventId};
use crate::ingest::{IngestError, UsageRecorder};
use crate::invoices::{InvoiceRecord, InvoiceStatus, InvoiceStore};
use crate::store::{SessionCursor, StoreError, UsageStore};

mod views;

pub use views::{
    AlertsView, CreditsView, DayUsage, Deletion, SessionLine, SessionsPage, Summary, UsageReport,
};

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

/// A dashboard request failed.
#[derive(Debug, thiserror::Error)]
pub enum DashboardError {
    /// The store failed.
    #[error("billing data could not be read or written")]
    Store(#[from] StoreError),
    /// Closing a session failed.
    #[error("a running session could not be closed")]
    Ingest(#[from] IngestError),
    /// Not a spend limit.
    #[error(transparent)]
    BadSpendLimit(#[from] SpendLimitError),
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
        let (figures, grants, alerts, limit) = try_join4(
            month_figures(self.store(), self.currency, account, month, now),
            self.store().grants(account),
            self.store().alert_settings(account),
            self.store().spend_limit(account),
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
            spend_limit: limit.map(SpendLimit::amount),
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

    /// The spend limit, if set.
    pub async fn spend_limit(
        &self,
        account: &AccountId,
    ) -> Result<Option<SpendLimit>, DashboardError> {
        Ok(self.store().spend_limit(account).await?)
    }

    /// Sets (or, with `None`, removes) the monthly spend limit; an amount that is not a limit in
    /// the account's currency changes nothing.
    pub async fn set_spend_limit(
        &self,
        account: &AccountId,
        amount: Option<Decimal>,
    ) -> Result<Option<SpendLimit>, DashboardError> {
        let limit = amount
            .map(|a| SpendLimit::parse(a, self.currency))
            .transpose()?;
        self.store()
            .save_spend_limit(account, limit.as_ref())
            .await?;
        Ok(limit)
    }

    /// The platform's question (not the account's): may it start usage costing `hourly` an hour
    /// now? See [`crate::access`].
    pub async fn access(
        &self,
        account: &AccountId,
        hourly: Decimal,
    ) -> Result<AccessDecision, AccessError>
    where
        S: AccessStore,
    {
        check_access(
            self.store(),
            self.currency,
            account,
            hourly,
            self.clock.now(),
        )
        .await
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
