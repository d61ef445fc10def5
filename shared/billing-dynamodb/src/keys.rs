//! Every key of the table in one place: partition and sort keys, index keys and index names.
//!
//! Stored items are found again only by these formats: changing one orphans every item written
//! with the old one.

use std::fmt::Display;

use billing_app::alerts::AlertKey;
use billing_app::ids::{AccountId, EventId, SessionId};
use billing_rules::{Month, ServiceId};
use chrono::{DateTime, Utc};

use crate::codec::{s, time_s, Item};

/// The index of open sessions: `OPEN#<account>` / `<start>#<session>`.
pub(crate) const OPEN_INDEX: &str = "GSI1";
/// The index of sessions by start: `SESSIONS#<account>` / `<start>#<session>`.
pub(crate) const SESSIONS_INDEX: &str = "GSI2";
/// The invoicing roster: `ROSTER#<shard>` / `<account>`.
pub(crate) const ROSTER_INDEX: &str = "GSI3";
/// Open sessions by the account's roster shard, for the alert sweep: `RUNNING#<shard>` / `<account>`.
pub(crate) const RUNNING_INDEX: &str = "GSI4";

pub(crate) const ACCOUNT_SK: &str = "ACCOUNT";
pub(crate) const ALERTS_SK: &str = "ALERTS";
/// The sort key of both event markers, usage (`EVENT#..`) and Stripe (`STRIPE_EVENT#..`).
pub(crate) const MARKER_SK: &str = "EVENT";
pub(crate) const PRICES_PK: &str = "PRICES";

const SESSION_PREFIX: &str = "SESSION#";
pub(crate) const GRANT_PREFIX: &str = "GRANT#";
pub(crate) const LEDGER_PREFIX: &str = "LEDGER#";
pub(crate) const INVOICE_PREFIX: &str = "INVOICE#";
pub(crate) const ALERT_PREFIX: &str = "ALERT#";

/// The table key (`PK`, `SK`) of an item: a key to read by, or the start of an item to write.
pub(crate) fn primary_key(pk: &str, sk: &str) -> Item {
    Item::from([("PK".to_owned(), s(pk)), ("SK".to_owned(), s(sk))])
}

/// The partition of everything an account owns. Takes any display so that a roster cursor (the
/// account id as stored in `GSI3SK`) makes the same key as the id itself.
pub(crate) fn account_pk(account: impl Display) -> String {
    format!("ACCOUNT#{account}")
}

pub(crate) fn session_sk(session: &SessionId) -> String {
    format!("{SESSION_PREFIX}{session}")
}

/// The session id in a session's sort key (the whole key if it has no prefix).
pub(crate) fn session_of_sk(sk: &str) -> &str {
    sk.strip_prefix(SESSION_PREFIX).unwrap_or(sk)
}

/// `GSI1PK` of an open session.
pub(crate) fn open_pk(account: &AccountId) -> String {
    format!("OPEN#{account}")
}

/// `GSI2PK` of a started session.
pub(crate) fn sessions_pk(account: &AccountId) -> String {
    format!("SESSIONS#{account}")
}

/// `GSI1SK` and `GSI2SK` of a session: by start, then by id.
pub(crate) fn started_sk(started_at: DateTime<Utc>, session: &SessionId) -> String {
    format!("{}#{session}", time_s(started_at))
}

/// The common prefix of an invoice month's usage lines: one Query reads them all.
pub(crate) fn usage_prefix(invoice_month: Month) -> String {
    format!("USAGE#{invoice_month}#")
}

pub(crate) fn usage_sk(invoice_month: Month, usage_month: Month, service: &ServiceId) -> String {
    format!("{}{usage_month}#{service}", usage_prefix(invoice_month))
}

pub(crate) fn price_sk(service: &ServiceId, effective_from: DateTime<Utc>) -> String {
    format!("PRICE#{service}#{}", time_s(effective_from))
}

/// Event ids are unique per account: two accounts may use one id for different events.
pub(crate) fn marker_pk(account: &AccountId, event: &EventId) -> String {
    format!("EVENT#{account}#{event}")
}

/// The partition of refused usage of the accounts of one roster shard.
pub(crate) fn refused_pk(shard: u8) -> String {
    format!("REFUSED#{shard:02}")
}

/// A refused event: unique per account and event id, like its marker.
pub(crate) fn refused_sk(account: &AccountId, event: &EventId) -> String {
    format!("{account}#{event}")
}

/// A sent-alert marker: `ALERT#<id with # for :>` (a crossed threshold: `ALERT#<month>#<threshold>`).
pub(crate) fn alert_sk(key: &AlertKey) -> String {
    format!("{ALERT_PREFIX}{}", key.id().replace(':', "#"))
}

pub(crate) fn grant_sk(grant_id: &str) -> String {
    format!("{GRANT_PREFIX}{grant_id}")
}

pub(crate) fn ledger_sk(at: DateTime<Utc>, grant_id: &str, kind: &str) -> String {
    format!("{LEDGER_PREFIX}{}#{grant_id}#{kind}", time_s(at))
}

pub(crate) fn invoice_sk(month: Month) -> String {
    format!("{INVOICE_PREFIX}{month}")
}

/// `GSI3PK` of an account on the roster.
pub(crate) fn roster_pk(shard: u8) -> String {
    format!("ROSTER#{shard:02}")
}

/// `GSI4PK` of an open session: its account's roster shard (`GSI4SK` is the account id).
pub(crate) fn running_pk(shard: u8) -> String {
    format!("RUNNING#{shard:02}")
}

/// `GSI3SK` of an account on the roster: its id, read back as the account to invoice.
pub(crate) fn roster_sk(account: &AccountId) -> &str {
    account.as_str()
}

pub(crate) fn stripe_event_pk(id: &str) -> String {
    format!("STRIPE_EVENT#{id}")
}

#[cfg(test)]
mod tests {
    use super::*;
    use rust_decimal::Decimal;

    #[test]
    fn keys_are_the_formats_already_stored() {
        let account = AccountId::parse("acct-1").expect("account");
        let session = SessionId::parse("s-1").expect("session");
        let event = EventId::parse("e-1").expect("event");
        let service = ServiceId::parse("gpu").expect("service");
        let march: Month = "2026-03".parse().expect("month");
        let february: Month = "2026-02".parse().expect("month");
        let t: DateTime<Utc> = "2026-03-05T10:00:00Z".parse().expect("time");
        let stamp = "2026-03-05T10:00:00.000000000Z";

        assert_eq!(account_pk(&account), "ACCOUNT#acct-1");
        assert_eq!(account_pk("acct-1"), account_pk(&account));
        assert_eq!(session_sk(&session), "SESSION#s-1");
        assert_eq!(open_pk(&account), "OPEN#acct-1");
        assert_eq!(sessions_pk(&account), "SESSIONS#acct-1");
        assert_eq!(started_sk(t, &session), format!("{stamp}#s-1"));
        assert_eq!(usage_prefix(march), "USAGE#2026-03#");
        assert_eq!(
            usage_sk(march, february, &service),
            "USAGE#2026-03#2026-02#gpu"
        );
        assert_eq!(price_sk(&service, t), format!("PRICE#gpu#{stamp}"));
        assert_eq!(marker_pk(&account, &event), "EVENT#acct-1#e-1");
        assert_eq!(refused_pk(3), "REFUSED#03");
        assert_eq!(refused_sk(&account, &event), "acct-1#e-1");
        assert_eq!(
            alert_sk(&AlertKey::Crossed {
                month: march,
                threshold: Decimal::new(1000, 2)
            }),
            "ALERT#2026-03#10"
        );
        assert_eq!(
            alert_sk(&AlertKey::Forecast {
                month: march,
                threshold: Decimal::new(50, 0)
            }),
            "ALERT#2026-03#forecast#50"
        );
        assert_eq!(grant_sk("g-1"), "GRANT#g-1");
        assert_eq!(
            ledger_sk(t, "g-1", "used"),
            format!("LEDGER#{stamp}#g-1#used")
        );
        assert_eq!(invoice_sk(march), "INVOICE#2026-03");
        assert_eq!(roster_pk(7), "ROSTER#07");
        assert_eq!(roster_sk(&account), "acct-1");
        assert_eq!(stripe_event_pk("evt_1"), "STRIPE_EVENT#evt_1");
    }

    #[test]
    fn a_session_id_is_read_back_from_its_sort_key() {
        let session = SessionId::parse("s-1").expect("session");
        assert_eq!(session_of_sk(&session_sk(&session)), "s-1");
        assert_eq!(session_of_sk("s-1"), "s-1");
    }

    #[test]
    fn every_key_of_a_prefix_starts_with_it() {
        let march: Month = "2026-03".parse().expect("month");
        let service = ServiceId::parse("gpu").expect("service");
        assert!(usage_sk(march, march, &service).starts_with(&usage_prefix(march)));
        assert!(grant_sk("g").starts_with(GRANT_PREFIX));
        let t: DateTime<Utc> = "2026-03-05T10:00:00Z".parse().expect("time");
        assert!(ledger_sk(t, "g", "used").starts_with(LEDGER_PREFIX));
        assert!(invoice_sk(march).starts_with(INVOICE_PREFIX));
    }
}
