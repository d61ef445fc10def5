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
    assert_eq!(
        t["Globals"]["Function"]["LoggingConfig"]["LogFormat"],
        "JSON"
    );
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
    let mut routes: Vec<(String, String, bool)> = functions(&t)
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
                        p["Auth"]["Authorizer"] == "NONE",
                    )
                })
                .collect::<Vec<_>>()
        })
        .collect();
    routes.sort();
    // Only Stripe's webhook goes without the JWT authorizer: its signature authenticates it.
    let open: Vec<(String, String)> = routes
        .iter()
        .filter(|r| r.2)
        .map(|(p, m, _)| (p.clone(), m.clone()))
        .collect();
    assert_eq!(open, [("/stripe/webhook".to_owned(), "POST".to_owned())]);
    let deployed: Vec<(String, String)> = routes
        .into_iter()
        .filter(|r| !r.2)
        .map(|(p, m, _)| (p, m))
        .collect();
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
                .map(move |m| (path.clone(), m))
        })
        .collect();
    documented.sort();
    assert_eq!(deployed, documented);
}

#[test]
fn every_function_has_an_errors_alarm_and_every_dead_letter_queue_a_depth_alarm() {
    let t = template();
    let alarms: Vec<&Value> = t["Resources"]
        .as_mapping()
        .expect("Resources")
        .values()
        .filter(|r| r["Type"] == "AWS::CloudWatch::Alarm")
        .collect();
    let watched = |namespace: &str, metric: &str, target: &str| {
        alarms.iter().any(|a| {
            let p = &a["Properties"];
            p["Namespace"] == namespace
                && p["MetricName"] == metric
                && serde_yaml::to_string(&p["Dimensions"]).is_ok_and(|d| d.contains(target))
                && p["AlarmActions"].is_sequence()
        })
    };
    for (name, _) in functions(&t) {
        assert!(
            watched("AWS/Lambda", "Errors", &name),
            "{name} has no errors alarm"
        );
    }
    let queues = t["Resources"]
        .as_mapping()
        .expect("Resources")
        .iter()
        .filter(|(name, r)| {
            r["Type"] == "AWS::SQS::Queue"
                && name.as_str().is_some_and(|n| n.contains("DeadLetter"))
        });
    for (name, _) in queues {
        let name = name.as_str().unwrap_or_default();
        assert!(
            watched("AWS/SQS", "ApproximateNumberOfMessagesVisible", name),
            "{name} has no depth alarm"
        );
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
