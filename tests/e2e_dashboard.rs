//! The dashboard (`GET /`) in headless Chromium (crates/testkit `browser`), against the
//! operator on the real control plane watching the bundled example hub (examples/hub, its
//! three namespaces, checked with examples/tags.json), upgrades and the admin API on: the
//! page loads with no console error and no CSP violation; with a token that may list
//! imageupgrades it shows the example's rows (as many as `/api/v1/findings` has, central-ledger
//! v19.8.3 → v19.8.9 in mojaloop among them) and its pending groups; the namespace and
//! status filters narrow the rows; markup in a row stays text; Approve with a token that may not patch shows the
//! API's 403 reason and changes nothing; Approve with one that may approves the ImageUpgrade
//! (`status.approval.how: api`), and once applied (fake nodes) the group is under the recent
//! outcomes. With `ML_OPERATOR_UPDATE_SCREENSHOTS=1` the screenshots are
//! written to docs/images/ (1280×800).

mod e2e_support;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::time::Duration;

use e2e_support::*;
use ml_operator_testkit::browser::{self, Browser, Page};
use serde_json::{Value, json};

const WORKLOAD: &str = "moja-centralledger-service";
const CONTAINER: &str = "centralledger-service";
const TO: &str = "mojaloop/central-ledger:v19.8.9";
const LIMIT: Duration = Duration::from_secs(120);
const PAGE_LIMIT: Duration = Duration::from_secs(30);

/// A JavaScript string literal.
fn js(text: &str) -> String {
    serde_json::to_string(text).unwrap()
}

/// Pastes `token` into the page's token form and waits for the tables to load.
async fn use_token(page: &mut Page, token: &str) {
    page.evaluate(&format!(
        "document.body.dataset.loaded = ''; document.getElementById('token').value = {}; \
         document.getElementById('use-token').click(); true",
        js(token)
    ))
    .await
    .unwrap();
    let loaded = page
        .wait_for("document.body.dataset.loaded", PAGE_LIMIT)
        .await
        .unwrap();
    let status = page
        .evaluate("document.getElementById('status').textContent")
        .await
        .unwrap();
    assert_eq!(loaded, "true", "the page did not load: {status}");
}

/// The findings rows shown, as their cells' text.
async fn rows(page: &mut Page) -> Vec<Vec<String>> {
    let rows = page
        .evaluate(
            "[...document.querySelectorAll('#findings tr.finding')]\
             .map(tr => [...tr.cells].map(td => td.textContent))",
        )
        .await
        .unwrap();
    serde_json::from_value(rows).unwrap()
}

/// Clicks Approve on the pending group `name` and returns the message the page shows.
async fn approve(page: &mut Page, name: &str) -> String {
    page.evaluate(&format!(
        "document.getElementById('message').hidden = true; \
         document.querySelector('#pending button.approve[data-name=' + JSON.stringify({}) + ']').click(); true",
        js(name)
    ))
    .await
    .unwrap();
    let message = page
        .wait_for(
            "!document.getElementById('message').hidden && document.getElementById('message').textContent",
            PAGE_LIMIT,
        )
        .await
        .unwrap();
    message.as_str().unwrap().to_string()
}

/// Where a screenshot goes: docs/images/ when asked to update them, else a temporary dir.
fn screenshot_path(dir: &std::path::Path, file: &str) -> PathBuf {
    if std::env::var_os("ML_OPERATOR_UPDATE_SCREENSHOTS").is_some() {
        repo().join("docs/images").join(file)
    } else {
        dir.join(file)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_shows_the_example_hub_and_approves_through_the_api() {
    let Some(cp) = ControlPlane::shared_or_skip("dashboard") else {
        return;
    };
    if browser::binary().is_none() {
        eprintln!("skipped: chromium is not installed (scripts/install-test-deps)");
        return;
    }
    install_crd(cp);
    // The example hub, each of its namespaces renamed for this test.
    let namespaces: BTreeMap<&str, Namespace<'_>> = ["mojaloop", "pisp-lab", "infra"]
        .into_iter()
        .map(|n| (n, cp.namespace(&format!("dash-{n}"))))
        .collect();
    let rename = |n: &str| namespaces[n].name().to_string();
    let hub = example_hub(cp, &rename);
    let mut apply = cp.kubectl();
    apply.args(["apply", "-f", "-"]);
    let applied = with_stdin(apply, &list(&hub));
    assert!(applied.status.success(), "{}", text(&applied));
    let mojaloop = &namespaces["mojaloop"];

    // Two people: a viewer who may list imageupgrades in every watched namespace, and an
    // approver who may also patch them.
    mojaloop.apply(&list(&[
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "approver"}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "viewer"}}),
    ]));
    for ns in namespaces.values() {
        let role = |name: &str, verbs: &[&str], who: &str| {
            [
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": name},
                       "rules": [{"apiGroups": ["ml-operator.mojaloop.io"], "resources": ["imageupgrades"], "verbs": verbs}]}),
                json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": name},
                       "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": name},
                       "subjects": [{"kind": "ServiceAccount", "name": who, "namespace": mojaloop.name()}]}),
            ]
        };
        let mut objects = role("approve-upgrades", &["get", "list", "patch"], "approver").to_vec();
        objects.extend(role("view-upgrades", &["get", "list"], "viewer"));
        ns.apply(&list(&objects));
    }
    for ns in namespaces.values() {
        for who in ["approver", "viewer"] {
            let user = service_account_user(mojaloop.name(), who);
            wait_can_i(cp, &user, "list", "imageupgrades", ns.name(), true);
        }
    }
    let approver_user = service_account_user(mojaloop.name(), "approver");
    wait_can_i(
        cp,
        &approver_user,
        "patch",
        "imageupgrades",
        mojaloop.name(),
        true,
    );
    let token = |sa: &str| {
        cp.ok(&[
            "create",
            "token",
            sa,
            "-n",
            mojaloop.name(),
            "--duration=30m",
        ])
        .trim()
        .to_string()
    };
    let (approver, viewer) = (token("approver"), token("viewer"));

    let dir = tempfile::tempdir().unwrap();
    let watched: Vec<&str> = namespaces.values().map(|n| n.name()).collect();
    let config = run_config(
        dir.path(),
        &watched,
        EVERY_SECOND,
        "upgrades: {enabled: true, interval: 1s}\napi: {enabled: true}\n",
    );
    let operator = Operator::start(OperatorSpec {
        name: "dash-a",
        namespace: mojaloop.name(),
        kubeconfig: cp.kubeconfig(),
        config: &config,
        dir: dir.path(),
        env: vec![],
        args: vec![
            "--tags".into(),
            repo().join("examples/tags.json").display().to_string(),
        ],
    })
    .await;
    let group = wait_upgrade_phase(
        mojaloop,
        WORKLOAD,
        CONTAINER,
        TO,
        "Available",
        LIMIT,
        || operator.log(),
    );
    let group_name = name(&group).to_string();
    let findings: Value = wait_for(
        "the first scan",
        LIMIT,
        || {
            let out = std::process::Command::new("curl")
                .args(["-s", "-H"])
                .arg(format!("Authorization: Bearer {approver}"))
                .arg(operator.url("/api/v1/findings"))
                .output()
                .ok()?;
            serde_json::from_slice::<Value>(&out.stdout)
                .ok()
                .filter(|v| v["findings"].is_array())
        },
        || operator.log(),
    );
    let findings = findings["findings"].as_array().unwrap().clone();
    assert!(findings.len() > 50, "{}", findings.len());

    let browser = Browser::launch().unwrap();
    let mut page = browser.new_page(1280, 800).await.unwrap();
    page.navigate(&operator.url("/")).await.unwrap();
    page.wait_for("document.getElementById('token') !== null", PAGE_LIMIT)
        .await
        .unwrap();
    // Without a token (and without api.anonymousRead) the page asks for one and shows nothing.
    assert!(rows(&mut page).await.is_empty());
    assert!(page.problems().is_empty(), "{:?}", page.problems());

    // The approver's token: the example hub's rows, as many as the API has.
    use_token(&mut page, &approver).await;
    let shown = rows(&mut page).await;
    assert_eq!(shown.len(), findings.len(), "{shown:#?}");
    let ledger = [
        mojaloop.name(),
        "Deployment",
        WORKLOAD,
        CONTAINER,
        "mojaloop/central-ledger:v19.8.3",
        "v19.8.9",
        "update-available",
    ];
    assert!(
        shown.iter().any(|r| r == &ledger),
        "no row {ledger:?} in {shown:#?}"
    );
    let pending = page
        .evaluate(
            "[...document.querySelectorAll('#pending tr.upgrade')].map(tr => tr.dataset.name)",
        )
        .await
        .unwrap();
    assert!(
        pending
            .as_array()
            .unwrap()
            .contains(&json!(group_name.as_str())),
        "{group_name} not pending in {pending}"
    );
    let ledger_group = page
        .evaluate(&format!(
            "(() => {{ const tr = document.querySelector('#pending tr.upgrade[data-name=' + JSON.stringify({}) + ']'); \
             return [...tr.cells].map(td => td.innerText).concat([tr.cells[2].title]); }})()",
            js(&group_name)
        ))
        .await
        .unwrap();
    let ledger_group: Vec<String> = serde_json::from_value(ledger_group).unwrap();
    assert_eq!(ledger_group[0], mojaloop.name(), "{ledger_group:?}");
    assert_eq!(
        ledger_group[1], "mojaloop/central-ledger\nv19.8.3 → v19.8.9",
        "{ledger_group:?}"
    );
    assert_eq!(ledger_group[3], "Available", "{ledger_group:?}");
    assert_eq!(ledger_group[6], "0 of 1", "{ledger_group:?}");
    assert!(
        ledger_group[8]
            .lines()
            .any(|w| w == format!("Deployment/{WORKLOAD}")),
        "{ledger_group:?}"
    );
    page.screenshot(&screenshot_path(dir.path(), "dashboard.png"))
        .await
        .unwrap();

    // The namespace filter narrows the rows to that namespace.
    let pisp = namespaces["pisp-lab"].name();
    page.evaluate(&format!(
        "const s = document.getElementById('filter-namespace'); s.value = {}; \
         s.dispatchEvent(new Event('change')); true",
        js(pisp)
    ))
    .await
    .unwrap();
    let narrowed = rows(&mut page).await;
    let in_pisp = findings.iter().filter(|f| f["namespace"] == pisp).count();
    assert!(in_pisp > 0);
    assert_eq!(narrowed.len(), in_pisp);
    assert!(narrowed.iter().all(|r| r[0] == pisp), "{narrowed:#?}");
    page.evaluate("document.getElementById('findings-section').scrollIntoView(); true")
        .await
        .unwrap();
    page.screenshot(&screenshot_path(dir.path(), "dashboard-findings.png"))
        .await
        .unwrap();
    page.evaluate("window.scrollTo(0, 0); true").await.unwrap();
    page.evaluate(
        "const t = document.getElementById('filter-namespace'); t.value = ''; \
         t.dispatchEvent(new Event('change')); true",
    )
    .await
    .unwrap();
    assert_eq!(rows(&mut page).await.len(), findings.len());
    // The status filter too: the example's one unresolved image (kafka-exporter's `latest`).
    page.evaluate(
        "const u = document.getElementById('filter-status'); u.value = 'unresolved'; \
         u.dispatchEvent(new Event('change')); true",
    )
    .await
    .unwrap();
    let unresolved = rows(&mut page).await;
    assert_eq!(
        unresolved.len(),
        findings
            .iter()
            .filter(|f| f["status"] == "unresolved")
            .count()
    );
    assert!(
        unresolved
            .iter()
            .any(|r| r[2] == "kafka-exporter" && r[4] == "danielqsj/kafka-exporter:latest"),
        "{unresolved:#?}"
    );
    page.evaluate(
        "const v = document.getElementById('filter-status'); v.value = ''; \
         v.dispatchEvent(new Event('change')); true",
    )
    .await
    .unwrap();
    assert!(page.problems().is_empty(), "{:?}", page.problems());

    // Strings from registries and manifests stay text: markup in a finding is shown as is,
    // never parsed (the page's own render function, on a hostile row).
    let hostile = "<img src=x id=injected onerror=console.error('xss')>";
    let shown = page
        .evaluate(&format!(
            "state.findings.unshift({{namespace: {h}, kind: 'Deployment', name: {h}, \
             container: 'c', image: {h}, latestTag: {h}, status: 'update-available'}}); \
             renderFindings(); \
             const first = document.querySelector('#findings tr.finding'); \
             const out = [document.getElementById('injected') === null, \
                          first.querySelectorAll('img').length, first.cells[4].textContent]; \
             state.findings.shift(); renderFindings(); out",
            h = js(hostile)
        ))
        .await
        .unwrap();
    assert_eq!(shown, json!([true, 0, hostile]));
    assert_eq!(rows(&mut page).await.len(), findings.len());
    page.evaluate("true").await.unwrap();
    assert!(page.problems().is_empty(), "{:?}", page.problems());

    // The viewer may read but not decide: the API's 403 reason, nothing changed.
    use_token(&mut page, &viewer).await;
    let refused = approve(&mut page, &group_name).await;
    assert!(
        refused.contains("403")
            && refused.contains(&format!(
                "{} may not patch imageupgrades in namespace {}",
                service_account_user(mojaloop.name(), "viewer"),
                mojaloop.name()
            )),
        "{refused}"
    );
    let unchanged = upgrade_to(mojaloop, WORKLOAD, CONTAINER, TO).unwrap();
    assert_eq!(unchanged["spec"]["approved"], false, "{unchanged:#}");
    assert_eq!(unchanged["spec"]["approvals"], json!([]), "{unchanged:#}");
    // The only problem logged is the browser's note of the refused request.
    page.evaluate("true").await.unwrap();
    let others: Vec<&String> = page
        .problems()
        .iter()
        .filter(|p| !(p.starts_with("log (network)") && p.contains("403")))
        .collect();
    assert!(others.is_empty(), "{:?}", page.problems());
    page.clear_problems();

    // The approver approves through the page: the ImageUpgrade is approved through the API.
    use_token(&mut page, &approver).await;
    let approved = approve(&mut page, &group_name).await;
    assert!(
        approved.contains(&format!("approved by api:{approver_user}")),
        "{approved}"
    );
    let decided = wait_for(
        "the approval on the ImageUpgrade",
        LIMIT,
        || {
            upgrade_to(mojaloop, WORKLOAD, CONTAINER, TO)
                .filter(|u| u["status"]["approval"]["how"] == "api")
        },
        || operator.log(),
    );
    assert_eq!(decided["spec"]["approved"], true, "{decided:#}");
    assert_eq!(
        decided["status"]["approval"]["by"],
        format!("api:{approver_user}")
    );
    // Once the group has its window, the page shows it approved (Refresh reads again).
    wait_for(
        "the group to be scheduled",
        LIMIT,
        || {
            upgrade_to(mojaloop, WORKLOAD, CONTAINER, TO)
                .filter(|u| u["status"]["window"].is_object())
        },
        || operator.log(),
    );
    page.evaluate(
        "document.body.dataset.loaded = ''; document.getElementById('refresh').click(); true",
    )
    .await
    .unwrap();
    page.wait_for("document.body.dataset.loaded === 'true'", PAGE_LIMIT)
        .await
        .unwrap();
    page.wait_for(
        &format!(
            "(() => {{ const tr = document.querySelector('#pending tr.upgrade[data-name=' + JSON.stringify({}) + ']'); \
             return tr === null || !tr.querySelector('button.approve'); }})()",
            js(&group_name)
        ),
        PAGE_LIMIT,
    )
    .await
    .unwrap();
    page.screenshot(&screenshot_path(dir.path(), "dashboard-approve.png"))
        .await
        .unwrap();
    // With fake nodes the Pods run the new image: the group ends, and the page lists it
    // under the recent outcomes.
    if has_fake_nodes(cp) {
        let ended = wait_for(
            "the approved group to end",
            LIMIT,
            || {
                upgrade_to(mojaloop, WORKLOAD, CONTAINER, TO)
                    .filter(|u| ["Succeeded", "RolledBack", "Failed"].contains(&phase(u)))
            },
            || operator.log(),
        );
        page.evaluate(
            "document.body.dataset.loaded = ''; document.getElementById('refresh').click(); true",
        )
        .await
        .unwrap();
        page.wait_for("document.body.dataset.loaded === 'true'", PAGE_LIMIT)
            .await
            .unwrap();
        let outcomes = page
            .evaluate(
                "[...document.querySelectorAll('#outcomes tr.outcome')]\
                 .map(tr => [...tr.cells].map(td => td.innerText))",
            )
            .await
            .unwrap();
        let outcomes: Vec<Vec<String>> = serde_json::from_value(outcomes).unwrap();
        let row = outcomes
            .iter()
            .find(|r| r[2] == "mojaloop/central-ledger\nv19.8.3 → v19.8.9")
            .unwrap_or_else(|| panic!("no outcome row in {outcomes:#?}"));
        assert_eq!(row[1], mojaloop.name());
        assert_eq!(row[3], phase(&ended), "{row:?}");
        assert_eq!(row[4], format!("api:{approver_user} (api)"), "{row:?}");
    }
    page.evaluate("true").await.unwrap();
    assert!(page.problems().is_empty(), "{:?}", page.problems());
    // Tokens never reach the log.
    let log = operator.log();
    assert!(
        !log.contains(&approver) && !log.contains(&viewer),
        "a token in the log"
    );
}
