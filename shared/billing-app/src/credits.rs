//! Credit grants and their append-only ledger (SPEC §4.2): who granted what and why, what each grant
//! paid for, and what was revoked.

use std::future::Future;

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;
use serde::{Deserialize, Serialize};

use billing_rules::credits::{CreditGrant, GrantKind};
use billing_rules::{Currency, Month};

use crate::ids::AccountId;
use crate::store::StoreError;

/// A grant as stored: the rules' view plus its history.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct StoredGrant {
    /// What the rules use (id, kind, priority, remaining, validity, age).
    #[serde(flatten)]
    pub grant: CreditGrant,
    /// The amount granted.
    pub amount: Decimal,
    /// Who granted it.
    pub granted_by: String,
    /// Why.
    pub reason: String,
}

/// One line of an account's credit ledger.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum LedgerEntry {
    /// A grant was created.
    Granted {
        /// The grant.
        grant_id: String,
        /// Its amount.
        amount: Decimal,
        /// Who.
        by: String,
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
    /// A grant paid for part of an invoice.
    Used {
        /// The grant.
        grant_id: String,
        /// How much.
        amount: Decimal,
        /// The invoice's month.
        invoice_month: Month,
        /// When.
        at: DateTime<Utc>,
    },
    /// The unused part of a grant was revoked.
    Revoked {
        /// The grant.
        grant_id: String,
        /// How much was left and is now gone.
        amount: Decimal,
        /// Who.
        by: String,
        /// Why.
        reason: String,
        /// When.
        at: DateTime<Utc>,
    },
}

/// A grant that cannot be created or changed.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum GrantError {
    /// Zero, negative, or finer than the currency's minor unit.
    #[error("a grant must be a positive amount in whole minor units of {currency} (got {amount})")]
    BadAmount {
        /// The amount given.
        amount: Decimal,
        /// The currency.
        currency: Currency,
    },
    /// The expiry is not after both now and the effective time.
    #[error("the expiry {expires_at} must be later than now and than the start {effective_at}")]
    BadExpiry {
        /// Start of validity.
        effective_at: DateTime<Utc>,
        /// Requested expiry.
        expires_at: DateTime<Utc>,
    },
    /// An id that exists already.
    #[error("grant `{0}` exists already")]
    Exists(String),
    /// An id that does not exist.
    #[error("there is no grant `{0}` on this account")]
    Unknown(String),
    /// No reason, or no operator name.
    #[error("a grant and a revocation need who and why")]
    Unaccounted,
}

/// A new grant, validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewGrant(StoredGrant);

impl NewGrant {
    /// Validates a grant created at `now`. `effective_at` and `expires_at` are 00:00 UTC instants
    /// in practice (usage is kept per day), but any instant is accepted.
    #[allow(clippy::too_many_arguments)]
    pub fn new(
        id: String,
        currency: Currency,
        kind: GrantKind,
        priority: u32,
        amount: Decimal,
        effective_at: DateTime<Utc>,
        expires_at: Option<DateTime<Utc>>,
        now: DateTime<Utc>,
        granted_by: String,
        reason: String,
    ) -> Result<Self, GrantError> {
        if amount <= Decimal::ZERO || currency.round(amount) != amount {
            return Err(GrantError::BadAmount { amount, currency });
        }
        if let Some(exp) = expires_at {
            if exp <= now || exp <= effective_at {
                return Err(GrantError::BadExpiry {
                    effective_at,
                    expires_at: exp,
                });
            }
        }
        accounted(&granted_by, &reason)?;
        Ok(Self(StoredGrant {
            grant: CreditGrant {
                id,
                kind,
                priority,
                remaining: amount,
                effective_at,
                expires_at,
                granted_at: now,
            },
            amount,
            granted_by,
            reason,
        }))
    }

    /// The grant to store.
    pub fn grant(&self) -> &StoredGrant {
        &self.0
    }
}

/// Every change to credits says who made it and why.
fn accounted(by: &str, reason: &str) -> Result<(), GrantError> {
    if by.trim().is_empty() || reason.trim().is_empty() {
        return Err(GrantError::Unaccounted);
    }
    Ok(())
}

/// Who revokes a grant's unused part, and why: validated once, before any store sees it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Revocation {
    by: String,
    reason: String,
}

impl Revocation {
    /// A revocation; refused without who and why.
    pub fn new(by: &str, reason: &str) -> Result<Self, GrantError> {
        accounted(by, reason)?;
        Ok(Self {
            by: by.to_owned(),
            reason: reason.to_owned(),
        })
    }

    /// Who.
    pub fn by(&self) -> &str {
        &self.by
    }

    /// Why.
    pub fn reason(&self) -> &str {
        &self.reason
    }
}

/// Storage of grants and their ledger. Every change of a grant is written with its ledger entry in
/// one transaction.
pub trait CreditStore: Send + Sync {
    /// Creates a grant (refused if its id exists) with its `Granted` entry.
    fn create_grant(
        &self,
        account: &AccountId,
        grant: &NewGrant,
    ) -> impl Future<Output = Result<Result<(), GrantError>, StoreError>> + Send;

    /// An account's grants, as they stand.
    fn grants(
        &self,
        account: &AccountId,
    ) -> impl Future<Output = Result<Vec<StoredGrant>, StoreError>> + Send;

    /// Sets a grant's remaining amount to zero, recording what was left; returns that amount.
    fn revoke_grant(
        &self,
        account: &AccountId,
        grant_id: &str,
        revocation: &Revocation,
        at: DateTime<Utc>,
    ) -> impl Future<Output = Result<Result<Decimal, GrantError>, StoreError>> + Send;

    /// The account's ledger, oldest first.
    fn ledger(
        &self,
        account: &AccountId,
    ) -> impl Future<Output = Result<Vec<LedgerEntry>, StoreError>> + Send;
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(s: &str) -> DateTime<Utc> {
        s.parse().expect("t")
    }

    fn new(amount: &str, expires: Option<&str>, by: &str) -> Result<NewGrant, GrantError> {
        NewGrant::new(
            "g1".into(),
            Currency::Usd,
            GrantKind::Promotional,
            0,
            amount.parse().expect("d"),
            at("2026-11-01T00:00:00Z"),
            expires.map(at),
            at("2026-11-20T12:00:00Z"),
            by.into(),
            "welcome".into(),
        )
    }

    #[test]
    fn a_grant_needs_a_positive_whole_cent_amount_a_future_expiry_and_who_and_why() {
        assert!(new("10.00", Some("2027-01-01T00:00:00Z"), "ops@example.com").is_ok());
        assert!(matches!(
            new("0", None, "ops"),
            Err(GrantError::BadAmount { .. })
        ));
        assert!(matches!(
            new("-5", None, "ops"),
            Err(GrantError::BadAmount { .. })
        ));
        assert!(matches!(
            new("1.005", None, "ops"),
            Err(GrantError::BadAmount { .. })
        ));
        assert!(matches!(
            new("5", Some("2026-11-19T00:00:00Z"), "ops"),
            Err(GrantError::BadExpiry { .. })
        ));
        assert_eq!(new("5", None, " "), Err(GrantError::Unaccounted));
        assert_eq!(Revocation::new("ops", ""), Err(GrantError::Unaccounted));
        assert!(Revocation::new("ops", "duplicate account").is_ok());
    }
}
