//! The admin API on the real control plane, the API server answering the TokenReviews and
//! SubjectAccessReviews: no token → 401, a token the cluster does not know → 401, a
//! ServiceAccount that may not patch imageupgrades → 403 and nothing changed, one that may →
//! approved (`status.approval.how: api`, by `api:system:serviceaccount:…`), applied, audited by
//! an Event naming it; the read endpoints need a token that may list imageupgrades; a second
//! decision on the applied group → 409, nothing changed.

mod e2e_support;

use std::time::Duration;

use e2e_support::*;
use serde_json::{Value, json};

const FROM: &str = "mojaloop/central-ledger:v19.8.3";
const TO: &str = "mojaloop/central-ledger:v19.8.9";
const LIMIT: Duration = Duration::from_secs(90);

async fn call(method: reqwest::Method, url: &str, token: Option<&str>) -> (u16, Value) {
    let mut request = reqwest::Client::new().request(method, url);
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    let cors = response
        .headers()
        .get("access-control-allow-origin")
        .cloned();
    assert!(cors.is_none(), "no CORS header: {cors:?}");
    (status, response.json().await.unwrap_or(Value::Null))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn admin_api_decisions_need_a_kubernetes_token_allowed_to_patch_imageupgrades() {
    let Some(cp) = ControlPlane::shared_or_skip("admin API") else {
        return;
    };
    install_crd(cp);
    let ns = cp.namespace("api");
    ns.apply(&list(&[deployment(
        "central-ledger",
        1,
        pod_template(
            "central-ledger",
            &[container("central-ledger", FROM)],
            &[],
            json!({}),
        ),
    )]));
    // Two ServiceAccounts: one may patch and list imageupgrades here, one only exists.
    ns.apply(&list(&[
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "approver"}}),
        json!({"apiVersion": "v1", "kind": "ServiceAccount", "metadata": {"name": "viewer"}}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "Role", "metadata": {"name": "approve-upgrades"},
               "rules": [{"apiGroups": ["ml-operator.mojaloop.io"], "resources": ["imageupgrades"], "verbs": ["get", "list", "patch"]}]}),
        json!({"apiVersion": "rbac.authorization.k8s.io/v1", "kind": "RoleBinding", "metadata": {"name": "approve-upgrades"},
               "roleRef": {"apiGroup": "rbac.authorization.k8s.io", "kind": "Role", "name": "approve-upgrades"},
               "subjects": [{"kind": "ServiceAccount", "name": "approver", "namespace": ns.name()}]}),
    ]));
    let approver_user = service_account_user(ns.name(), "approver");
    wait_can_i(
        cp,
        &approver_user,
        "patch",
        "imageupgrades",
        ns.name(),
        true,
    );
    let token = |sa: &str| {
        cp.ok(&["create", "token", sa, "-n", ns.name(), "--duration=30m"])
            .trim()
            .to_string()
    };
    let (approver, viewer) = (token("approver"), token("viewer"));

    let registry = registry_with(&[("mojaloop/central-ledger", &["v19.8.3", "v19.8.9"])]).await;
    let dir = tempfile::tempdir().unwrap();
    let config = run_config(
        dir.path(),
        &[ns.name()],
        EVERY_SECOND,
        &format!(
            "{}upgrades: {{enabled: true, interval: 1s}}\napi: {{enabled: true}}\n",
            mirror_config(&registry)
        ),
    );
    let operator = Operator::start(OperatorSpec {
        name: "api-a",
        namespace: ns.name(),
        kubeconfig: cp.kubeconfig(),
        config: &config,
        dir: dir.path(),
        env: vec![],
        args: vec![],
    })
    .await;
    let group = wait_upgrade_phase(
        &ns,
        "central-ledger",
        "central-ledger",
        TO,
        "Available",
        LIMIT,
        || operator.log(),
    );
    let group_name = name(&group).to_string();
    let approve = operator.url(&format!(
        "/api/v1/upgrades/{}/{group_name}/approve",
        ns.name()
    ));
    let reject = operator.url(&format!(
        "/api/v1/upgrades/{}/{group_name}/reject",
        ns.name()
    ));
    let unchanged = || {
        let g = upgrade_to(&ns, "central-ledger", "central-ledger", TO).unwrap();
        assert_eq!(g["spec"]["approved"], false, "{g:#}");
        assert_eq!(g["spec"]["rejected"], false, "{g:#}");
        assert_eq!(g["spec"]["approvals"], json!([]));
    };

    // No token, a token the cluster does not know: 401 with a reason.
    let (status, body) = call(reqwest::Method::POST, &approve, None).await;
    assert_eq!(status, 401, "{body}");
    assert!(body["error"].as_str().unwrap().contains("Bearer"), "{body}");
    let (status, _) = call(reqwest::Method::POST, &approve, Some("not-a-real-token")).await;
    assert_eq!(status, 401);
    assert_eq!(
        call(
            reqwest::Method::GET,
            &operator.url("/api/v1/upgrades"),
            None
        )
        .await
        .0,
        401
    );
    // A real token whose user may not patch imageupgrades: 403, nothing changed.
    let (status, body) = call(reqwest::Method::POST, &reject, Some(&viewer)).await;
    assert_eq!(status, 403, "{body}");
    assert!(
        body["error"]
            .as_str()
            .unwrap()
            .contains("may not patch imageupgrades"),
        "{body}"
    );
    assert_eq!(
        call(
            reqwest::Method::GET,
            &operator.url("/api/v1/upgrades"),
            Some(&viewer)
        )
        .await
        .0,
        403
    );
    unchanged();

    // The approver reads the groups and the findings, then approves.
    let (status, body) = call(
        reqwest::Method::GET,
        &operator.url("/api/v1/upgrades"),
        Some(&approver),
    )
    .await;
    assert_eq!(status, 200, "{body}");
    let listed = &body["upgrades"].as_array().unwrap()[0];
    assert_eq!(listed["name"], group_name.as_str());
    assert_eq!(listed["phase"], "Available");
    assert_eq!(listed["requiredApprovals"], 1);
    assert_eq!(
        listed["window"],
        Value::Null,
        "chosen on approval: {listed:#}"
    );
    let (status, findings) = call(
        reqwest::Method::GET,
        &operator.url("/api/v1/findings"),
        Some(&approver),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(findings["schemaVersion"], 1);
    assert_eq!(
        findings["findings"][0]["latestTag"], "v19.8.9",
        "{findings:#}"
    );

    let (status, body) = call(reqwest::Method::POST, &approve, Some(&approver)).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["outcome"], "approved");
    let done = wait_upgrade_phase(
        &ns,
        "central-ledger",
        "central-ledger",
        TO,
        "Succeeded",
        LIMIT,
        || operator.log(),
    );
    assert_eq!(done["status"]["approval"]["how"], "api");
    assert_eq!(
        done["status"]["approval"]["by"],
        format!("api:{approver_user}")
    );
    let (_, body) = call(
        reqwest::Method::GET,
        &operator.url("/api/v1/upgrades"),
        Some(&approver),
    )
    .await;
    let listed = &body["upgrades"][0];
    assert_eq!(listed["phase"], "Succeeded", "{body:#}");
    assert_eq!(listed["window"]["name"], "anytime", "{body:#}");
    let events = events(&ns, "ApprovedViaApi", &group_name);
    assert_eq!(events.len(), 1, "{events:#?}");
    assert!(
        events[0]["message"]
            .as_str()
            .unwrap()
            .contains(&approver_user),
        "{events:#?}"
    );
    operator
        .wait_for_log(&format!("admin API: {approver_user} approved"))
        .await;

    // Deciding again on the applied group: 409, nothing changed.
    let (status, body) = call(reqwest::Method::POST, &reject, Some(&approver)).await;
    assert_eq!(status, 409, "{body}");
    assert!(
        body["message"]
            .as_str()
            .unwrap()
            .contains("already Succeeded"),
        "{body}"
    );
    let after = upgrade_to(&ns, "central-ledger", "central-ledger", TO).unwrap();
    assert_eq!(after["spec"]["rejected"], false);
    // Tokens never reach the log.
    let log = operator.log();
    assert!(
        !log.contains(&approver) && !log.contains(&viewer),
        "a token in the log"
    );
}
