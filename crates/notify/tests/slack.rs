//! Slack: the original text byte for byte, Block Kit limits, splitting, and delivery.

mod support;

use std::time::Duration;

use ml_operator_notify::groups::groups;
use ml_operator_notify::slack::{
    self, MAX_BLOCKS, MAX_HEADER_CHARS, MAX_SECTION_CHARS, SPLIT_TEXT_CHARS,
};
use ml_operator_notify::{
    ErrorKind, Event, Notification, Notifier, Secret, SlackNotifier, SlackOptions, Update,
};
use proptest::prelude::*;
use serde_json::Value;
use support::*;

const CMD_ALS: &str = r#"kubectl patch deployment account-lookup-service -n pisp-lab --patch '{"spec":{"template":{"spec":{"containers":[{"name":"account-lookup-service","image":"mojaloop/account-lookup-service:v10.3.4"}]}}}}'"#;
const CMD_CL: &str = r#"kubectl patch deployment central-ledger -n pisp-lab --patch '{"spec":{"template":{"spec":{"containers":[{"name":"central-ledger","image":"mojaloop/central-ledger:v13.16.1"}]}}}}'"#;

fn opts(include_commands: bool) -> SlackOptions {
    SlackOptions {
        include_commands,
        part_interval: Duration::ZERO,
    }
}

fn text_of(n: &Notification, include_commands: bool) -> String {
    let messages = slack::render(n, &opts(include_commands));
    assert_eq!(messages.len(), 1);
    messages[0]["text"].as_str().unwrap().to_owned()
}

#[test]
fn original_text_with_commands() {
    let n = notification(&two_updates(), vec![]);
    let expected = format!(
        "*ml-operator* - The following services are not on the latest secure version and should be updated:\n  - `mojaloop/account-lookup-service`: latest version is `v10.3.4`\n  - `mojaloop/central-ledger`: latest version is `v13.16.1`\nUse the following commands to patch your deployments with `kubectl`:\n```\n{CMD_ALS}\n{CMD_CL}\n```"
    );
    assert_eq!(text_of(&n, true), expected);
}

#[test]
fn original_text_without_commands() {
    let n = notification(&two_updates(), vec![]);
    assert_eq!(
        text_of(&n, false),
        "*ml-operator* - The following services are not on the latest secure version and should be updated:\n  - `mojaloop/account-lookup-service`: latest version is `v10.3.4`\n  - `mojaloop/central-ledger`: latest version is `v13.16.1`"
    );
}

#[test]
fn original_text_with_commands_and_failures() {
    let failures = vec![
        "mojaloop/x: registry timeout".to_owned(),
        "mojaloop/y: 401 unauthorized".to_owned(),
    ];
    let n = notification(&two_updates(), failures);
    let expected = format!(
        "*ml-operator* - The following services are not on the latest secure version and should be updated:\n  - `mojaloop/account-lookup-service`: latest version is `v10.3.4`\n  - `mojaloop/central-ledger`: latest version is `v13.16.1`\nUse the following commands to patch your deployments with `kubectl`:\n```\n{CMD_ALS}\n{CMD_CL}\n```\n**warning:** encountered 2 processing errors. Please check your logs for more information."
    );
    assert_eq!(text_of(&n, true), expected);
}

#[test]
fn original_text_without_commands_with_failures() {
    let n = notification(&two_updates(), vec!["mojaloop/x: registry timeout".into()]);
    assert_eq!(
        text_of(&n, false),
        "*ml-operator* - The following services are not on the latest secure version and should be updated:\n  - `mojaloop/account-lookup-service`: latest version is `v10.3.4`\n  - `mojaloop/central-ledger`: latest version is `v13.16.1`\n**warning:** encountered 1 processing errors. Please check your logs for more information."
    );
}

#[test]
fn original_text_empty_set() {
    let n = notification(&[], vec![]);
    assert_eq!(
        text_of(&n, true),
        "*ml-operator* - all monitored services are up to date"
    );
    // The original appended the warning to the up-to-date line too.
    let n = notification(&[], vec!["mojaloop/x: registry timeout".into()]);
    assert_eq!(
        text_of(&n, true),
        "*ml-operator* - all monitored services are up to date\n**warning:** encountered 1 processing errors. Please check your logs for more information."
    );
}

#[test]
fn one_list_line_per_repository_and_tag_and_no_block_without_commands() {
    let mut a = update(
        "dev",
        "ledger-a",
        "mojaloop/central-ledger",
        "v13.14.0",
        "v13.16.1",
    );
    let mut b = update(
        "prod",
        "ledger-b",
        "mojaloop/central-ledger",
        "v13.15.0",
        "v13.16.1",
    );
    a.command = None;
    b.command = None;
    let n = notification(&[a, b], vec![]);
    assert_eq!(
        text_of(&n, true),
        "*ml-operator* - The following services are not on the latest secure version and should be updated:\n  - `mojaloop/central-ledger`: latest version is `v13.16.1`"
    );
}

/// Checks one Slack message against Block Kit's rules and limits; returns the section texts.
fn check_message(m: &Value, text_limit: usize) -> Vec<String> {
    let obj = m.as_object().unwrap();
    let text = obj["text"].as_str().unwrap();
    assert!(
        text.chars().count() <= text_limit,
        "text has {} chars",
        text.chars().count()
    );
    let blocks = obj["blocks"].as_array().unwrap();
    assert!(
        !blocks.is_empty() && blocks.len() <= MAX_BLOCKS,
        "{} blocks",
        blocks.len()
    );
    assert_eq!(blocks[0]["type"], "header");
    let mut sections = Vec::new();
    for b in blocks {
        match b["type"].as_str().unwrap() {
            "header" => {
                assert_eq!(b["text"]["type"], "plain_text");
                assert!(b["text"]["text"].as_str().unwrap().chars().count() <= MAX_HEADER_CHARS);
            }
            "section" => {
                assert_eq!(b["text"]["type"], "mrkdwn");
                let t = b["text"]["text"].as_str().unwrap();
                assert!(
                    !t.is_empty() && t.chars().count() <= MAX_SECTION_CHARS,
                    "section of {}",
                    t.len()
                );
                sections.push(t.to_owned());
            }
            "context" => {
                let elements = b["elements"].as_array().unwrap();
                assert!(!elements.is_empty() && elements.len() <= 10);
                for e in elements {
                    assert!(e["text"].as_str().unwrap().chars().count() <= MAX_SECTION_CHARS);
                }
            }
            other => panic!("unexpected block type {other}"),
        }
    }
    assert_eq!(blocks.last().unwrap()["type"], "context");
    sections
}

#[test]
fn block_kit_for_a_small_report() {
    let previous = vec![
        two_updates()[0].clone(),
        update(
            "pisp-lab",
            "quoting-service",
            "mojaloop/quoting-service",
            "v12.0.0",
            "v12.0.3",
        ),
    ];
    let n = Notification::diff(
        Event::Changed,
        Some("hub-eu".into()),
        &previous,
        &two_updates(),
        vec!["mojaloop/x: timeout".into()],
    );
    let messages = slack::render(&n, &opts(true));
    assert_eq!(messages.len(), 1);
    let sections = check_message(&messages[0], SPLIT_TEXT_CHARS);
    let blocks = messages[0]["blocks"].as_array().unwrap();
    assert_eq!(
        blocks[0]["text"]["text"],
        "ml-operator: 2 updates available on hub-eu"
    );
    // One section per group (here one repository each), each followed by its workloads'
    // commands; then resolved and failures.
    assert_eq!(sections.len(), 6, "{sections:#?}");
    assert!(
        sections[0].starts_with(
            "*mojaloop/account-lookup-service v10.3.0 → v10.3.4: 1 workload in pisp-lab*\n"
        ) && !sections[0].contains(":new:"),
        "{}",
        sections[0]
    );
    assert!(
        sections[0].contains("• Deployment `account-lookup-service`: `account-lookup-service`")
    );
    assert!(sections[1].contains("```\nkubectl patch deployment account-lookup-service"));
    assert!(
        sections[2].starts_with(
            "*mojaloop/central-ledger v13.14.0 → v13.16.1: 1 workload in pisp-lab* · :new: *new*"
        ),
        "central-ledger is new: {}",
        sections[2]
    );
    assert!(sections[3].contains("```\nkubectl patch deployment central-ledger"));
    assert!(sections[4].starts_with("*Resolved since the last notification (1):*"));
    assert!(sections[4].contains("quoting-service"));
    assert!(sections[5].contains("mojaloop/x: timeout"));
    let context = blocks.last().unwrap()["elements"][0]["text"]
        .as_str()
        .unwrap();
    assert_eq!(
        context,
        "2 pending · 1 new · 1 resolved · 1 image could not be checked · cluster `hub-eu`"
    );
}

#[test]
fn a_gitops_workload_says_where_to_change_it_and_gets_no_patch() {
    let mut argo = update(
        "mojaloop",
        "moja-centralledger-service",
        "mojaloop/central-ledger",
        "v19.8.3",
        "v19.8.9",
    );
    argo.command = None;
    argo.in_git = Some(
        "managed by Argo CD application \"mojaloop\" (selfHeal): a kubectl patch is reverted — change centralledger.centralledger-service.image.tag in git".into(),
    );
    let messages = slack::render(&notification(&[argo], vec![]), &opts(true));
    let sections = check_message(&messages[0], SPLIT_TEXT_CHARS);
    assert!(
        sections[0].contains(
            "• Deployment `moja-centralledger-service`: `moja-centralledger-service` · managed by Argo CD application \"mojaloop\" (selfHeal): a kubectl patch is reverted — change centralledger.centralledger-service.image.tag in git"
        ),
        "{sections:#?}"
    );
    assert!(
        sections
            .iter()
            .all(|s| !s.contains("kubectl patch deployment")),
        "{sections:#?}"
    );
}

#[test]
fn reminder_header_and_mrkdwn_escaping() {
    let mut u = two_updates().remove(0);
    u.reason = "tag <v10.3.4> & friends".into();
    let n = Notification::diff(Event::Reminder, None, &[u.clone()], &[u], vec![]);
    let m = &slack::render(&n, &opts(false))[0];
    assert_eq!(
        m["blocks"][0]["text"]["text"],
        "ml-operator reminder: 1 update pending"
    );
    let section = m["blocks"][1]["text"]["text"].as_str().unwrap();
    assert!(
        section.contains("tag &lt;v10.3.4&gt; &amp; friends"),
        "{section}"
    );
    assert_eq!(
        m["blocks"].as_array().unwrap().len(),
        3,
        "header, one group, context: no commands"
    );
}

#[test]
fn up_to_date_message_blocks() {
    let n = Notification::diff(Event::Changed, None, &two_updates(), &[], vec![]);
    let messages = slack::render(&n, &opts(true));
    assert_eq!(messages.len(), 1);
    let sections = check_message(&messages[0], SPLIT_TEXT_CHARS);
    assert_eq!(
        messages[0]["blocks"][0]["text"]["text"],
        "ml-operator: all monitored services are up to date"
    );
    assert_eq!(sections.len(), 1);
    assert!(sections[0].starts_with("*Resolved since the last notification (2):*"));
}

/// The group summary a section starts with, for group sections (not commands, resolved, failures).
fn group_summary(section: &str) -> Option<String> {
    if section.starts_with("*Patch")
        || section.starts_with("*Resolved")
        || !section.starts_with('*')
    {
        return None;
    }
    Some(section[1..].split('*').next()?.to_owned())
}

/// Every group's section appears exactly once across parts, in order; every part fits.
fn check_split(n: &Notification, messages: &[Value], include_commands: bool) {
    let total = messages.len();
    let mut seen: Vec<String> = Vec::new();
    let mut commands_in_text = 0;
    for (i, m) in messages.iter().enumerate() {
        let sections = check_message(m, SPLIT_TEXT_CHARS.max(longest_single(n)));
        let text = m["text"].as_str().unwrap();
        if total > 1 {
            let marker = format!("(part {}/{total})", i + 1);
            assert!(
                text.lines().next().unwrap().ends_with(&marker),
                "{}",
                text.lines().next().unwrap()
            );
            assert!(
                m["blocks"][0]["text"]["text"]
                    .as_str()
                    .unwrap()
                    .ends_with(&marker)
            );
        }
        commands_in_text += text
            .lines()
            .filter(|l| l.starts_with("kubectl patch"))
            .count();
        seen.extend(sections.iter().filter_map(|s| group_summary(s)));
        assert_eq!(
            text.contains("**warning:**"),
            i + 1 == total && !n.failures.is_empty()
        );
    }
    let expected: Vec<String> = groups(&n.updates, &n.added)
        .into_iter()
        .map(|g| g.summary)
        .collect();
    assert_eq!(seen, expected, "each group exactly once, in order");
    let with_command = n.updates.iter().filter(|u| u.command.is_some()).count();
    assert_eq!(
        commands_in_text,
        if include_commands { with_command } else { 0 }
    );
}

/// Text of a part holding only the longest single group (which may exceed the split size).
fn longest_single(n: &Notification) -> usize {
    groups(&n.updates, &n.added)
        .iter()
        .map(|g| {
            let updates: Vec<Update> = n
                .updates
                .iter()
                .filter(|u| {
                    u.namespace == g.namespace
                        && u.repository == g.repository
                        && u.latest_tag == g.latest_tag
                })
                .cloned()
                .collect();
            slack::original_text(&updates, true, n.failures.len(), Some((999, 999)))
                .chars()
                .count()
        })
        .max()
        .unwrap_or(0)
}

#[test]
fn a_300_update_report_is_split_into_valid_parts() {
    let previous = many_updates(20);
    let n = Notification::diff(
        Event::Changed,
        None,
        &previous[..5],
        &many_updates(300),
        vec!["mojaloop/x: timeout".into(); 3],
    );
    let messages = slack::render(&n, &opts(true));
    assert!(messages.len() > 6, "{} parts", messages.len());
    check_split(&n, &messages, true);
    // Without commands far fewer parts are needed, still within the block limit.
    let lean = slack::render(&n, &opts(false));
    assert!(lean.len() < messages.len());
    assert!(lean.len() >= 300 / MAX_BLOCKS);
    check_split(&n, &lean, false);
}

#[test]
fn a_huge_command_is_cut_to_fit_a_section() {
    let mut u = two_updates().remove(0);
    u.command = Some(format!(
        "kubectl patch deployment x --patch '{}'",
        "y".repeat(5000)
    ));
    let n = notification(&[u], vec![]);
    let messages = slack::render(&n, &opts(true));
    assert_eq!(messages.len(), 1);
    check_message(&messages[0], 40_000);
}

fn arb_update() -> impl Strategy<Value = Update> {
    (
        "[a-z]{1,10}",
        "[a-z-]{1,30}",
        "[a-z]{1,8}/[a-z-]{1,20}",
        0..300usize,
        any::<bool>(),
    )
        .prop_map(|(ns, name, repo, reason_len, cmd)| {
            let mut u = update(&ns, &name, &repo, "v1.0.0", "v1.0.1");
            u.reason = "r".repeat(reason_len);
            if !cmd {
                u.command = None;
            }
            u
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(64))]
    #[test]
    fn any_report_splits_into_valid_parts(updates in prop::collection::vec(arb_update(), 0..200), failures in 0..5usize, commands in any::<bool>()) {
        let n = notification(&updates, (0..failures).map(|i| format!("img-{i}: down")).collect());
        let messages = slack::render(&n, &opts(commands));
        prop_assert!(!messages.is_empty());
        for m in &messages {
            check_message(m, SPLIT_TEXT_CHARS.max(longest_single(&n)));
        }
        let sections: usize = messages.iter().map(|m| m["blocks"].as_array().unwrap().iter()
            .filter(|b| b["type"] == "section" && group_summary(b["text"]["text"].as_str().unwrap()).is_some()).count()).sum();
        prop_assert_eq!(sections, groups(&n.updates, &n.added).len());
    }
}

#[tokio::test]
async fn delivers_to_a_webhook_that_answers_ok() {
    let rx = Receiver::start(vec![]).await;
    let notifier = SlackNotifier::new(
        Secret::new(rx.url("/services/T000/B000/XXX")),
        opts(true),
        fast_retry(),
    )
    .unwrap();
    let n = notification(&two_updates(), vec![]);
    let d = notifier.notify(&n).await.unwrap();
    assert_eq!((d.requests, d.messages), (1, 1));
    let reqs = rx.requests();
    assert_eq!(reqs.len(), 1);
    assert_eq!(reqs[0].path, "/services/T000/B000/XXX");
    assert_eq!(
        reqs[0].header("content-type").as_deref(),
        Some("application/json")
    );
    assert_eq!(reqs[0].json()["text"], text_of(&n, true));
    let s = notifier.stats();
    assert_eq!(
        (s.sent, s.failed, s.messages, s.requests, s.retries),
        (1, 0, 1, 1, 0)
    );
}

#[tokio::test]
async fn a_slack_error_body_is_a_final_failure_naming_it() {
    let rx = Receiver::start(vec![Reply::Status(200, "invalid_payload")]).await;
    let notifier = SlackNotifier::new(
        Secret::new(rx.url("/services/T/B/X")),
        opts(true),
        fast_retry(),
    )
    .unwrap();
    let err = notifier
        .notify(&notification(&two_updates(), vec![]))
        .await
        .unwrap_err();
    assert_eq!(err.kind(), ErrorKind::Refused);
    assert!(err.to_string().contains("`invalid_payload`"), "{err}");
    assert_eq!(rx.requests().len(), 1, "not retried");
    assert_eq!(notifier.stats().last_error_kind, Some(ErrorKind::Refused));
    assert_eq!(notifier.stats().failed, 1);
}

#[tokio::test]
async fn a_split_report_arrives_in_order() {
    let rx = Receiver::start(vec![]).await;
    let notifier =
        SlackNotifier::new(Secret::new(rx.url("/hook")), opts(true), fast_retry()).unwrap();
    let n = notification(&many_updates(120), vec![]);
    let expected = notifier.render(&n);
    let d = notifier.notify(&n).await.unwrap();
    assert_eq!(d.messages, expected.len());
    let got: Vec<Value> = rx.requests().iter().map(|r| r.json()).collect();
    assert_eq!(got, expected);
}
