//! Histories: the truth of a few months of a few accounts, and the timed actions through which the
//! system learns it (usage events delivered late, twice, out of order; prices, credits, deletions,
//! cards, billing runs). A history is a pure function of its seed.

use std::collections::BTreeSet;
use std::fmt;

use chrono::{DateTime, NaiveDate, Utc};
use rust_decimal::Decimal;

use billing_rules::Currency;

use crate::oracle::Truth;

pub use crate::generate::generate;

/// A card the account saves with the processor.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Card {
    /// Charges succeed.
    Succeeds,
    /// Charges are declined.
    Declines,
    /// The bank asks for authentication.
    RequiresAction,
}

/// What a usage event says.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    /// `ResourceStarted`.
    Started {
        /// Service.
        service: String,
        /// Stamp.
        at: DateTime<Utc>,
    },
    /// `ResourceStopped`.
    Stopped {
        /// Stamp.
        at: DateTime<Utc>,
    },
    /// `UsageRecorded`.
    Recorded {
        /// Service.
        service: String,
        /// Start.
        started_at: DateTime<Utc>,
        /// Stop.
        stopped_at: DateTime<Utc>,
        /// Whether `session_id` is sent (otherwise it defaults to the event id).
        session_given: bool,
    },
}

/// A usage event as a platform service sends it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UsageSpec {
    /// Account.
    pub account: String,
    /// Event id (unique per account only).
    pub event_id: String,
    /// Session id.
    pub session: String,
    /// Resource id.
    pub resource: String,
    /// What happened.
    pub change: Change,
}

/// What the platform must answer to an event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Expect {
    /// Recorded (or recognised as a repeat).
    Accepted,
    /// Refused: stamped after the account's deletion.
    RefusedDeleted,
    /// Refused: a rule breaks (stop before start, unknown service).
    RefusedInvalid,
}

/// A credit grant as an operator makes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GrantSpec {
    /// Account.
    pub account: String,
    /// Id (unique per account only).
    pub id: String,
    /// Promotional (`false`: paid).
    pub promotional: bool,
    /// Priority.
    pub priority: u32,
    /// Amount.
    pub amount: Decimal,
    /// 00:00 UTC.
    pub effective_at: DateTime<Utc>,
    /// 00:00 UTC, later than the grant's creation.
    pub expires_at: Option<DateTime<Utc>>,
}

/// One step of a history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Action {
    /// An operator sets a price (never sooner than 5 minutes ahead).
    SetPrice {
        /// Service.
        service: String,
        /// In force from.
        effective_from: DateTime<Utc>,
        /// Hourly price.
        hourly: Decimal,
    },
    /// A usage event is delivered.
    Usage {
        /// The event.
        spec: UsageSpec,
        /// What the answer must be.
        expect: Expect,
    },
    /// A grant is created.
    Grant(GrantSpec),
    /// A grant's unused part is revoked.
    Revoke {
        /// Account.
        account: String,
        /// Grant.
        grant: String,
    },
    /// The user deletes the account; `interrupted`: only the deletion instant is written (the
    /// function crashed before closing sessions, and was not retried).
    Delete {
        /// Account.
        account: String,
        /// Interrupted.
        interrupted: bool,
    },
    /// The user saves a card as the default method.
    SaveCard {
        /// Account.
        account: String,
        /// The card.
        card: Card,
    },
    /// The scheduled billing run.
    BillingRun,
    /// The last run, after every usage event was delivered; then everything settles.
    FinalRun,
}

/// An action and when it happens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Timed {
    /// When.
    pub at: DateTime<Utc>,
    /// What.
    pub action: Action,
}

/// What the generator decides about an account beyond its truth.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AccountPlan {
    /// Id.
    pub id: String,
    /// The card saved before anything happens; `None`: no customer and no card (invoicing creates
    /// the customer, and charges find no payment method).
    pub card: Option<Card>,
    /// Every email to it fails.
    pub bounces: bool,
}

/// Knobs of the system's faults, drawn per history.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Faults {
    /// Percent of worker executions that crash at a random point.
    pub crash_percent: u64,
    /// Percent of crashed executions retried more than 24 h later.
    pub retry_days_percent: u64,
    /// Percent of emails that fail (besides bouncing accounts).
    pub mail_failure_percent: u64,
    /// Percent of webhook events delivered twice.
    pub webhook_duplicate_percent: u64,
    /// Longest webhook delay, in minutes.
    pub webhook_max_delay_minutes: i64,
    /// Percent of work items the queue delivers twice.
    pub queue_duplicate_percent: u64,
}

/// A generated history.
#[derive(Debug, Clone)]
pub struct History {
    /// Its seed.
    pub seed: u64,
    /// Currency of every price.
    pub currency: Currency,
    /// Start of the usage.
    pub start: DateTime<Utc>,
    /// Last usage event delivered before this.
    pub end: DateTime<Utc>,
    /// Configured holidays.
    pub holidays: BTreeSet<NaiveDate>,
    /// The price schedule (service, effective from, hourly).
    pub prices: Vec<(String, DateTime<Utc>, Decimal)>,
    /// What really happened.
    pub truth: Truth,
    /// Per account: card and mail.
    pub accounts: Vec<AccountPlan>,
    /// Faults.
    pub faults: Faults,
    /// Every action, in time order.
    pub actions: Vec<Timed>,
}

fn fmt_t(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::Started { service, at } => write!(f, "Started {service} at {}", fmt_t(*at)),
            Change::Stopped { at } => write!(f, "Stopped at {}", fmt_t(*at)),
            Change::Recorded {
                service,
                started_at,
                stopped_at,
                session_given,
            } => write!(
                f,
                "Recorded {service} {} → {}{}",
                fmt_t(*started_at),
                fmt_t(*stopped_at),
                if *session_given {
                    ""
                } else {
                    " (no session id)"
                }
            ),
        }
    }
}

impl fmt::Display for Action {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Action::SetPrice {
                service,
                effective_from,
                hourly,
            } => write!(
                f,
                "price {service} = {hourly}/h from {}",
                fmt_t(*effective_from)
            ),
            Action::Usage { spec, expect } => write!(
                f,
                "usage {} {} {}/{}: {}{}",
                spec.account,
                spec.event_id,
                spec.session,
                spec.resource,
                spec.change,
                match expect {
                    Expect::Accepted => "",
                    Expect::RefusedDeleted => " [must be refused: after deletion]",
                    Expect::RefusedInvalid => " [must be refused: invalid]",
                }
            ),
            Action::Grant(g) => write!(
                f,
                "grant {} {} {} {} prio {} from {} until {}",
                g.account,
                g.id,
                g.amount,
                if g.promotional { "promotional" } else { "paid" },
                g.priority,
                fmt_t(g.effective_at),
                g.expires_at.map_or("never".into(), fmt_t)
            ),
            Action::Revoke { account, grant } => write!(f, "revoke {account} {grant}"),
            Action::Delete {
                account,
                interrupted,
            } => write!(
                f,
                "delete {account}{}",
                if *interrupted { " (interrupted)" } else { "" }
            ),
            Action::SaveCard { account, card } => write!(f, "save card {account} {card:?}"),
            Action::BillingRun => write!(f, "billing run"),
            Action::FinalRun => write!(f, "final billing run"),
        }
    }
}

impl fmt::Display for History {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(
            f,
            "history {:#x}: {} from {} to {}, holidays {:?}",
            self.seed,
            self.currency,
            fmt_t(self.start),
            fmt_t(self.end),
            self.holidays
                .iter()
                .map(|d| d.to_string())
                .collect::<Vec<_>>()
        )?;
        writeln!(f, "faults: {:?}", self.faults)?;
        for a in &self.truth.accounts {
            let plan = self.accounts.iter().find(|p| p.id == a.id);
            writeln!(
                f,
                "truth {}{}{}:",
                a.id,
                a.deleted_at
                    .map_or(String::new(), |d| format!(" deleted at {}", fmt_t(d))),
                plan.map_or(String::new(), |p| format!(
                    " card {:?}{}",
                    p.card,
                    if p.bounces { ", email bounces" } else { "" }
                ))
            )?;
            for s in &a.sessions {
                writeln!(
                    f,
                    "  {} {} at {}/h: {} → {}",
                    s.session,
                    s.service,
                    s.price,
                    fmt_t(s.start),
                    s.stop.map_or("running".into(), fmt_t)
                )?;
            }
        }
        Ok(())
    }
}
