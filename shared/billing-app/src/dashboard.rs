//! What the signed-in account sees and changes on its billing page (SPEC §3, §7, §8). Every amount
//! comes from the rules' `estimate_month` and `allocate_credits`, the same functions the alerts and
//! the invoice use, over the per-month usage lines: a constant number of store reads per call.

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;
use serde::Serialize;

use billing_rules::calendar::{first_business_day, Holidays};
use billing_rules::credits::{allocate_credits, CreditGrant};
use billing_rules::estimate::open_session_days;
use billing_rules::rating::RatedLine;
use billing_rules::{Currency, Month};

use crate::alerts::{AlertSettings, AlertStore};
use crate::clock::Clock;
use crate::credits::CreditStore;
use crate::events::{UsageChange, UsageEvent};
use crate::figures::{month_figures, MonthFigures};
use crate::ids::{AccountId, EventId};
use crate::ingest::{IngestError, UsageRecorder};
use crate::invoices::{InvoiceRecord, InvoiceStatus, InvoiceStore};
use crate::store::{StoreError, UsageStore};

/// Credits now, and after this month's projected usage.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct CreditsView {
    /// The unexpired balance now.
    pub remaining: Decimal,
    /// What it will be once this month's projected usage is paid from it.
    pub remaining_after_month: Decimal,
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
}

impl From<AlertSettings> for AlertsView {
    fn from(s: AlertSettings) -> Self {
        Self {
            email: s.email.to_string(),
            thresholds: s.thresholds.values().to_vec(),
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
        let MonthFigures {
            recorded,
            open,
            estimate: e,
        } = month_figures(self.store(), self.currency, account, month, now).await?;
        let grants: Vec<CreditGrant> = self
            .store()
            .grants(account)
            .await?
            .into_iter()
            .map(|g| g.grant)
            .collect();
        let mut days = recorded.days;
        days.extend(open_session_days(month, &open, month.end()));
        let projected_use = allocate_credits(self.currency, &grants, &days, e.projected_total);
        let valid_now: Vec<&CreditGrant> = grants.iter().filter(|g| g.is_valid_at(now)).collect();
        let remaining: Decimal = valid_now.iter().map(|g| g.remaining).sum();
        let used_from_valid: Decimal = projected_use
            .uses
            .iter()
            .filter(|u| valid_now.iter().any(|g| g.id == u.grant_id))
            .map(|u| u.amount)
            .sum();
        Ok(Summary {
            currency: self.currency,
            month,
            as_of: now,
            credits: CreditsView {
                remaining,
                remaining_after_month: remaining - used_from_valid,
            },
            month_to_date: e.month_to_date_total,
            projected_month_end: e.projected_total,
            usage_by_service: e.month_to_date,
            next_charge_date: first_business_day(month.next(), &self.holidays),
            alerts: self
                .store()
                .alert_settings(account)
                .await?
                .map(AlertsView::from),
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
        let e = month_figures(self.store(), self.currency, account, month, now)
            .await?
            .estimate;
        Ok(UsageReport {
            currency: self.currency,
            month,
            total: e.month_to_date_total,
            lines: e.month_to_date,
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
                change: UsageChange::Stopped { at: deleted_at },
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
