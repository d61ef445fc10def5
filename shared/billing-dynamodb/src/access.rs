//! The platform's account snapshot (`AccessStore`) in two requests, run concurrently:
//!
//! 1. a Query of the account's partition from `ACCOUNT` to `GRANT$`: the account item (deleted,
//!    default payment method), its current standing and spend limit, alert settings and markers,
//!    collections and credit grants — nothing in that range grows with usage;
//! 2. a Query of its `GSI1` partition from the month's first usage line: the month's usage lines
//!    and every open session (an index read: eventually consistent, like any `GSI1` read).
//!
//! Each is one page unless the account holds over 1 MB of those items.

use std::collections::HashMap;

use futures_util::future::try_join;

use billing_app::access::{AccessStore, AccountSnapshot};
use billing_app::ids::AccountId;
use billing_app::store::StoreError;
use billing_rules::Month;

use crate::alerts::parse_spend_limit;
use crate::codec::{req_s, s, Item};
use crate::credits::parse_grant;
use crate::keys::{
    account_pk, month_lines_from, open_pk, ACCOUNT_SK, GRANT_PREFIX, OPEN_INDEX, SNAPSHOT_FROM,
    SNAPSHOT_TO, SPEND_LIMIT_SK, STANDING_SK,
};
use crate::standing::parse_standing;
use crate::usage::{parse_account, parse_month_usage, parse_session};
use crate::DynamoDbStore;

impl AccessStore for DynamoDbStore {
    async fn snapshot(
        &self,
        account: &AccountId,
        month: Month,
    ) -> Result<Option<AccountSnapshot>, StoreError> {
        let (owned, live) = try_join(
            self.query_all(
                None,
                "PK = :pk AND SK BETWEEN :from AND :to",
                HashMap::from([
                    (":pk".to_owned(), s(account_pk(account))),
                    (":from".to_owned(), s(SNAPSHOT_FROM)),
                    (":to".to_owned(), s(SNAPSHOT_TO)),
                ]),
                true,
            ),
            self.query_all(
                Some(OPEN_INDEX),
                "GSI1PK = :pk AND GSI1SK >= :from",
                HashMap::from([
                    (":pk".to_owned(), s(open_pk(account))),
                    (":from".to_owned(), s(month_lines_from(month))),
                ]),
                false,
            ),
        )
        .await?;
        if owned.is_empty() && live.is_empty() {
            return Ok(None);
        }
        let sk = |item: &Item| req_s(item, "SK").map(str::to_owned);
        let mut snapshot = AccountSnapshot::default();
        for item in &owned {
            match sk(item)?.as_str() {
                ACCOUNT_SK => {
                    snapshot.deleted_at = parse_account(Some(item))?.deleted_at;
                    snapshot.has_payment_method = item.contains_key("default_payment_method");
                }
                STANDING_SK => snapshot.standing = parse_standing(item)?,
                SPEND_LIMIT_SK => {
                    snapshot.spend_limit = Some(parse_spend_limit(item, self.currency)?);
                }
                key if key.starts_with(GRANT_PREFIX) => {
                    snapshot.grants.push(parse_grant(item)?.grant);
                }
                _ => {}
            }
        }
        let (lines, sessions): (Vec<&Item>, Vec<&Item>) = live
            .iter()
            .partition(|item| item.contains_key("usage_month"));
        // Later months' lines cannot exist before the month ends; skip them if a clock says otherwise.
        let month_prefix = month_lines_from(month);
        snapshot.recorded = parse_month_usage(
            lines
                .into_iter()
                .filter(|item| req_s(item, "GSI1SK").is_ok_and(|k| k.starts_with(&month_prefix))),
        )?;
        snapshot.open = sessions
            .into_iter()
            .map(parse_session)
            .collect::<Result<_, _>>()?;
        Ok(Some(snapshot))
    }
}
