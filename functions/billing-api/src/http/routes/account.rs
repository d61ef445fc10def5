//! `DELETE /v1/account`: deletes the account, closing its running sessions, and says what is still due.

use billing_app::clock::Clock;
use billing_app::dashboard::Dashboard;
use billing_app::ids::AccountId;
use lambda_http::{Body, Response};

use crate::http::problem::{ok, ApiError};
use crate::http::ApiStore;

/// Deletes the account; asking again answers with the first deletion.
pub(crate) async fn delete<S: ApiStore, C: Clock + Clone>(
    dashboard: &Dashboard<S, C>,
    account: &AccountId,
) -> Result<Response<Body>, ApiError> {
    ok(&dashboard.delete_account(account).await?)
}

#[cfg(test)]
mod tests {
    use crate::http::testing::{call, dashboard, json, request};
    use billing_app::ids::AccountId;
    use billing_app::store::UsageStore;
    use lambda_http::http::StatusCode;

    #[tokio::test]
    async fn deleting_the_account_closes_running_sessions_and_reports_what_is_due() {
        let f = dashboard().await;
        let store = f.store.clone();
        let (status, _, body) = call(
            &f,
            request("DELETE", "/v1/account", Some("acct-demo"), None, None),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let del = json(&body);
        assert_eq!(del["deleted_at"], "2026-11-20T12:00:00Z");
        assert_eq!(del["sessions_closed"], 1);
        assert_eq!(del["usage_to_be_billed"], "16.00");
        assert_eq!(del["final_charge_date"], "2026-12-01");
        let demo = AccountId::parse("acct-demo").expect("id");
        assert!(store.open_sessions(&demo).await.expect("open").is_empty());
        // Again: the same deletion, nothing more closed.
        let (_, _, again) = call(
            &f,
            request("DELETE", "/v1/account", Some("acct-demo"), None, None),
        )
        .await;
        assert_eq!(json(&again)["deleted_at"], "2026-11-20T12:00:00Z");
        assert_eq!(json(&again)["sessions_closed"], 0);
    }

    #[tokio::test]
    async fn a_deletion_interrupted_after_marking_the_account_completes_at_the_first_instant() {
        let f = dashboard().await;
        let store = f.store.clone();
        let demo = AccountId::parse("acct-demo").expect("id");
        // The first attempt marked the account at 10:30 and crashed before closing the gpu session.
        let first: chrono::DateTime<chrono::Utc> = "2026-11-20T10:30:00Z".parse().expect("t");
        store.mark_deleted(&demo, first).await.expect("marked");
        let (status, _, body) = call(
            &f,
            request("DELETE", "/v1/account", Some("acct-demo"), None, None),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let del = json(&body);
        assert_eq!(
            del["deleted_at"], "2026-11-20T10:30:00Z",
            "the first deletion instant holds"
        );
        assert_eq!(del["sessions_closed"], 1);
        // gpu 09:00 → 10:30 is 2 billed hours (4.00), plus 10 h of vm: nothing after the deletion.
        assert_eq!(del["usage_to_be_billed"], "14.00");
        let gpu = store
            .session(
                &demo,
                &billing_app::ids::SessionId::parse("gpu-run").expect("id"),
            )
            .await
            .expect("read")
            .expect("session");
        assert_eq!(gpu.stopped_at, Some(first));
    }
}
