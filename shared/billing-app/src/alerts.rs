//! Cost threshold alerts (SPEC §7): one email, and one `CostThresholdCrossed` event, per threshold
//! and month, when the month-to-date cost reaches the threshold.
//!
//! The check runs in `record-usage` after each recorded (or redelivered) event of the account, so it
//! sees every change of the month's usage as it happens without another function or a stream. For each
//! crossed threshold a marker is claimed conditionally first: of two concurrent checks only one wins.
//! Then the event is published and the email sent, and the marker is set to `sent`. A failed publish
//! or send marks it `failed`, which a retry may claim again; a crash after sending leaves it claimed,
//! so an email is never sent twice (at most once, retried on known failures).

use std::future::Future;

use rust_decimal::Decimal;

use billing_rules::estimate::MonthEstimate;
use billing_rules::thresholds::Thresholds;
use billing_rules::{Currency, Month};

use crate::clock::Clock;
use crate::figures::month_figures;
use crate::ids::AccountId;
use crate::notify::{
    html_escape, CostThresholdCrossed, Email, EmailAddress, EventPublisher, Mailer, NotifyError,
};
use crate::store::{AccountState, StoreError, UsageStore};

/// Where and when to alert.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlertSettings {
    /// Who is alerted.
    pub email: EmailAddress,
    /// Monthly cost thresholds.
    pub thresholds: Thresholds,
    /// Why the mail service refused the address, if it did: no email is tried again until the
    /// settings are saved again (which clears it). Shown on the billing page.
    pub refused: Option<String>,
}

/// How an alert ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AlertOutcome {
    /// Sent: never again this month.
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

    /// What billing knows of the account.
    fn account(
        &self,
        account: &AccountId,
    ) -> impl Future<Output = Result<AccountState, StoreError>> + Send;

    /// Claims the alert of a threshold and month; `false` if it was sent or is being sent.
    fn claim_alert(
        &self,
        account: &AccountId,
        month: Month,
        threshold: Decimal,
    ) -> impl Future<Output = Result<bool, StoreError>> + Send;

    /// Records how a claimed alert ended.
    fn finish_alert(
        &self,
        account: &AccountId,
        month: Month,
        threshold: Decimal,
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
    #[error("a cost alert could not be sent")]
    Notify(#[from] NotifyError),
}

/// Checks an account's thresholds and sends what is due.
#[derive(Debug)]
pub struct CostAlerts<S, M, P, C> {
    store: S,
    mailer: M,
    publisher: P,
    clock: C,
    currency: Currency,
    billing_page: String,
}

impl<S, M, P, C> CostAlerts<S, M, P, C>
where
    S: UsageStore + AlertStore,
    M: Mailer,
    P: EventPublisher,
    C: Clock,
{
    /// An alert checker; `billing_page` is the link the email gives.
    pub fn new(
        store: S,
        mailer: M,
        publisher: P,
        clock: C,
        currency: Currency,
        billing_page: String,
    ) -> Self {
        Self {
            store,
            mailer,
            publisher,
            clock,
            currency,
            billing_page,
        }
    }

    /// Sends the alerts of every threshold the account's current month has reached and that was not
    /// sent yet; returns the thresholds alerted now.
    pub async fn check(&self, account: &AccountId) -> Result<Vec<Decimal>, AlertError> {
        let Some(settings) = self.store.alert_settings(account).await? else {
            return Ok(Vec::new());
        };
        if settings.thresholds.values().is_empty()
            || settings.refused.is_some()
            || self.store.account(account).await?.deleted_at.is_some()
        {
            return Ok(Vec::new());
        }
        let now = self.clock.now();
        let month = Month::of(now);
        let estimate = month_figures(&self.store, self.currency, account, month, now)
            .await?
            .estimate;
        let mut sent = Vec::new();
        for threshold in settings.thresholds.crossed(estimate.month_to_date_total) {
            if !self.store.claim_alert(account, month, threshold).await? {
                continue;
            }
            match self
                .notify(account, &settings.email, threshold, &estimate)
                .await
            {
                Ok(()) => {
                    self.store
                        .finish_alert(account, month, threshold, AlertOutcome::Sent)
                        .await?;
                    sent.push(threshold);
                }
                Err(e) => {
                    self.store
                        .finish_alert(account, month, threshold, AlertOutcome::Failed)
                        .await?;
                    // A refused address is recorded and shown, and never turns this usage event
                    // (or a later one) into an error: no email is tried until the user changes it.
                    if let Some(refused) = e.refused() {
                        tracing::warn!(account_id = %account, "alert address refused; alerts paused until it changes");
                        self.store.record_refusal(account, &refused.0).await?;
                        return Ok(sent);
                    }
                    return Err(e.into());
                }
            }
        }
        Ok(sent)
    }

    async fn notify(
        &self,
        account: &AccountId,
        to: &EmailAddress,
        threshold: Decimal,
        e: &MonthEstimate,
    ) -> Result<(), NotifyError> {
        let event = CostThresholdCrossed {
            alert_id: format!("{account}:{}:{}", e.month, threshold.normalize()),
            account_id: account.clone(),
            month: e.month,
            threshold,
            month_to_date: e.month_to_date_total,
            projected: e.projected_total,
            currency: self.currency,
        };
        self.publisher.threshold_crossed(&event).await?;
        self.mailer
            .send(&alert_email(to, &event, &self.billing_page))
            .await
    }
}

/// The alert email: month, threshold, amount, projection and a link to the billing page.
pub fn alert_email(to: &EmailAddress, e: &CostThresholdCrossed, billing_page: &str) -> Email {
    let c = e.currency;
    let subject = format!(
        "Your {} costs reached your alert threshold of {} {c}",
        e.month,
        e.threshold.normalize()
    );
    let text = format!(
        "Your month-to-date cost for {month} is {mtd} {c}, which reached your alert threshold of \
         {threshold} {c}.\n\nIf your running resources keep running, {month} will end at about \
         {projected} {c}.\n\nSee the details and manage alerts on your billing page: {billing_page}\n",
        month = e.month,
        mtd = e.month_to_date,
        threshold = e.threshold.normalize(),
        projected = e.projected,
    );
    let html = format!(
        "<p>Your month-to-date cost for <strong>{month}</strong> is <strong>{mtd} {c}</strong>, which \
         reached your alert threshold of <strong>{threshold} {c}</strong>.</p>\
         <p>If your running resources keep running, {month} will end at about {projected} {c}.</p>\
         <p><a href=\"{link}\">See the details and manage alerts on your billing page</a></p>",
        month = e.month,
        mtd = e.month_to_date,
        threshold = e.threshold.normalize(),
        projected = e.projected,
        link = html_escape(billing_page),
    );
    Email {
        to: to.clone(),
        subject,
        text,
        html,
    }
}
