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
/// An account's spend limit. Like the current standing, it sorts between the account item and its
/// grants, so the platform's standing check reads all of them in one Query
/// ([`SNAPSHOT_FROM`]..=[`SNAPSHOT_TO`]).
pub(crate) const SPEND_LIMIT_SK: &str = "ACCOUNT#SPEND_LIMIT";
/// An account's current standing (its history is `STANDING#<version>`).
pub(crate) const STANDING_SK: &str = "ACCOUNT#STANDING";
/// The sort-key range of an account's snapshot: the account item, its current standing and spend
/// limit, alert settings and markers, collections and credit grants (nothing that grows with usage).
pub(crate) const SNAPSHOT_FROM: &str = ACCOUNT_SK;
/// Every `GRANT#…` key sorts below it (`$` follows `#`).
pub(crate) const SNAPSHOT_TO: &str = "GRANT$";
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

/// `GSI1SK` of a usage line: the account's `GSI1` partition holds its open sessions and its usage
/// lines, so one Query from [`month_lines_from`] returns a month's lines and every open session.
/// A line key starts with `#`, which sorts before the digits every session key starts with.
pub(crate) fn line_index_sk(
    invoice_month: Month,
    usage_month: Month,
    service: &ServiceId,
) -> String {
    format!("#{}", usage_sk(invoice_month, usage_month, service))
}

/// Where an invoice month's lines start in `GSI1`: after them come later months' lines (none
/// before the month ends) and the open sessions.
pub(crate) fn month_lines_from(invoice_month: Month) -> String {
    format!("#{}", usage_prefix(invoice_month))
}

/// Where the open sessions start in `GSI1` (their keys start with the year's digits).
pub(crate) const OPEN_SESSIONS_FROM: &str = "0";

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

pub(crate) const COLLECTION_PREFIX: &str = "COLLECTION#";
/// The prefix of an account's standing changes.
pub(crate) const HISTORY_PREFIX: &str = "STANDING#";

pub(crate) fn collection_sk(month: Month) -> String {
    format!("{COLLECTION_PREFIX}{month}")
}

/// `GSI3PK` of a collection with a retry to come (a sparse use of the roster index).
pub(crate) fn retry_pk(shard: u8) -> String {
    format!("RETRY#{shard:02}")
}

pub(crate) fn history_sk(version: u64) -> String {
    format!("{HISTORY_PREFIX}{version:010}")
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
    fn the_snapshot_ranges_hold_what_the_standing_check_reads_and_nothing_that_grows() {
        let session = SessionId::parse("s-1").expect("session");
        let service = ServiceId::parse("gpu").expect("service");
        let (nov, dec): (Month, Month) =
            ("2026-11".parse().expect("m"), "2026-12".parse().expect("m"));
        let t: DateTime<Utc> = "2026-11-05T10:00:00Z".parse().expect("time");
        let within = |sk: &str| (SNAPSHOT_FROM..=SNAPSHOT_TO).contains(&sk);
        for sk in [
            ACCOUNT_SK,
            STANDING_SK,
            SPEND_LIMIT_SK,
            ALERTS_SK,
            &alert_sk(&AlertKey::Crossed {
                month: dec,
                threshold: Decimal::TEN,
            }),
            &collection_sk(nov),
            &grant_sk("g-1"),
            &grant_sk("~~~~"),
        ] {
            assert!(within(sk), "{sk} is read");
        }
        for sk in [
            &ledger_sk(t, "g-1", "used"),
            &invoice_sk(nov),
            &session_sk(&session),
            &history_sk(1),
            &usage_sk(dec, dec, &service),
        ] {
            assert!(!within(sk), "{sk} is not read");
        }
        // In GSI1, from December's first line: December's lines and every open session, however
        // early it started, but not November's lines.
        let from = month_lines_from(dec);
        assert!(line_index_sk(dec, nov, &service) >= from);
        assert!(started_sk(t, &session) >= from);
        assert!(line_index_sk(nov, nov, &service) < from);
        // Open sessions alone: after every line.
        assert!(line_index_sk(dec, dec, &service).as_str() < OPEN_SESSIONS_FROM);
        assert!(started_sk(t, &session).as_str() >= OPEN_SESSIONS_FROM);
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
