//! `GET /v1/billing/usage`: a month's usage by service, or its sessions page by page, as JSON or CSV.

use billing_app::clock::Clock;
use billing_app::dashboard::{Dashboard, SessionsPage};
use billing_app::ids::AccountId;
use billing_rules::rating::RatedLine;
use billing_rules::Month;
use lambda_http::http::{header, StatusCode};
use lambda_http::{Body, Request, RequestExt, Response};

use crate::http::problem::{json_response, ApiError};
use crate::http::ApiStore;

/// Sessions per page of `detail=sessions`: default and maximum.
const PAGE: (u32, u32) = (50, 200);

/// Sessions in one CSV download of a whole month (~150 bytes each: well within Lambda's 6 MB).
const CSV_MAX_SESSIONS: usize = 20_000;

fn text_csv(body: String) -> Response<Body> {
    Response::builder()
        .status(StatusCode::OK)
        .header(header::CONTENT_TYPE, "text/csv")
        .body(Body::from(body))
        .unwrap_or_default()
}

fn sessions_csv(page: &SessionsPage) -> String {
    let mut out = String::from(
        "session,resource,service,started_at,stopped_at,minutes,billed_hours,month_hours,hourly_price,month_amount,currency\n",
    );
    for s in &page.sessions {
        out.push_str(&format!(
            "{},{},{},{},{},{},{},{},{},{},{}\n",
            s.session,
            s.resource,
            s.service,
            s.started_at.to_rfc3339(),
            s.stopped_at.map(|t| t.to_rfc3339()).unwrap_or_default(),
            s.minutes,
            s.billed_hours,
            s.month_hours,
            s.hourly_price,
            s.month_amount,
            page.currency.code()
        ));
    }
    out
}

fn csv(lines: &[RatedLine], currency: &str) -> String {
    let mut out = String::from("service,usage_month,hours,amount,currency\n");
    for l in lines {
        out.push_str(&format!(
            "{},{},{},{},{currency}\n",
            l.service, l.usage_month, l.hours, l.amount
        ));
    }
    out
}

/// `month` (default the current month, to date), `detail=services|sessions`, and for sessions `limit` and
/// `cursor`; CSV when the client accepts `text/csv` (for sessions without `limit`: the whole month).
pub(crate) async fn get<S: ApiStore, C: Clock + Clone>(
    dashboard: &Dashboard<S, C>,
    account: &AccountId,
    request: &Request,
) -> Result<Response<Body>, ApiError> {
    let month = request
        .query_string_parameters_ref()
        .and_then(|q| q.first("month"))
        .map(|m| {
            m.parse::<Month>()
                .map_err(|e| ApiError::BadRequest(e.to_string()))
        })
        .transpose()?;
    let query = |name: &str| {
        request
            .query_string_parameters_ref()
            .and_then(|q| q.first(name).map(str::to_owned))
    };
    let wants_csv = request
        .headers()
        .get(header::ACCEPT)
        .and_then(|a| a.to_str().ok())
        .is_some_and(|a| a.contains("text/csv"));
    match query("detail").as_deref() {
        None | Some("services") => {}
        Some("sessions") => {
            let limit = match query("limit") {
                None => PAGE.0,
                Some(l) => l
                    .parse::<u32>()
                    .ok()
                    .filter(|l| (1..=PAGE.1).contains(l))
                    .ok_or_else(|| {
                        ApiError::BadRequest(format!(
                            "limit must be a whole number from 1 to {}",
                            PAGE.1
                        ))
                    })?,
            };
            let mut page = dashboard
                .sessions(account, month, query("cursor").as_deref(), limit)
                .await?;
            if !wants_csv {
                return Ok(json_response(StatusCode::OK, &page));
            }
            // A CSV without `limit` is the download of the whole month: every page, in order, up
            // to a bound that keeps the file within one Lambda response.
            if query("limit").is_none() {
                while let Some(cursor) = page.next_cursor.take() {
                    if page.sessions.len() >= CSV_MAX_SESSIONS {
                        return Err(ApiError::BadRequest(format!(
                            "the month has more than {CSV_MAX_SESSIONS} sessions: download it page by page with `limit` and `cursor`"
                        )));
                    }
                    let next = dashboard
                        .sessions(account, month, Some(&cursor), PAGE.1)
                        .await?;
                    page.sessions.extend(next.sessions);
                    page.next_cursor = next.next_cursor;
                }
            }
            return Ok(text_csv(sessions_csv(&page)));
        }
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "detail must be services or sessions, not `{other}`"
            )))
        }
    }
    let report = dashboard.usage(account, month).await?;
    if wants_csv {
        return Ok(text_csv(csv(&report.lines, report.currency.code())));
    }
    Ok(json_response(StatusCode::OK, &report))
}

#[cfg(test)]
mod tests {
    use crate::http::testing::{call, dashboard, json, request};
    use lambda_http::http::StatusCode;

    #[tokio::test]
    async fn usage_by_month_as_json_or_csv_and_a_malformed_month_is_a_400() {
        let f = dashboard().await;
        let (status, _, body) = call(
            &f,
            request(
                "GET",
                "/v1/billing/usage?month=2026-11",
                Some("acct-demo"),
                None,
                None,
            ),
        )
        .await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(json(&body)["total"], "16.00");
        // By day: the vm's 10 h on the 10th, the running gpu's 3 h so far on the 20th.
        assert_eq!(
            json(&body)["by_day"],
            serde_json::json!([{"date": "2026-11-10", "amount": "10.00"}, {"date": "2026-11-20", "amount": "6.00"}])
        );
        let (_, _, body) = call(
            &f,
            request(
                "GET",
                "/v1/billing/usage?month=2026-10",
                Some("acct-demo"),
                None,
                None,
            ),
        )
        .await;
        assert_eq!(json(&body)["total"], "0");
        let (status, ctype, body) = call(
            &f,
            request(
                "GET",
                "/v1/billing/usage",
                Some("acct-demo"),
                None,
                Some("text/csv"),
            ),
        )
        .await;
        assert_eq!((status, ctype.as_str()), (StatusCode::OK, "text/csv"));
        assert_eq!(body, "service,usage_month,hours,amount,currency\ngpu,2026-11,3,6.00,USD\nvm,2026-11,10,10.00,USD\n");
        let (status, ctype, body) = call(
            &f,
            request(
                "GET",
                "/v1/billing/usage?month=2026-13",
                Some("acct-demo"),
                None,
                None,
            ),
        )
        .await;
        assert_eq!(
            (status, ctype.as_str()),
            (StatusCode::BAD_REQUEST, "application/problem+json")
        );
        assert!(json(&body)["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("YYYY-MM"));
    }

    #[tokio::test]
    async fn the_sessions_of_a_month_are_listed_page_by_page_with_their_month_share() {
        let f = dashboard().await;
        let target =
            |extra: &str| format!("/v1/billing/usage?month=2026-11&detail=sessions&limit=1{extra}");
        let (status, _, body) = call(
            &f,
            request("GET", &target(""), Some("acct-demo"), None, None),
        )
        .await;
        assert_eq!(status, StatusCode::OK, "{body}");
        let first = json(&body);
        assert_eq!(first["sessions"][0]["service"], "vm");
        assert_eq!(first["sessions"][0]["minutes"], 600);
        assert_eq!(first["sessions"][0]["billed_hours"], 10);
        assert_eq!(first["sessions"][0]["month_amount"], "10.00");
        let cursor = first["next_cursor"]
            .as_str()
            .expect("a second page")
            .to_owned();
        let (_, _, body) = call(
            &f,
            request(
                "GET",
                &target(&format!("&cursor={cursor}")),
                Some("acct-demo"),
                None,
                None,
            ),
        )
        .await;
        let second = json(&body);
        assert_eq!(second["sessions"][0]["service"], "gpu");
        assert!(
            second["sessions"][0]["stopped_at"].is_null(),
            "still running"
        );
        assert_eq!(second["sessions"][0]["month_hours"], 3);
        let (_, ctype, csv) = call(
            &f,
            request(
                "GET",
                "/v1/billing/usage?detail=sessions",
                Some("acct-demo"),
                None,
                Some("text/csv"),
            ),
        )
        .await;
        assert_eq!(ctype, "text/csv");
        assert_eq!(csv.lines().count(), 3, "header and two sessions: {csv}");
        for (bad, why) in [
            ("&cursor=nonsense", "not a cursor"),
            ("&limit=0", "limit must be"),
            ("&limit=500", "limit must be"),
        ] {
            let url = format!("/v1/billing/usage?month=2026-11&detail=sessions{bad}");
            let (status, _, body) =
                call(&f, request("GET", &url, Some("acct-demo"), None, None)).await;
            assert_eq!(status, StatusCode::BAD_REQUEST, "{bad}");
            assert!(body.contains(why), "{body}");
        }
        let (status, _, body) = call(
            &f,
            request(
                "GET",
                "/v1/billing/usage?detail=everything",
                Some("acct-demo"),
                None,
                None,
            ),
        )
        .await;
        assert_eq!(status, StatusCode::BAD_REQUEST);
        assert!(body.contains("services or sessions"), "{body}");
        let (_, _, other) = call(
            &f,
            request("GET", &target(""), Some("acct-other"), None, None),
        )
        .await;
        assert_eq!(
            json(&other)["sessions"].as_array().map(Vec::len),
            Some(1),
            "only acct-other's session"
        );
    }

    #[tokio::test]
    async fn the_csv_download_holds_every_session_of_the_month_across_pages() {
        let f = dashboard().await;
        let clock = std::sync::Arc::new(billing_app::clock::FixedClock::at(
            "2026-11-20T12:00:00Z".parse().expect("now"),
        ));
        let recorder = billing_app::ingest::UsageRecorder::new(
            f.store.clone(),
            clock,
            billing_app::ingest::IngestPolicy::default(),
        );
        let base: chrono::DateTime<chrono::Utc> = "2026-11-01T00:00:00Z".parse().expect("t");
        for i in 0..60 {
            let start = base + chrono::TimeDelta::minutes(i * 10);
            let detail = serde_json::json!({"event_id": format!("many-{i}"), "account_id": "acct-other",
                "resource_id": "r", "service": "vm", "started_at": start,
                "stopped_at": start + chrono::TimeDelta::minutes(5)});
            let event = billing_app::events::UsageEvent::from_eventbridge("UsageRecorded", detail)
                .expect("event");
            recorder.record(&event).await.expect("recorded");
        }
        let csv = |target: &str| request("GET", target, Some("acct-other"), None, Some("text/csv"));
        let (status, _, whole) =
            call(&f, csv("/v1/billing/usage?month=2026-11&detail=sessions")).await;
        assert_eq!(status, StatusCode::OK);
        assert_eq!(
            whole.lines().count(),
            1 + 61,
            "header, the 60 and the earlier one"
        );
        let (_, _, page) = call(
            &f,
            csv("/v1/billing/usage?month=2026-11&detail=sessions&limit=50"),
        )
        .await;
        assert_eq!(
            page.lines().count(),
            1 + 50,
            "an explicit limit is one page"
        );
    }
}
