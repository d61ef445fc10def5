//! Checking one account: read its figures once, send each due alert that no check claimed before.

use billing_rules::credits::CreditGrant;
use billing_rules::forecast::MonthInput;
use billing_rules::{Currency, Month};

use futures_util::future::try_join;

use super::{
    alert_email, due_alerts, spend_limit_alerts, AlertError, AlertKey, AlertOutcome, AlertStore,
};
use crate::bus::PlatformEvent;
use crate::clock::Clock;
use crate::credits::CreditStore;
use crate::figures::month_figures;
use crate::ids::AccountId;
use crate::notify::{EmailAddress, EventPublisher, Mailer, NotifyError};
use crate::store::UsageStore;

/// Checks an account's alerts and sends what is due.
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
    S: UsageStore + AlertStore + CreditStore,
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

    /// The store it reads.
    pub fn store(&self) -> &S {
        &self.store
    }

    /// Sends every alert the account's figures make due now that was not sent yet; returns the
    /// alerts sent now. A deleted account is not alerted. Cost and credit alerts need alert
    /// settings whose address the mail service did not refuse; spend-limit events go to the
    /// platform whatever the address (emailed too when there is one that works).
    #[tracing::instrument(name = "alert_check", skip_all, fields(account_id = %account))]
    pub async fn check(&self, account: &AccountId) -> Result<Vec<AlertKey>, AlertError> {
        let (settings, limit) = try_join(
            self.store.alert_settings(account),
            self.store.spend_limit(account),
        )
        .await?;
        let settings = settings.filter(|s| s.refused.is_none());
        if settings.is_none() && limit.is_none()
            || self.store.account(account).await?.deleted_at.is_some()
        {
            return Ok(Vec::new());
        }
        let now = self.clock.now();
        let figures =
            month_figures(&self.store, self.currency, account, Month::of(now), now).await?;
        let grants: Vec<CreditGrant> = self
            .store
            .grants(account)
            .await?
            .into_iter()
            .map(|g| g.grant)
            .collect();
        let month = MonthInput {
            currency: self.currency,
            month: Month::of(now),
            recorded: &figures.recorded.lines,
            recorded_days: &figures.recorded.days,
            open: &figures.open,
        };
        let mut due = settings
            .as_ref()
            .map(|s| due_alerts(account, s, &month, &grants, now))
            .unwrap_or_default();
        due.extend(limit.and_then(|l| spend_limit_alerts(account, l, &month, now)));
        if due.is_empty() {
            return Ok(Vec::new());
        }
        let claimed = self.store.claimed_alerts(account).await?;
        let mut sent = Vec::new();
        for (key, event) in due {
            if claimed.contains(&key.id()) || !self.store.claim_alert(account, &key).await? {
                continue;
            }
            match self
                .notify(settings.as_ref().map(|s| &s.email), &event)
                .await
            {
                Ok(()) => {
                    self.store
                        .finish_alert(account, &key, AlertOutcome::Sent)
                        .await?;
                    sent.push(key);
                }
                Err(e) => {
                    self.store
                        .finish_alert(account, &key, AlertOutcome::Failed)
                        .await?;
                    // A refused address is recorded and shown, and never turns this check into an
                    // error: no email is tried until the user changes it.
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
        to: Option<&EmailAddress>,
        event: &PlatformEvent,
    ) -> Result<(), NotifyError> {
        self.publisher.publish(event).await?;
        match to {
            Some(to) => {
                self.mailer
                    .send(&alert_email(to, event, &self.billing_page))
                    .await
            }
            None => Ok(()),
        }
    }
}
