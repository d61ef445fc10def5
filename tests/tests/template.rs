//! `template.yaml` and the workspace agree: every function crate is deployed, every deployed function
//! has a crate, and each is built the way the stack requires.

use std::collections::BTreeSet;
use std::path::Path;

use serde_yaml::Value;

fn template() -> Value {
    serde_yaml::from_str(billing_admin::table::TEMPLATE).expect("template.yaml parses")
}

fn function_crates() -> BTreeSet<String> {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("../functions");
    std::fs::read_dir(dir)
        .expect("functions/")
        .filter_map(Result::ok)
        .filter(|e| e.path().join("Cargo.toml").exists())
        .map(|e| e.file_name().to_string_lossy().into_owned())
        .collect()
}

/// Every resource of this type, with its logical id.
fn of_type(t: &Value, kind: &str) -> Vec<(String, Value)> {
    t["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(_, r)| r["Type"] == kind)
        .map(|(name, r)| (name.as_str().unwrap_or_default().to_owned(), r.clone()))
        .collect()
}

fn functions(t: &Value) -> Vec<(String, Value)> {
    of_type(t, "AWS::Serverless::Function")
}

#[test]
fn every_function_crate_has_its_template_resource_and_every_resource_its_crate() {
    let t = template();
    let deployed: BTreeSet<String> = functions(&t)
        .iter()
        .map(|(_, r)| {
            r["Metadata"]["BuildProperties"]["Binary"]
                .as_str()
                .expect("BuildProperties.Binary")
                .to_owned()
        })
        .collect();
    assert_eq!(deployed, function_crates());
}

#[test]
fn every_function_is_built_by_cargo_lambda_for_arm64_on_al2023() {
    let t = template();
    assert_eq!(t["Globals"]["Function"]["Runtime"], "provided.al2023");
    assert_eq!(t["Globals"]["Function"]["Architectures"][0], "arm64");
    for (name, r) in functions(&t) {
        assert_eq!(r["Metadata"]["BuildMethod"], "rust-cargolambda", "{name}");
        assert_eq!(
            r["Properties"]["CodeUri"], ".",
            "{name}: built from the workspace root"
        );
        assert!(
            r["Properties"]["Policies"].is_sequence(),
            "{name} has its own policies"
        );
    }
}

#[test]
fn no_function_policy_grants_a_wildcard_action() {
    let t = template();
    for (name, r) in functions(&t) {
        let policies = serde_yaml::to_string(&r["Properties"]["Policies"]).expect("yaml");
        for line in policies.lines() {
            let action = line.trim().trim_start_matches("- ");
            assert!(
                !action.ends_with(":*") && action != "*",
                "{name}: wildcard action `{line}`"
            );
        }
    }
}

#[test]
fn the_http_api_routes_are_exactly_the_documented_ones() {
    let t = template();
    // (path, method, authorizer): the API's default is the dashboard's JWT authorizer.
    let mut routes: Vec<(String, String, String)> = functions(&t)
        .iter()
        .flat_map(|(_, r)| {
            r["Properties"]["Events"]
                .as_mapping()
                .into_iter()
                .flatten()
                .filter(|(_, e)| e["Type"] == "HttpApi")
                .map(|(_, e)| {
                    let p = &e["Properties"];
                    (
                        p["Path"].as_str().unwrap_or_default().to_owned(),
                        p["Method"].as_str().unwrap_or_default().to_uppercase(),
                        p["Auth"]["Authorizer"]
                            .as_str()
                            .unwrap_or("DashboardJwt")
                            .to_owned(),
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    routes.sort();
    let with = |authorizer: &str| -> Vec<(String, String)> {
        routes
            .iter()
            .filter(|r| r.2 == authorizer)
            .map(|(p, m, _)| (p.clone(), m.clone()))
            .collect()
    };
    // Only Stripe's webhook goes without an authorizer: its signature authenticates it. Only the
    // platform's route takes IAM-signed requests, and a user's JWT never opens it.
    assert_eq!(
        with("NONE"),
        [("/stripe/webhook".to_owned(), "POST".to_owned())]
    );
    assert_eq!(
        with("AWS_IAM"),
        [(
            "/v1/platform/accounts/{account}/standing".to_owned(),
            "GET".to_owned()
        )]
    );
    assert_eq!(
        t["Resources"]["BillingHttpApi"]["Properties"]["Auth"]["EnableIamAuthorizer"],
        true
    );
    let mut deployed = with("DashboardJwt");
    deployed.extend(with("AWS_IAM"));
    deployed.sort();
    let doc: Value =
        serde_yaml::from_str(include_str!("../../docs/openapi.yaml")).expect("openapi.yaml");
    let mut documented: Vec<(String, String)> = doc["paths"]
        .as_mapping()
        .expect("paths")
        .iter()
        .flat_map(|(path, ops)| {
            let path = path.as_str().unwrap_or_default().to_owned();
            ops.as_mapping()
                .into_iter()
                .flatten()
                .filter_map(|(m, _)| m.as_str().map(str::to_uppercase))
                .filter(|m| m != "PARAMETERS")
                .map(move |m| (path.clone(), m))
        })
        .collect();
    documented.sort();
    assert_eq!(deployed, documented);
}

/// The logical id (and attribute, empty for `Ref`) that `!Ref Id` or `!GetAtt Id.Attribute`, or
/// their long forms, point at.
fn reference(v: &Value) -> Option<(&str, &str)> {
    fn get_att(v: &Value) -> Option<(&str, &str)> {
        match v {
            Value::String(s) => s.split_once('.'),
            Value::Sequence(s) if s.len() == 2 => Some((s[0].as_str()?, s[1].as_str()?)),
            _ => None,
        }
    }
    match v {
        Value::Tagged(t) if t.tag == "Ref" => t.value.as_str().map(|id| (id, "")),
        Value::Tagged(t) if t.tag == "GetAtt" => get_att(&t.value),
        Value::Mapping(m) if m.len() == 1 => match (m.get("Ref"), m.get("Fn::GetAtt")) {
            (Some(id), _) => id.as_str().map(|id| (id, "")),
            (_, Some(att)) => get_att(att),
            _ => None,
        },
        _ => None,
    }
}

/// One value or a list of them, as IAM and CloudFormation allow.
fn one_or_many(v: &Value) -> Vec<&Value> {
    match v {
        Value::Sequence(s) => s.iter().collect(),
        Value::Null => Vec::new(),
        v => vec![v],
    }
}

fn alarms(t: &Value) -> Vec<Value> {
    of_type(t, "AWS::CloudWatch::Alarm")
        .into_iter()
        .map(|(_, a)| a["Properties"].clone())
        .collect()
}

/// An alarm on `namespace`/`metric` whose dimensions mention `target`, and that notifies someone.
fn watched(alarms: &[Value], namespace: &str, metric: &str, target: &str) -> bool {
    alarms.iter().any(|p| {
        p["Namespace"] == namespace
            && p["MetricName"] == metric
            && serde_yaml::to_string(&p["Dimensions"]).is_ok_and(|d| d.contains(target))
            && p["AlarmActions"].is_sequence()
    })
}

#[test]
fn every_function_has_an_errors_alarm() {
    let t = template();
    let alarms = alarms(&t);
    for (name, _) in functions(&t) {
        assert!(
            watched(&alarms, "AWS/Lambda", "Errors", &name),
            "{name} has no errors alarm"
        );
    }
}

/// The handled failures that are successful invocations to Lambda, so no `Errors` alarm sees them:
/// each is counted in the embedded metric format and alarmed when it is not zero.
#[test]
fn handled_failures_are_counted_and_alarmed_when_not_zero() {
    use billing_aws::metrics::{Metric, NAMESPACE};
    let t = template();
    let alarms = alarms(&t);
    for (metric, function) in [
        (Metric::UsageRefused, "RecordUsageFunction"),
        (Metric::WebhookRejected, "StripeWebhookFunction"),
        (Metric::WebhookFailed, "StripeWebhookFunction"),
        (Metric::InvoiceStopped, "InvoiceAccountFunction"),
    ] {
        let alarm = alarms
            .iter()
            .find(|p| {
                p["Namespace"] == NAMESPACE
                    && p["MetricName"] == metric.name()
                    && reference(&p["Dimensions"][0]["Value"]) == Some((function, ""))
            })
            .unwrap_or_else(|| panic!("no alarm on {} of {function}", metric.name()));
        assert_eq!(alarm["Dimensions"][0]["Name"], "FunctionName");
        assert_eq!(alarm["Dimensions"].as_sequence().map(Vec::len), Some(1));
        assert_eq!(alarm["Statistic"], "Sum", "{}", metric.name());
        assert_eq!(alarm["ComparisonOperator"], "GreaterThanThreshold");
        assert_eq!(
            number(&t, &alarm["Threshold"]),
            Some(0),
            "{}",
            metric.name()
        );
        assert_eq!(alarm["TreatMissingData"], "notBreaching");
        assert_eq!(
            reference(&alarm["AlarmActions"][0]),
            Some(("AlarmTopic", "")),
            "{} pages the alarm topic",
            metric.name()
        );
    }
    // Every alarm on our namespace watches a metric the functions write.
    for p in alarms.iter().filter(|p| p["Namespace"] == NAMESPACE) {
        assert!(
            Metric::ALL.iter().any(|m| p["MetricName"] == m.name()),
            "{:?} is no metric the functions count",
            p["MetricName"]
        );
    }
}

/// The worst case of one Stripe call of a function, by the client's own rule, from its environment.
fn worst_stripe_call(f: &Value) -> std::time::Duration {
    let env = &f["Properties"]["Environment"]["Variables"];
    let timing = ["STRIPE_TIMEOUT_MS", "STRIPE_ATTEMPTS"];
    let get = |k: &str| match k {
        "STRIPE_API_KEY" => Some("sk_test_x".to_owned()),
        k if timing.contains(&k) => env[k].as_str().map(str::to_owned),
        _ => None,
    };
    let config =
        billing_stripe::StripeConfig::from_lookup(&get).expect("the function's Stripe settings");
    billing_stripe::StripeSettings {
        timeout: config.timeout,
        attempts: config.attempts,
        ..billing_stripe::StripeSettings::local("http://127.0.0.1:1")
    }
    .worst_call()
}

#[test]
fn stripe_calls_fit_the_time_their_callers_wait() {
    use std::time::Duration;
    let t = template();
    let resource = |id: &str| t["Resources"][id].clone();
    let global_timeout = number(&t, &t["Globals"]["Function"]["Timeout"]).expect("timeout");
    for id in ["BillingApiFunction", "StripeWebhookFunction"] {
        let f = resource(id);
        let env = &f["Properties"]["Environment"]["Variables"];
        assert_eq!(env["STRIPE_ATTEMPTS"], "2", "{id}: at most 2 attempts");
        // Two calls in one request (a customer, then a hosted page) still answer before API
        // Gateway's 30 s, and the function's own timeout.
        let worst = worst_stripe_call(&f);
        assert!(worst <= Duration::from_secs(10), "{id}: {worst:?}");
        let timeout = number(&t, &f["Properties"]["Timeout"]).unwrap_or(global_timeout);
        assert!(
            2 * worst < Duration::from_secs(timeout.min(30)),
            "{id}: {worst:?}"
        );
    }
    let worker = resource("InvoiceAccountFunction");
    let timeout = number(&t, &worker["Properties"]["Timeout"]).expect("the worker's timeout");
    let worst = worst_stripe_call(&worker);
    assert!(
        worst > Duration::from_secs(10),
        "the worker keeps its longer budget: {worst:?}"
    );
    assert!(
        worst < Duration::from_secs(timeout),
        "{worst:?} inside {timeout} s"
    );
    let visibility = number(
        &t,
        &resource("InvoiceQueue")["Properties"]["VisibilityTimeout"],
    )
    .expect("visibility");
    assert!(
        visibility >= 6 * timeout,
        "AWS: at least six times the function timeout"
    );
}

#[test]
fn each_stripe_role_reads_its_own_key_and_no_other() {
    let t = template();
    let roles = [
        ("BillingApiFunction", "StripeDashboardKeyParameter"),
        ("StripeWebhookFunction", "StripeWebhookKeyParameter"),
        ("InvoiceAccountFunction", "StripeWorkerKeyParameter"),
    ];
    for (_, parameter) in roles {
        assert_eq!(t["Parameters"][parameter]["Type"], "String", "{parameter}");
    }
    for (name, f) in functions(&t) {
        let env = &f["Properties"]["Environment"]["Variables"];
        let policies = serde_yaml::to_string(&f["Properties"]["Policies"]).expect("yaml");
        let role = roles.iter().find(|(function, _)| *function == name);
        match role {
            Some((_, own)) => {
                assert_eq!(
                    reference(&env["STRIPE_API_KEY_PARAMETER"]),
                    Some((*own, "")),
                    "{name}"
                );
                assert!(
                    policies.contains(&format!("parameter${{{own}}}")),
                    "{name} reads {own}"
                );
            }
            None => assert!(
                env["STRIPE_API_KEY_PARAMETER"].is_null(),
                "{name} has no Stripe key"
            ),
        }
        for (_, other) in roles.iter().filter(|r| Some(*r) != role) {
            assert!(!policies.contains(other), "{name} may not read {other}");
        }
    }
}

/// Who puts messages in a dead-letter queue, and so needs the right to send them.
#[derive(Debug, Clone)]
enum Producer {
    /// Lambda, for a function's failed asynchronous invocations (`DeadLetterQueue`).
    AsyncInvocations { function: String },
    /// An EventBridge rule SAM generates for a function's event (`DeadLetterConfig`).
    Rule { rule: String },
    /// An EventBridge Scheduler schedule SAM generates for a function's `ScheduleV2` event.
    Schedule { function: String, event: String },
    /// SQS itself, moving a source queue's messages after `maxReceiveCount` receives.
    Redrive { source: String },
}

/// Every dead-letter queue the template names (and every queue named as one), with its producers.
fn dead_letter_queues(t: &Value) -> Vec<(String, Vec<Producer>)> {
    let mut found: Vec<(String, Producer)> = Vec::new();
    let queue_of = |v: &Value, what: &str| -> String {
        match reference(v) {
            Some((id, "Arn")) => id.to_owned(),
            _ => panic!("{what}: a dead-letter queue named by anything but `!GetAtt Queue.Arn`"),
        }
    };
    for (name, f) in functions(t) {
        let p = &f["Properties"];
        if !p["DeadLetterQueue"].is_null() {
            assert_eq!(p["DeadLetterQueue"]["Type"], "SQS", "{name}");
            let queue = queue_of(&p["DeadLetterQueue"]["TargetArn"], &name);
            found.push((
                queue,
                Producer::AsyncInvocations {
                    function: name.clone(),
                },
            ));
        }
        for (event, e) in p["Events"].as_mapping().into_iter().flatten() {
            let event = event.as_str().unwrap_or_default();
            let dlq = &e["Properties"]["DeadLetterConfig"];
            if dlq.is_null() {
                continue;
            }
            let what = format!("{name}.{event}");
            assert!(
                dlq["Type"].is_null(),
                "{what}: declare the queue (and its alarm) in the template, not with `Type: SQS`"
            );
            let queue = queue_of(&dlq["Arn"], &what);
            let producer = match e["Type"].as_str() {
                // SAM names the rule it generates after the function and the event.
                Some("EventBridgeRule" | "Schedule") => Producer::Rule {
                    rule: format!("{name}{event}"),
                },
                Some("ScheduleV2") => Producer::Schedule {
                    function: name.clone(),
                    event: event.to_owned(),
                },
                other => {
                    panic!("{what}: a dead-letter queue for a {other:?} event: teach this test")
                }
            };
            found.push((queue, producer));
        }
    }
    for (name, q) in of_type(t, "AWS::SQS::Queue") {
        let redrive = &q["Properties"]["RedrivePolicy"];
        if !redrive.is_null() {
            let queue = queue_of(&redrive["deadLetterTargetArn"], &name);
            found.push((queue, Producer::Redrive { source: name }));
        }
    }
    of_type(t, "AWS::SQS::Queue")
        .into_iter()
        .filter(|(name, _)| name.contains("DeadLetter") || found.iter().any(|(q, _)| q == name))
        .map(|(name, _)| {
            let producers = found
                .iter()
                .filter(|(q, _)| *q == name)
                .map(|(_, p)| p.clone())
                .collect();
            (name, producers)
        })
        .collect()
}

/// A queue policy statement that lets EventBridge send to `queue`, for `rule` only.
fn queue_policy_lets_rule_send(t: &Value, queue: &str, rule: &str) -> bool {
    of_type(t, "AWS::SQS::QueuePolicy").iter().any(|(_, p)| {
        let p = &p["Properties"];
        one_or_many(&p["Queues"])
            .iter()
            .any(|q| reference(q) == Some((queue, "")))
            && one_or_many(&p["PolicyDocument"]["Statement"])
                .iter()
                .any(|s| {
                    s["Effect"] == "Allow"
                        && one_or_many(&s["Principal"]["Service"])
                            .iter()
                            .any(|v| **v == "events.amazonaws.com")
                        && one_or_many(&s["Action"])
                            .iter()
                            .any(|v| **v == "sqs:SendMessage")
                        && one_or_many(&s["Resource"])
                            .iter()
                            .any(|r| reference(r) == Some((queue, "Arn")))
                        && reference(&s["Condition"]["ArnEquals"]["aws:SourceArn"])
                            == Some((rule, "Arn"))
                })
    })
}

#[test]
fn every_dead_letter_queue_lets_its_producers_send_and_has_a_depth_alarm() {
    let t = template();
    let alarms = alarms(&t);
    let queues = dead_letter_queues(&t);
    assert!(queues.len() >= 3, "usage, billing run and invoice DLQs");
    for (queue, producers) in queues {
        assert!(!producers.is_empty(), "{queue}: nothing sends to it");
        for producer in &producers {
            match producer {
                // SAM grants sqs:SendMessage on the queue to the role it generates for the
                // function; a function given its own `Role` would have to grant it itself.
                Producer::AsyncInvocations { function } => {
                    let f = &t["Resources"][function.as_str()]["Properties"];
                    assert!(
                        f["Role"].is_null(),
                        "{function}: its own role may not send to {queue}"
                    );
                }
                // SAM adds no queue policy for a `DeadLetterConfig` given by Arn.
                Producer::Rule { rule } => assert!(
                    queue_policy_lets_rule_send(&t, &queue, rule),
                    "{queue}: no queue policy lets the rule {rule} (events.amazonaws.com, \
                     aws:SourceArn) send to it"
                ),
                // SAM grants it to the schedule's execution role, unless it is given one.
                Producer::Schedule { function, event } => assert!(
                    t["Resources"][function.as_str()]["Properties"]["Events"][event.as_str()]
                        ["Properties"]["RoleArn"]
                        .is_null(),
                    "{function}.{event}: its own role may not send to {queue}"
                ),
                // SQS moves the messages itself: no permission involved. A message keeps its
                // first enqueue time, so the queue must keep it longer than its source did.
                Producer::Redrive { source } => {
                    let retention = |q: &str| {
                        t["Resources"][q]["Properties"]["MessageRetentionPeriod"]
                            .as_u64()
                            .unwrap_or(345_600)
                    };
                    assert!(
                        retention(&queue) > retention(source),
                        "{queue} drops {source}'s messages before {source} would have"
                    );
                }
            }
        }
        assert!(
            watched(
                &alarms,
                "AWS/SQS",
                "ApproximateNumberOfMessagesVisible",
                &queue
            ),
            "{queue} has no depth alarm"
        );
    }
}

#[test]
fn every_rule_with_a_lambda_target_alarms_on_failed_deliveries() {
    let t = template();
    let alarms = alarms(&t);
    for (name, f) in functions(&t) {
        for (event, e) in f["Properties"]["Events"].as_mapping().into_iter().flatten() {
            if !matches!(e["Type"].as_str(), Some("EventBridgeRule" | "Schedule")) {
                continue;
            }
            let p = &e["Properties"];
            let event = event.as_str().unwrap_or_default();
            assert!(
                !p["RuleName"].is_null(),
                "{name}.{event}: name the rule, so that an alarm can name it"
            );
            let dimension = |a: &Value, key: &str| {
                one_or_many(&a["Dimensions"])
                    .into_iter()
                    .find(|d| d["Name"] == key)
                    .map(|d| d["Value"].clone())
            };
            let on_its_bus = |a: &Value| match p["EventBusName"] {
                Value::Null => dimension(a, "EventBusName").is_none(),
                ref bus => dimension(a, "EventBusName").as_ref() == Some(bus),
            };
            assert!(
                alarms.iter().any(|a| a["Namespace"] == "AWS/Events"
                    && a["MetricName"] == "FailedInvocations"
                    && dimension(a, "RuleName").as_ref() == Some(&p["RuleName"])
                    && on_its_bus(a)
                    && a["AlarmActions"].is_sequence()),
                "{name}.{event}: no FailedInvocations alarm on its rule"
            );
        }
    }
}

#[test]
fn every_table_outlives_the_stack_refuses_deletion_and_keeps_point_in_time_recovery() {
    let t = template();
    let tables = of_type(&t, "AWS::DynamoDB::Table");
    assert!(!tables.is_empty(), "the billing table");
    for (name, r) in tables {
        assert_eq!(
            r["DeletionPolicy"], "Retain",
            "{name}: deleting the stack would delete it"
        );
        assert_eq!(
            r["UpdateReplacePolicy"], "Retain",
            "{name}: an update that replaces it would delete the old one"
        );
        let p = &r["Properties"];
        assert_eq!(
            p["DeletionProtectionEnabled"], true,
            "{name}: DeleteTable would succeed"
        );
        assert_eq!(
            p["PointInTimeRecoverySpecification"]["PointInTimeRecoveryEnabled"], true,
            "{name}: no point-in-time recovery"
        );
    }
}

#[test]
fn every_queue_is_encrypted_at_rest_by_explicit_choice() {
    let t = template();
    let queues = of_type(&t, "AWS::SQS::Queue");
    assert!(!queues.is_empty());
    for (name, q) in queues {
        let p = &q["Properties"];
        // SQS-managed keys, or a KMS key of our own: EventBridge and the Scheduler cannot send to
        // a queue encrypted with the AWS managed key (alias/aws/sqs).
        assert!(
            p["SqsManagedSseEnabled"] == true || !p["KmsMasterKeyId"].is_null(),
            "{name}: server-side encryption left to the account default"
        );
        assert_ne!(
            p["KmsMasterKeyId"], "alias/aws/sqs",
            "{name}: EventBridge cannot use the AWS managed key"
        );
    }
}

/// The parameter `v` refers to (`!Ref Parameter`), if it does.
fn parameter<'a>(t: &'a Value, v: &Value) -> Option<&'a Value> {
    reference(v)
        .filter(|(_, attribute)| attribute.is_empty())
        .and_then(|(id, _)| t["Parameters"].get(id))
}

/// A log group of the template, declared with a retention (a number, or a parameter with a default).
fn log_group_with_retention<'a>(t: &'a Value, id: &str) -> Option<&'a Value> {
    let group = t["Resources"].get(id)?;
    let retention = &group["Properties"]["RetentionInDays"];
    let kept = retention.as_u64().is_some()
        || parameter(t, retention).is_some_and(|p| p["Default"].as_u64().is_some());
    (group["Type"] == "AWS::Logs::LogGroup" && kept).then_some(group)
}

#[test]
fn every_function_logs_json_lines_to_its_own_log_group_with_a_retention() {
    let t = template();
    let mut groups = BTreeSet::new();
    for (name, f) in functions(&t) {
        let logging = &f["Properties"]["LoggingConfig"];
        // SAM merges the function's LoggingConfig into the one in Globals.
        let format = match &logging["LogFormat"] {
            Value::Null => &t["Globals"]["Function"]["LoggingConfig"]["LogFormat"],
            format => format,
        };
        assert_eq!(*format, "JSON", "{name}: logs are not JSON lines");
        // Without a group of its own, Lambda creates /aws/lambda/<name> on first use, kept forever.
        let group = reference(&logging["LogGroup"])
            .filter(|(_, attribute)| attribute.is_empty())
            .map(|(id, _)| id.to_owned())
            .unwrap_or_else(|| panic!("{name}: LoggingConfig.LogGroup is not `!Ref` a log group"));
        assert!(
            log_group_with_retention(&t, &group).is_some(),
            "{name}: {group} is not a log group of the template with a RetentionInDays"
        );
        assert!(groups.insert(group.clone()), "{name} shares {group}");
    }
    for (name, _) in of_type(&t, "AWS::Logs::LogGroup") {
        assert!(
            log_group_with_retention(&t, &name).is_some(),
            "{name} keeps its logs forever"
        );
    }
}

/// A whole number given in the template: literally, as a string (environment variables), or as
/// `!Ref` a parameter, by its default.
fn number(t: &Value, v: &Value) -> Option<u64> {
    match parameter(t, v) {
        Some(p) => p["Default"].as_u64(),
        None => v.as_u64().or_else(|| v.as_str()?.parse().ok()),
    }
}

#[test]
fn the_http_api_logs_every_request_and_throttles_every_route_by_parameters() {
    let t = template();
    let apis = of_type(&t, "AWS::Serverless::HttpApi");
    assert!(!apis.is_empty());
    for (name, api) in apis {
        let p = &api["Properties"];
        let logs = &p["AccessLogSettings"];
        let group = match reference(&logs["DestinationArn"]) {
            Some((id, "Arn")) => id,
            _ => panic!("{name}: no access logs to `!GetAtt LogGroup.Arn`"),
        };
        assert!(
            log_group_with_retention(&t, group).is_some(),
            "{name}: {group} is not a log group of the template with a RetentionInDays"
        );
        let format = logs["Format"].as_str().unwrap_or_default();
        let line: serde_json::Value = serde_json::from_str(format)
            .unwrap_or_else(|e| panic!("{name}: the access log format is not a JSON line: {e}"));
        for field in ["requestId", "route", "status"] {
            assert!(
                line.get(field).is_some(),
                "{name}: access logs without {field}"
            );
        }
        for limit in ["ThrottlingRateLimit", "ThrottlingBurstLimit"] {
            let v = &p["DefaultRouteSettings"][limit];
            assert!(
                parameter(&t, v).is_some() && number(&t, v).is_some_and(|n| n > 0),
                "{name}: DefaultRouteSettings.{limit} is not a parameter with a default"
            );
        }
    }
}

/// The most Stripe requests per second a function's instances send together, with the defaults:
/// each paces itself to STRIPE_MAX_RPS / STRIPE_MAX_CONCURRENCY (billing-stripe's settings, 25 and
/// 1 by default), and at most its reserved concurrency or STRIPE_MAX_CONCURRENCY instances run.
fn stripe_requests_per_second(t: &Value, name: &str, f: &Value) -> u64 {
    let p = &f["Properties"];
    let env = |key: &str| {
        let v = &p["Environment"]["Variables"][key];
        (!v.is_null()).then(|| number(t, v).expect("a number"))
    };
    let total = env("STRIPE_MAX_RPS").unwrap_or(25);
    let concurrency = env("STRIPE_MAX_CONCURRENCY");
    let per_instance = (total / concurrency.unwrap_or(1)).max(1);
    let reserved = &p["ReservedConcurrentExecutions"];
    let instances = match (reserved.is_null(), concurrency) {
        (false, _) => number(t, reserved).expect("a number"),
        (true, Some(n)) => n,
        (true, None) => panic!("{name} calls Stripe with no bound on its instances"),
    };
    per_instance * instances
}

#[test]
fn public_functions_have_reserved_concurrency_and_leave_stripe_to_the_monthly_run() {
    let t = template();
    let mut stripe = 0;
    for (name, f) in functions(&t) {
        let p = &f["Properties"];
        let public = p["Events"]
            .as_mapping()
            .into_iter()
            .flatten()
            .any(|(_, e)| e["Type"] == "HttpApi");
        if public {
            let reserved = &p["ReservedConcurrentExecutions"];
            assert!(
                parameter(&t, reserved).is_some() && number(&t, reserved).is_some_and(|n| n > 0),
                "{name} is public: its ReservedConcurrentExecutions must be a parameter with a default"
            );
        }
        if !p["Environment"]["Variables"]["STRIPE_API_KEY_PARAMETER"].is_null() {
            stripe += stripe_requests_per_second(&t, &name, &f);
        }
    }
    // Stripe's default live-mode limit, for the whole account.
    assert!(
        stripe <= 100,
        "with the defaults the functions may send Stripe {stripe} requests/s, over its limit of 100"
    );
}

/// Every checkov finding skipped in the template: (resource, check id, reason).
fn checkov_skips(t: &Value) -> Vec<(String, String, String)> {
    t["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .flat_map(|(name, r)| {
            let name = name.as_str().unwrap_or_default().to_owned();
            one_or_many(&r["Metadata"]["checkov"]["skip"])
                .into_iter()
                .map(move |s| {
                    let text = |key: &str| s[key].as_str().unwrap_or_default().trim().to_owned();
                    (name.clone(), text("id"), text("comment"))
                })
        })
        .collect()
}

#[test]
fn every_checkov_skip_names_its_check_and_says_why_it_does_not_apply() {
    let t = template();
    let skips = checkov_skips(&t);
    assert!(!skips.is_empty());
    for (resource, id, why) in skips {
        assert!(
            id.starts_with("CKV_") && !id.contains(char::is_whitespace),
            "{resource}: skip `{id}` is not one checkov check id"
        );
        assert!(
            why.split_whitespace().count() >= 8,
            "{resource}: skipping {id} needs its reason, not `{why}`"
        );
    }
}

#[test]
fn every_checkov_skip_is_listed_in_the_operations_doc() {
    let t = template();
    let doc = include_str!("../../docs/operations.md");
    let rows: Vec<&str> = doc.lines().filter(|l| l.starts_with("| CKV_")).collect();
    let skips = checkov_skips(&t);
    for (resource, id, _) in &skips {
        assert!(
            rows.iter().any(|r| r.starts_with(&format!("| {id} "))
                && r.split(['|', ',']).any(|cell| cell.trim() == resource)),
            "docs/operations.md lists no skip of {id} for {resource}"
        );
    }
    for row in rows {
        let id = row
            .trim_start_matches("| ")
            .split(' ')
            .next()
            .unwrap_or_default();
        assert!(
            skips.iter().any(|(_, skipped, _)| skipped == id),
            "docs/operations.md lists {id}, which the template no longer skips"
        );
    }
}

#[test]
fn the_api_allows_exactly_the_billing_pages_origins_and_no_credentials() {
    let t = template();
    let cors = &t["Resources"]["BillingHttpApi"]["Properties"]["CorsConfiguration"];
    assert_eq!(
        reference(&cors["AllowOrigins"]),
        Some(("BillingPageOrigins", "")),
        "origins come from the parameter"
    );
    let origins = &t["Parameters"]["BillingPageOrigins"];
    assert_eq!(origins["Type"], "CommaDelimitedList");
    let default = origins["Default"].as_str().expect("a default origin");
    assert!(
        default
            .split(',')
            .all(|o| o.starts_with("https://") && !o.contains('*')),
        "explicit https origins, never *: {default}"
    );
    assert_eq!(cors["AllowCredentials"], Value::Bool(false));
    let headers: Vec<&str> = one_or_many(&cors["AllowHeaders"])
        .into_iter()
        .filter_map(Value::as_str)
        .collect();
    assert!(headers.contains(&"authorization"), "{headers:?}");
}

#[test]
fn the_optional_page_bucket_is_private_and_read_only_through_its_distribution() {
    let t = template();
    let page: Vec<(String, Value)> = t["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter_map(|(name, r)| {
            let name = name.as_str()?;
            name.starts_with("BillingPage")
                .then(|| (name.to_owned(), r.clone()))
        })
        .collect();
    assert_eq!(
        page.len(),
        4,
        "bucket, its policy, origin access, distribution"
    );
    for (name, r) in &page {
        assert_eq!(r["Condition"], "PublishPage", "{name} is optional");
    }
    let bucket = &t["Resources"]["BillingPageBucket"]["Properties"];
    let block = &bucket["PublicAccessBlockConfiguration"];
    for key in [
        "BlockPublicAcls",
        "BlockPublicPolicy",
        "IgnorePublicAcls",
        "RestrictPublicBuckets",
    ] {
        assert_eq!(block[key], Value::Bool(true), "{key}");
    }
    let statements =
        &t["Resources"]["BillingPageBucketPolicy"]["Properties"]["PolicyDocument"]["Statement"];
    let allows: Vec<&Value> = one_or_many(statements)
        .into_iter()
        .filter(|s| s["Effect"] == "Allow")
        .collect();
    assert_eq!(allows.len(), 1, "one reader");
    assert_eq!(
        allows[0]["Principal"]["Service"],
        "cloudfront.amazonaws.com"
    );
    assert_eq!(allows[0]["Action"], "s3:GetObject");
    let source = format!(
        "{:?}",
        allows[0]["Condition"]["StringEquals"]["AWS:SourceArn"]
    );
    assert!(source.contains("${BillingPageDistribution}"), "{source}");
    let behavior = &t["Resources"]["BillingPageDistribution"]["Properties"]["DistributionConfig"]
        ["DefaultCacheBehavior"];
    assert_eq!(behavior["ViewerProtocolPolicy"], "redirect-to-https");
}
