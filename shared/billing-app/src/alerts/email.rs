//! The email of each alert: a pure function of the event it announces.

use chrono::{DateTime, Utc};
use rust_decimal::Decimal;

use crate::bus::PlatformEvent;
use crate::notify::{html_escape, Email, EmailAddress};

fn when(t: DateTime<Utc>) -> String {
    t.format("%Y-%m-%d %H:%M UTC").to_string()
}

fn amount(a: Decimal) -> Decimal {
    a.normalize()
}

/// The alert email: what happened, the figures, and a link to the billing page.
pub fn alert_email(to: &EmailAddress, event: &PlatformEvent, billing_page: &str) -> Email {
    let (subject, paragraphs) = match event {
        PlatformEvent::ThresholdCrossed(e) => {
            let c = e.currency;
            (
                format!(
                    "Your {} costs reached your alert threshold of {} {c}",
                    e.month,
                    amount(e.threshold)
                ),
                vec![
                    format!(
                        "Your month-to-date cost for {} is {} {c}, which reached your alert \
                         threshold of {} {c}.",
                        e.month,
                        e.month_to_date,
                        amount(e.threshold)
                    ),
                    format!(
                        "If your running resources keep running, {} will end at about {} {c}.",
                        e.month, e.projected
                    ),
                ],
            )
        }
        PlatformEvent::ThresholdForecast(e) => {
            let c = e.currency;
            (
                format!(
                    "At this rate your {} costs will reach {} {c} on {}",
                    e.month,
                    amount(e.threshold),
                    when(e.reaches_at)
                ),
                vec![
                    format!(
                        "Your month-to-date cost for {} is {} {c}. If your running resources keep \
                         running, it will reach your alert threshold of {} {c} on {}, and {} will \
                         end at about {} {c}.",
                        e.month,
                        e.month_to_date,
                        amount(e.threshold),
                        when(e.reaches_at),
                        e.month,
                        e.projected
                    ),
                    "Stop resources you do not need to stay below it.".to_owned(),
                ],
            )
        }
        PlatformEvent::CreditsLow(e) => {
            let c = e.currency;
            let runway = e.runs_out_at.map_or_else(
                || "At the current rate they last for the coming months.".to_owned(),
                |t| format!("At the current rate they run out on {}.", when(t)),
            );
            (
                format!("Your credits are below {} {c}", amount(e.level)),
                vec![
                    format!(
                        "After this month's usage so far, your credit balance is {} {c}, below \
                         the {} {c} you asked to be told about.",
                        e.balance,
                        amount(e.level)
                    ),
                    runway,
                    "Usage beyond your credits is charged to your payment method.".to_owned(),
                ],
            )
        }
        PlatformEvent::CreditsExhausted(e) => {
            let c = e.currency;
            (
                "Your credits are used up: usage is now charged".to_owned(),
                vec![format!(
                    "Credits paid {} {c} of your {} usage of {} {c} so far. From now on your \
                     usage is charged to your payment method on the next invoice.",
                    e.paid_by_credits, e.month, e.month_to_date
                )],
            )
        }
        PlatformEvent::CreditsExpiring(e) => {
            let c = e.currency;
            (
                format!(
                    "{} {c} of your credits expire on {}",
                    e.unused,
                    when(e.expires_at)
                ),
                vec![format!(
                    "Your credit grant {} has {} {c} left after this month's usage so far. It \
                     pays for hours that start before {}; what is left then expires.",
                    e.grant_id,
                    e.unused,
                    when(e.expires_at)
                )],
            )
        }
        PlatformEvent::SpendLimitReached(e) => {
            let c = e.currency;
            (
                format!(
                    "Your {} costs reached your spend limit of {} {c}",
                    e.month,
                    amount(e.limit)
                ),
                vec![
                    format!(
                        "Your month-to-date cost for {} is {} {c}, which reached the spend limit \
                         of {} {c} you set.",
                        e.month,
                        e.month_to_date,
                        amount(e.limit)
                    ),
                    "New resources may not start until you raise the limit or the month ends. \
                     Resources still running keep being billed until they stop."
                        .to_owned(),
                ],
            )
        }
        PlatformEvent::SpendLimitApproaching(e) => {
            let c = e.currency;
            (
                format!(
                    "Your {} costs will reach your spend limit of {} {c} at {}",
                    e.month,
                    amount(e.limit),
                    when(e.reaches_at)
                ),
                vec![format!(
                    "Your month-to-date cost for {} is {} {c}. If your running resources keep \
                     running, it reaches the spend limit of {} {c} you set on {}.",
                    e.month,
                    e.month_to_date,
                    amount(e.limit),
                    when(e.reaches_at)
                )],
            )
        }
    };
    let link = "See the details and manage alerts on your billing page";
    let mut text = paragraphs.join("\n\n");
    text.push_str(&format!("\n\n{link}: {billing_page}\n"));
    let mut html: String = paragraphs
        .iter()
        .map(|p| format!("<p>{}</p>", html_escape(p)))
        .collect();
    html.push_str(&format!(
        "<p><a href=\"{}\">{link}</a></p>",
        html_escape(billing_page)
    ));
    Email {
        to: to.clone(),
        subject,
        text,
        html,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::bus::{CostThresholdForecast, CreditsLow};
    use crate::ids::AccountId;
    use billing_rules::Currency;

    fn to() -> EmailAddress {
        EmailAddress::parse("owner@example.com").expect("email")
    }

    #[test]
    fn each_email_says_what_happened_with_its_figures_and_the_page() {
        let forecast = PlatformEvent::ThresholdForecast(CostThresholdForecast {
            alert_id: "a:2026-12:forecast:50".into(),
            account_id: AccountId::parse("a").expect("id"),
            month: "2026-12".parse().expect("month"),
            threshold: "50.00".parse().expect("d"),
            reaches_at: "2026-12-02T05:00:00Z".parse().expect("t"),
            month_to_date: "27.50".parse().expect("d"),
            projected: "1862.50".parse().expect("d"),
            currency: Currency::Usd,
        });
        let low = PlatformEvent::CreditsLow(CreditsLow {
            alert_id: "a:2026-12:credits-low:5".into(),
            account_id: AccountId::parse("a").expect("id"),
            month: "2026-12".parse().expect("month"),
            level: "5".parse().expect("d"),
            balance: "2.50".parse().expect("d"),
            runs_out_at: Some("2026-12-01T21:00:00Z".parse().expect("t")),
            currency: Currency::Usd,
        });
        for (event, subject, body) in [
            (
                &forecast,
                "At this rate your 2026-12 costs will reach 50 USD on 2026-12-02 05:00 UTC",
                "it will reach your alert threshold of 50 USD on 2026-12-02 05:00 UTC",
            ),
            (
                &low,
                "Your credits are below 5 USD",
                "At the current rate they run out on 2026-12-01 21:00 UTC.",
            ),
        ] {
            let email = alert_email(&to(), event, "https://console.example.com/billing?a=1&b=2");
            assert_eq!(email.subject, subject);
            assert!(email.text.contains(body), "{}", email.text);
            assert!(email
                .text
                .ends_with("https://console.example.com/billing?a=1&b=2\n"));
            assert!(email
                .html
                .contains("href=\"https://console.example.com/billing?a=1&amp;b=2\""));
        }
    }
}
