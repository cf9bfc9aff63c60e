//! Git delivery (`upgrades.delivery: git`) against a real git server on loopback: Debian's
//! `git http-backend` behind a small CGI bridge, so the test sees every request (the token must
//! arrive only as the `Authorization` header) and the pushes land in a real bare repository.
//! The pull-request APIs are loopback receivers that check GitHub's and GitLab's documented
//! request shapes; an sshd of the test's own on loopback takes the SSH pushes. The workloads carry Argo CD markers, and kube-sim's request log shows that
//! no kubectl patch is ever sent: the test plays Argo CD, replacing the image as its sync would.

mod support;

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use chrono::Utc;
use k8s_openapi::api::apps::v1::Deployment;
use kube::Client;
use kube::api::{Api, PostParams};
use ml_operator::deliver::git::{GitRepository, GitSettings};
use ml_operator::inventory::Workload;
use ml_operator::scan::{ScanOptions, scan};
use ml_operator::source::cluster::{Cluster, ClusterOptions};
use ml_operator::tags::index::TagIndex;
use ml_operator::upgrade::{Announcer, UpgradeSettings, Upgrader, propose};
use ml_operator_testkit::mini_http::{self, Action, HttpRequest, HttpResponse};
use serde_json::{Value, json};
use support::eventually_or;

const NS: &str = "hub";
const SERVICE: &str = "centralledger-service";
const HANDLER: &str = "centralledger-handler-transfer-prepare";
const IU_API: &str = "ml-operator.mojaloop.io/v1alpha2";
const UPGRADE: &str = "central-ledger-v17.7.8";
const TOKEN: &str = "glpat-s3cr3t-T0KEN-for-tests";
const PASSWORD: &str = "hunter2-beside-the-tags";

/// A Mojaloop-shaped values file: comments, an anchor the handler aliases, quoting, a secret.
fn values() -> String {
    format!(
        "# Mojaloop hub values (umbrella chart mojaloop/mojaloop 17.x)\n\
         global:\n  config:\n    db_password: {PASSWORD}   # a secret beside the tags\n\n\
         centralledger:\n  centralledger-service:\n    image:\n      repository: mojaloop/central-ledger\n      tag: &ledgerTag v17.7.0   # the handlers follow the service\n\
         \x20 centralledger-handler-transfer-prepare:\n    image:\n      repository: mojaloop/central-ledger\n      tag: *ledgerTag\n\n\
         account-lookup-service:\n  account-lookup-service:\n    image:\n      repository: mojaloop/account-lookup-service\n      tag: \"v17.8.0\"\n"
    )
}

// ---------------------------------------------------------------------------------------------
// The git server: `git http-backend` (CGI) behind mini_http.

/// One request the git server got.
#[derive(Debug, Clone)]
struct GitRequest {
    target: String,
    authorization: Option<String>,
    body_has_token: bool,
}

/// Something to do once, before the next push's ref advertisement (another pusher).
type BeforePush = Arc<Mutex<Option<Box<dyn FnOnce() + Send>>>>;

struct GitServer {
    server: mini_http::Server,
    root: PathBuf,
    requests: Arc<Mutex<Vec<GitRequest>>>,
    before_push: BeforePush,
}

/// The `Authorization` header git must send: Basic, the token as the password.
fn basic(user: &str) -> String {
    use base64::Engine;
    format!(
        "Basic {}",
        base64::engine::general_purpose::STANDARD.encode(format!("{user}:{TOKEN}"))
    )
}

impl GitServer {
    /// Serves the bare repositories under `root`; requests without `authorization` (when
    /// given) get 401.
    async fn start(root: &Path, authorization: Option<String>) -> GitServer {
        let requests: Arc<Mutex<Vec<GitRequest>>> = Arc::default();
        let before_push: BeforePush = Arc::default();
        let log = requests.clone();
        let project_root = root.to_path_buf();
        let hook = before_push.clone();
        let server = mini_http::serve(move |request: HttpRequest| {
            let log = log.clone();
            let project_root = project_root.clone();
            let authorization = authorization.clone();
            let hook = hook.clone();
            async move {
                if request
                    .target
                    .ends_with("/info/refs?service=git-receive-pack")
                    && let Some(before) = hook.lock().unwrap().take()
                {
                    before();
                }
                let given = request.header("authorization").map(str::to_string);
                log.lock().unwrap().push(GitRequest {
                    target: request.target.clone(),
                    authorization: given.clone(),
                    body_has_token: request
                        .body
                        .windows(TOKEN.len())
                        .any(|w| w == TOKEN.as_bytes()),
                });
                if authorization.is_some() && given != authorization {
                    return Action::Respond(
                        HttpResponse::new(401).header("WWW-Authenticate", "Basic realm=\"git\""),
                    );
                }
                let answer = tokio::task::spawn_blocking(move || cgi(&project_root, &request))
                    .await
                    .unwrap();
                Action::Respond(answer)
            }
        })
        .await;
        GitServer {
            server,
            root: root.to_path_buf(),
            requests,
            before_push,
        }
    }

    fn url(&self, repo: &str) -> String {
        format!("{}/{repo}", self.server.url())
    }
}

/// Runs `git http-backend` for one request, as a web server's CGI would.
fn cgi(root: &Path, request: &HttpRequest) -> HttpResponse {
    let query = request.target.split_once('?').map_or("", |(_, q)| q);
    let mut command = Command::new("git");
    command
        .arg("http-backend")
        .env_clear()
        .env("PATH", std::env::var_os("PATH").unwrap())
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_PROJECT_ROOT", root)
        .env("GIT_HTTP_EXPORT_ALL", "1")
        .env("REMOTE_USER", "ml-operator")
        .env("REMOTE_ADDR", "127.0.0.1")
        .env("REQUEST_METHOD", &request.method)
        .env("PATH_INFO", request.path())
        .env("QUERY_STRING", query)
        .env("CONTENT_LENGTH", request.body.len().to_string())
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped());
    if let Some(t) = request.header("content-type") {
        command.env("CONTENT_TYPE", t);
    }
    if let Some(e) = request.header("content-encoding") {
        command.env("HTTP_CONTENT_ENCODING", e);
    }
    if let Some(p) = request.header("git-protocol") {
        command.env("GIT_PROTOCOL", p);
    }
    let mut child = command.spawn().expect("git http-backend runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(&request.body)
        .unwrap();
    let output = child.wait_with_output().unwrap();
    let out = output.stdout;
    let (head_end, sep) = match out.windows(4).position(|w| w == b"\r\n\r\n") {
        Some(i) => (i, 4),
        None => (out.windows(2).position(|w| w == b"\n\n").unwrap_or(0), 2),
    };
    let head = String::from_utf8_lossy(&out[..head_end]).into_owned();
    let mut response = HttpResponse::new(200);
    for line in head.lines() {
        let Some((k, v)) = line.split_once(':') else {
            continue;
        };
        if k.eq_ignore_ascii_case("status") {
            response.status = v.trim()[..3].parse().unwrap();
        } else {
            response = response.header(k.trim(), v.trim());
        }
    }
    response.body(out[head_end + sep..].to_vec())
}

/// `git ARGS` in `dir` for the test's own bookkeeping (never the operator's path).
fn git(dir: &Path, args: &[&str]) -> String {
    let output = Command::new("git")
        .args(args)
        .current_dir(dir)
        .env("GIT_CONFIG_NOSYSTEM", "1")
        .env("GIT_CONFIG_GLOBAL", "/dev/null")
        .env("GIT_AUTHOR_NAME", "Hub Operator")
        .env("GIT_AUTHOR_EMAIL", "ops@hub.example")
        .env("GIT_COMMITTER_NAME", "Hub Operator")
        .env("GIT_COMMITTER_EMAIL", "ops@hub.example")
        .output()
        .unwrap();
    assert!(
        output.status.success(),
        "git {args:?}: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    String::from_utf8(output.stdout).unwrap()
}

/// A bare repository `example/hub-deploy.git` under `root`, its `main` holding the values file.
fn seed(root: &Path) -> PathBuf {
    std::fs::create_dir_all(root.join("example")).unwrap();
    let bare = root.join("example/hub-deploy.git");
    git(
        root,
        &[
            "init",
            "--quiet",
            "--bare",
            "--initial-branch=main",
            "example/hub-deploy.git",
        ],
    );
    let work = root.join("seed");
    git(root, &["init", "--quiet", "--initial-branch=main", "seed"]);
    std::fs::write(work.join("values-mojaloop.yaml"), values()).unwrap();
    std::fs::write(work.join("README.md"), "The hub's Argo CD source.\n").unwrap();
    git(&work, &["add", "."]);
    git(&work, &["commit", "--quiet", "-m", "hub values"]);
    git(&work, &["push", "--quiet", bare.to_str().unwrap(), "main"]);
    bare
}

// ---------------------------------------------------------------------------------------------
// The pull-request APIs.

/// One API request.
#[derive(Debug, Clone)]
struct ApiRequest {
    method: String,
    target: String,
    headers: Vec<(String, String)>,
    body: Value,
}

impl ApiRequest {
    fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(k, _)| k.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// A loopback GitHub (`github: true`) or GitLab: pull requests kept by head branch; a second
/// one for the same branch is refused the way each documents (422 / 409).
async fn hosting(github: bool) -> (mini_http::Server, Arc<Mutex<Vec<ApiRequest>>>) {
    let log: Arc<Mutex<Vec<ApiRequest>>> = Arc::default();
    let open: Arc<Mutex<Vec<String>>> = Arc::default();
    let requests = log.clone();
    let server = mini_http::serve(move |request: HttpRequest| {
        let log = log.clone();
        let open = open.clone();
        async move {
            let body = serde_json::from_slice(&request.body).unwrap_or(Value::Null);
            log.lock().unwrap().push(ApiRequest {
                method: request.method.clone(),
                target: request.target.clone(),
                headers: request.headers.clone(),
                body: body.clone(),
            });
            let (collection, branch_of, url_field) = if github {
                ("/repos/example/hub-deploy/pulls", "head", "html_url")
            } else {
                (
                    "/api/v4/projects/example%2Fhub-deploy/merge_requests",
                    "source_branch",
                    "web_url",
                )
            };
            if request.path() != collection {
                return Action::Respond(HttpResponse::json(404, &json!({"message": "Not Found"})));
            }
            let url =
                |branch: &str| format!("https://hosting.example/example/hub-deploy/pr/{branch}");
            let mut open = open.lock().unwrap();
            match request.method.as_str() {
                "POST" => {
                    let branch = body[branch_of].as_str().unwrap_or_default().to_string();
                    if open.contains(&branch) {
                        let status = if github { 422 } else { 409 };
                        return Action::Respond(HttpResponse::json(
                            status,
                            &json!({"message": "A pull request already exists"}),
                        ));
                    }
                    open.push(branch.clone());
                    Action::Respond(HttpResponse::json(201, &json!({url_field: url(&branch)})))
                }
                _ => {
                    let wanted = if github {
                        request
                            .query_param("head")
                            .and_then(|h| h.split_once(':').map(|(_, b)| b.to_string()))
                    } else {
                        request.query_param("source_branch")
                    };
                    let found: Vec<Value> = open
                        .iter()
                        .filter(|b| Some(b.as_str()) == wanted.as_deref())
                        .map(|b| json!({url_field: url(b)}))
                        .collect();
                    Action::Respond(HttpResponse::json(200, &Value::Array(found)))
                }
            }
        }
    })
    .await;
    (server, requests)
}

// ---------------------------------------------------------------------------------------------
// The hub on kube-sim.

/// A Deployment as Argo CD applies it (tracking annotation), on central-ledger v17.7.0.
fn argo_deployment(name: &str) -> Value {
    json!({
        "apiVersion": "apps/v1", "kind": "Deployment",
        "metadata": {"name": name, "namespace": NS,
            "labels": {"app.kubernetes.io/instance": "mojaloop"},
            "annotations": {"argocd.argoproj.io/tracking-id": format!("mojaloop:apps/Deployment:{NS}/{name}")}},
        "spec": {
            "replicas": 1,
            "selector": {"matchLabels": {"app": name}},
            "template": {
                "metadata": {"labels": {"app": name}},
                "spec": {
                    "initContainers": [{"name": "run-migration", "image": "mojaloop/central-ledger:v17.7.0"}],
                    "containers": [{"name": name, "image": "mojaloop/central-ledger:v17.7.0"}]}
            }
        }
    })
}

struct Hub {
    sim: kube_sim::Running,
    client: Client,
    _dir: tempfile::TempDir,
}

async fn hub() -> Hub {
    let crd = serde_json::to_value(ml_operator::upgrade::crd::crd()).unwrap();
    let sim = kube_sim::KubeSim::builder()
        .objects(vec![
            crd,
            json!({"apiVersion": "v1", "kind": "Namespace", "metadata": {"name": NS}}),
            argo_deployment(SERVICE),
            argo_deployment(HANDLER),
        ])
        .start()
        .await
        .unwrap();
    for name in [SERVICE, HANDLER] {
        sim.wait_for_async(
            "apps/v1",
            "Deployment",
            Some(NS),
            name,
            Duration::from_secs(10),
            |d| d["status"]["availableReplicas"] == 1,
        )
        .await
        .expect("the fixture rolls out");
    }
    let dir = tempfile::tempdir().unwrap();
    let kubeconfig = dir.path().join("kubeconfig");
    sim.write_kubeconfig(&kubeconfig).unwrap();
    let cluster = Cluster::connect(&ClusterOptions {
        kubeconfig: Some(kubeconfig),
        ..ClusterOptions::default()
    })
    .await
    .unwrap();
    Hub {
        client: cluster.client().clone(),
        sim,
        _dir: dir,
    }
}

impl Hub {
    fn upgrade(&self) -> Value {
        self.sim
            .get(IU_API, "ImageUpgrade", Some(NS), UPGRADE)
            .unwrap_or(Value::Null)
    }

    fn phase(&self) -> String {
        self.upgrade()["status"]["phase"]
            .as_str()
            .unwrap_or("Available")
            .to_string()
    }

    /// What Argo CD's sync does: the Deployments' images replaced (a PUT, never a patch).
    async fn sync(&self, tag: &str) {
        let api: Api<Deployment> = Api::namespaced(self.client.clone(), NS);
        for name in [SERVICE, HANDLER] {
            let mut deployment = api.get(name).await.unwrap();
            let spec = deployment
                .spec
                .as_mut()
                .unwrap()
                .template
                .spec
                .as_mut()
                .unwrap();
            for c in spec
                .containers
                .iter_mut()
                .chain(spec.init_containers.iter_mut().flatten())
            {
                c.image = Some(format!("mojaloop/central-ledger:{tag}"));
            }
            api.replace(name, &PostParams::default(), &deployment)
                .await
                .unwrap();
        }
    }

    fn patches(&self) -> usize {
        self.sim.request_count(
            "patch",
            &format!("/apis/apps/v1/namespaces/{NS}/deployments"),
        )
    }

    /// The scan and proposal of the central-ledger group.
    async fn propose(&self) {
        let workloads: Vec<Workload> = [SERVICE, HANDLER]
            .iter()
            .map(|name| {
                let object = self
                    .sim
                    .get("apps/v1", "Deployment", Some(NS), name)
                    .unwrap();
                Workload::from_object(&object, NS).unwrap().unwrap()
            })
            .collect();
        let index = TagIndex::from_json(
            &json!({"mojaloop/central-ledger": ["v17.7.0", "v17.7.8"]}).to_string(),
        )
        .unwrap();
        let report = scan(&workloads, &index, ScanOptions::default());
        assert!(
            report.patches.is_empty(),
            "no kubectl patch for Argo CD workloads"
        );
        propose(&self.client, &report, &[], Utc::now(), false)
            .await
            .unwrap();
    }

    /// Steps `upgrader` until `done` holds for the ImageUpgrade.
    async fn drive(&self, upgrader: &Upgrader, what: &str, done: impl Fn(&Value) -> bool) {
        eventually_or(
            what,
            Duration::from_secs(60),
            async || {
                upgrader.step_each(Utc::now()).await.unwrap();
                done(&self.upgrade())
            },
            || format!("{:#}", self.upgrade()["status"]),
        )
        .await;
    }
}

/// The log lines written while a test runs (this thread's subscriber).
#[derive(Clone, Default)]
struct Logs(Arc<Mutex<Vec<u8>>>);

impl Write for Logs {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().unwrap().extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Logs {
    fn capture() -> (Logs, tracing::subscriber::DefaultGuard) {
        let logs = Logs::default();
        let writer = logs.clone();
        let subscriber = tracing_subscriber::fmt()
            .with_max_level(tracing::Level::TRACE)
            .with_writer(move || writer.clone())
            .with_ansi(false)
            .finish();
        (logs, tracing::subscriber::set_default(subscriber))
    }

    fn text(&self) -> String {
        String::from_utf8_lossy(&self.0.lock().unwrap()).into_owned()
    }
}

/// The upgrader: auto-approving bugfix moves, delivering with git per `git_yaml`.
fn upgrader(hub: &Hub, git_yaml: &str, rollout_timeout: &str) -> Upgrader {
    let config = ml_operator::config::Config::parse(
        &format!(
            "upgrades: {{enabled: true, autoApprove: bugfix, delivery: git, rolloutTimeout: {rollout_timeout}}}\n{git_yaml}"
        ),
        "c.yaml",
    )
    .unwrap();
    let settings = UpgradeSettings::from_config(&config.upgrades).unwrap();
    let git = GitSettings::from_config(&config.git).unwrap().unwrap();
    let announcer = Announcer::new(vec![], Some((hub.client.clone(), "test".into())));
    Upgrader::new(hub.client.clone(), settings, announcer, vec![])
        .with_git(Arc::new(GitRepository::new(git).unwrap()))
}

/// The changed lines of a `git diff` (without the `---`/`+++` headers).
fn changed_lines(diff: &str) -> Vec<String> {
    diff.lines()
        .filter(|l| {
            (l.starts_with('-') || l.starts_with('+'))
                && !l.starts_with("--- ")
                && !l.starts_with("+++ ")
        })
        .map(str::to_string)
        .collect()
}

fn token_file(dir: &Path) -> PathBuf {
    let path = dir.join("git-token");
    std::fs::write(&path, format!("{TOKEN}\n")).unwrap();
    path
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_approved_group_becomes_one_commit_and_one_github_pull_request() {
    let (logs, _guard) = Logs::capture();
    let dir = tempfile::tempdir().unwrap();
    let bare = seed(dir.path());
    let server = GitServer::start(dir.path(), Some(basic("x-access-token"))).await;
    let (github, api) = hosting(true).await;
    let hub = hub().await;
    let git_yaml = format!(
        "git: {{url: '{}', branch: main, paths: [values-mojaloop.yaml], author: 'ml-operator <ml-operator@hub.example>', tokenFile: {}, pullRequest: {{provider: github, apiUrl: '{}'}}}}\n",
        server.url("example/hub-deploy.git"),
        token_file(dir.path()).display(),
        github.url()
    );
    let upgrader = upgrader(&hub, &git_yaml, "10m");
    hub.propose().await;
    hub.drive(&upgrader, "the commit", |u| {
        u["status"]["delivery"]["pullRequest"].is_string()
    })
    .await;

    // One commit on a branch of its own; main untouched; only the tag line changed.
    let branch = format!("ml-operator/{UPGRADE}");
    let status = hub.upgrade()["status"].clone();
    let commit = git(&bare, &["rev-parse", &branch]).trim().to_string();
    assert_eq!(status["delivery"]["commit"], commit.as_str());
    assert_eq!(status["delivery"]["branch"], branch.as_str());
    assert_eq!(status["phase"], "Applying");
    assert_eq!(
        git(&bare, &["rev-list", "--count", &format!("main..{branch}")]).trim(),
        "1"
    );
    let diff = git(&bare, &["diff", "main", &branch]);
    assert_eq!(
        changed_lines(&diff),
        [
            "-      tag: &ledgerTag v17.7.0   # the handlers follow the service",
            "+      tag: &ledgerTag v17.7.8   # the handlers follow the service",
        ],
        "{diff}"
    );
    let shown = git(
        &bare,
        &["show", "-s", "--format=%an <%ae>%n%s%n%b", &branch],
    );
    assert!(shown.starts_with("ml-operator <ml-operator@hub.example>\nml-operator: mojaloop/central-ledger v17.7.0 → v17.7.8 in hub\n"), "{shown}");
    assert!(
        shown.contains(&format!("ML-Operator-Upgrade: {NS}/{UPGRADE}")),
        "{shown}"
    );
    assert!(
        shown.contains(&format!("- Deployment {SERVICE}")),
        "{shown}"
    );

    // GitHub's documented request: POST /repos/{owner}/{repo}/pulls, its headers and fields.
    let posts: Vec<ApiRequest> = api
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.method == "POST")
        .cloned()
        .collect();
    assert_eq!(posts.len(), 1, "{posts:?}");
    let post = &posts[0];
    assert_eq!(post.target, "/repos/example/hub-deploy/pulls");
    assert_eq!(
        post.header("authorization"),
        Some(format!("Bearer {TOKEN}").as_str())
    );
    assert_eq!(post.header("accept"), Some("application/vnd.github+json"));
    assert_eq!(post.header("x-github-api-version"), Some("2022-11-28"));
    assert!(
        post.header("user-agent")
            .is_some_and(|a| a.starts_with("ml-operator/"))
    );
    assert_eq!(post.body["head"], branch.as_str());
    assert_eq!(post.body["base"], "main");
    assert_eq!(
        post.body["title"],
        "ml-operator: mojaloop/central-ledger v17.7.0 → v17.7.8 in hub"
    );
    assert!(post.body["body"].as_str().unwrap().contains(UPGRADE));
    assert_eq!(
        status["delivery"]["pullRequest"],
        format!("https://hosting.example/example/hub-deploy/pr/{branch}")
    );

    // A crash between the push and the status write: the retry finds the commit and the pull
    // request, and makes neither again.
    let api_iu: Api<ml_operator::upgrade::ImageUpgrade> = Api::namespaced(hub.client.clone(), NS);
    let mut object = api_iu.get_status(UPGRADE).await.unwrap();
    let delivery = object.status.as_mut().unwrap().delivery.as_mut().unwrap();
    delivery.commit = None;
    delivery.pull_request = None;
    api_iu
        .replace_status(UPGRADE, &PostParams::default(), &object)
        .await
        .unwrap();
    hub.drive(&upgrader, "the redelivery", |u| {
        u["status"]["delivery"]["pullRequest"].is_string()
    })
    .await;
    assert_eq!(
        hub.upgrade()["status"]["delivery"]["commit"],
        commit.as_str()
    );
    assert_eq!(git(&bare, &["rev-parse", &branch]).trim(), commit);
    assert_eq!(
        api.lock()
            .unwrap()
            .iter()
            .filter(|r| r.method == "POST")
            .count(),
        1,
        "no second pull request"
    );
    assert!(
        hub.upgrade()["status"]["message"]
            .as_str()
            .unwrap()
            .contains(&format!("commit {} found on {branch}", &commit[..12]))
    );

    // Argo CD syncs the merged change; the rollouts are watched to the end.
    assert_eq!(hub.phase(), "Applying", "nothing happens before the sync");
    hub.sync("v17.7.8").await;
    hub.drive(&upgrader, "the rollout", |u| {
        u["status"]["phase"] == "Succeeded"
    })
    .await;
    let message = hub.upgrade()["status"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.starts_with(&format!(
            "rolled out mojaloop/central-ledger:v17.7.8 to 2 workloads by commit {}",
            &commit[..12]
        )),
        "{message}"
    );
    assert_eq!(hub.patches(), 0, "no kubectl patch was ever sent");

    // The token: only ever the Authorization header, nowhere else.
    let requests = server.requests.lock().unwrap().clone();
    assert!(requests.len() >= 4, "{requests:?}");
    for request in &requests {
        assert_eq!(
            request.authorization.as_deref(),
            Some(basic("x-access-token").as_str())
        );
        assert!(
            !request.target.contains(TOKEN) && !request.body_has_token,
            "{request:?}"
        );
    }
    let object = hub.upgrade().to_string();
    assert!(!object.contains(TOKEN), "{object}");
    assert!(!object.contains(PASSWORD), "{object}");
    let logs = logs.text();
    assert!(logs.contains("delivered: commit"), "{logs}");
    assert!(!logs.contains(TOKEN), "the token in the logs:\n{logs}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_failed_rollout_is_reverted_by_a_commit_and_a_gitlab_merge_request() {
    let (logs, _guard) = Logs::capture();
    let dir = tempfile::tempdir().unwrap();
    let bare = seed(dir.path());
    let server = GitServer::start(dir.path(), Some(basic("oauth2"))).await;
    let (gitlab, api) = hosting(false).await;
    let hub = hub().await;
    let git_yaml = format!(
        "git: {{url: '{}', paths: [values-mojaloop.yaml], tokenFile: {}, pullRequest: {{provider: gitlab, apiUrl: '{}/'}}}}\n",
        server.url("example/hub-deploy.git"),
        token_file(dir.path()).display(),
        gitlab.url()
    );
    let upgrader = upgrader(&hub, &git_yaml, "10m");
    hub.propose().await;
    hub.drive(&upgrader, "the merge request", |u| {
        u["status"]["delivery"]["pullRequest"].is_string()
    })
    .await;
    let branch = format!("ml-operator/{UPGRADE}");
    let commit = git(
        &server.root.join("example/hub-deploy.git"),
        &["rev-parse", &branch],
    );

    // GitLab's documented request: the project path as one encoded segment, PRIVATE-TOKEN.
    let post = api
        .lock()
        .unwrap()
        .iter()
        .find(|r| r.method == "POST")
        .cloned()
        .unwrap();
    assert_eq!(
        post.target,
        "/api/v4/projects/example%2Fhub-deploy/merge_requests"
    );
    assert_eq!(post.header("private-token"), Some(TOKEN));
    assert_eq!(post.header("authorization"), None);
    assert_eq!(post.body["source_branch"], branch.as_str());
    assert_eq!(post.body["target_branch"], "main");
    assert_eq!(
        post.body["title"],
        "ml-operator: mojaloop/central-ledger v17.7.0 → v17.7.8 in hub"
    );
    assert!(post.body["description"].as_str().unwrap().contains(UPGRADE));

    // A person merges it; Argo CD syncs it, and the service's new pods never get ready.
    git(&bare, &["update-ref", "refs/heads/main", commit.trim()]);
    hub.sim.fail_rollout("Deployment", NS, SERVICE);
    hub.sync("v17.7.8").await;
    hub.drive(&upgrader, "the revert commit", |u| {
        u["status"]["delivery"]["revertCommit"].is_string()
    })
    .await;
    let status = hub.upgrade()["status"].clone();
    let revert_branch = format!("ml-operator/{UPGRADE}-revert");
    assert_eq!(status["delivery"]["revertBranch"], revert_branch.as_str());
    let revert = git(&bare, &["rev-parse", &revert_branch])
        .trim()
        .to_string();
    assert_eq!(status["delivery"]["revertCommit"], revert.as_str());
    let diff = git(&bare, &["diff", "main", &revert_branch]);
    assert_eq!(
        changed_lines(&diff),
        [
            "-      tag: &ledgerTag v17.7.8   # the handlers follow the service",
            "+      tag: &ledgerTag v17.7.0   # the handlers follow the service",
        ],
        "{diff}"
    );
    let shown = git(&bare, &["show", "-s", "--format=%s%n%b", &revert_branch]);
    assert!(shown.starts_with("Revert \"ml-operator: mojaloop/central-ledger v17.7.0 → v17.7.8 in hub\"\nThis reverts commit "), "{shown}");
    assert!(
        shown.contains(&format!("ML-Operator-Revert: {NS}/{UPGRADE}")),
        "{shown}"
    );
    let posts: Vec<ApiRequest> = api
        .lock()
        .unwrap()
        .iter()
        .filter(|r| r.method == "POST")
        .cloned()
        .collect();
    assert_eq!(posts.len(), 2, "one merge request each way: {posts:?}");
    assert_eq!(posts[1].body["source_branch"], revert_branch.as_str());
    assert!(
        posts[1].body["title"]
            .as_str()
            .unwrap()
            .starts_with("Revert ")
    );

    // The revert merged and synced: the group is rolled back, and says why.
    assert_eq!(hub.phase(), "Applying");
    git(&bare, &["update-ref", "refs/heads/main", &revert]);
    hub.sync("v17.7.0").await;
    hub.drive(&upgrader, "the rollback", |u| {
        u["status"]["phase"] == "RolledBack"
    })
    .await;
    let message = hub.upgrade()["status"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.starts_with(&format!(
            "rolled back by revert commit {}: the rollout of Deployment {SERVICE} failed",
            &revert[..12]
        )),
        "{message}"
    );
    assert_eq!(hub.patches(), 0, "no kubectl patch was ever sent");
    assert!(!hub.upgrade().to_string().contains(TOKEN));
    assert!(!logs.text().contains(TOKEN));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn without_a_pull_request_the_commit_goes_to_the_branch_and_an_unsynced_one_is_reverted() {
    let dir = tempfile::tempdir().unwrap();
    let bare = seed(dir.path());
    let server = GitServer::start(dir.path(), None).await;
    let hub = hub().await;
    let before = git(&bare, &["rev-parse", "main"]).trim().to_string();
    let git_yaml = format!(
        "git: {{url: '{}', branch: main, paths: [.]}}\n",
        server.url("example/hub-deploy.git"),
    );
    // A sync that never comes: the timeout is short, so the test does not wait on it.
    let upgrader = upgrader(&hub, &git_yaml, "1s");
    hub.propose().await;
    hub.drive(&upgrader, "the push", |u| {
        u["status"]["delivery"]["commit"].is_string()
    })
    .await;
    let commit = git(&bare, &["rev-parse", "main"]).trim().to_string();
    assert_ne!(commit, before);
    assert_eq!(
        git(&bare, &["rev-parse", "main~1"]).trim(),
        before,
        "one commit on main"
    );
    let status = hub.upgrade()["status"].clone();
    assert_eq!(status["delivery"]["commit"], commit.as_str());
    assert_eq!(status["delivery"]["branch"], "main");
    assert!(status["delivery"]["pullRequest"].is_null());
    assert_eq!(
        changed_lines(&git(&bare, &["diff", &before, &commit])),
        [
            "-      tag: &ledgerTag v17.7.0   # the handlers follow the service",
            "+      tag: &ledgerTag v17.7.8   # the handlers follow the service",
        ]
    );
    hub.drive(&upgrader, "the revert", |u| {
        u["status"]["delivery"]["revertCommit"].is_string()
    })
    .await;
    let revert = git(&bare, &["rev-parse", "main"]).trim().to_string();
    assert_eq!(git(&bare, &["rev-parse", "main~1"]).trim(), commit);
    assert_eq!(
        git(&bare, &["diff", &before, &revert]),
        "",
        "the revert restores the file"
    );
    let message = hub.upgrade()["status"]["message"]
        .as_str()
        .unwrap()
        .to_string();
    assert!(
        message.starts_with("rolling back: revert commit"),
        "{message}"
    );
    assert!(
        hub.upgrade()["status"]["rollout"]["rollbackReason"]
            .as_str()
            .unwrap()
            .starts_with(&format!(
                "commit {} was not synced within 1s",
                &commit[..12]
            ))
    );
    // Nothing was synced, so nothing has to come back: the group ends rolled back.
    hub.drive(&upgrader, "the end", |u| {
        u["status"]["phase"] == "RolledBack"
    })
    .await;
    assert_eq!(hub.patches(), 0);
}

#[test]
fn git_configuration_errors_exit_2_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let token = token_file(dir.path());
    let t = token.display();
    for (yaml, key) in [
        (
            format!(
                "git: {{url: 'https://h/a/b.git', paths: [v.yaml], tokenFile: {t}, sshKeyFile: {t}}}"
            ),
            "git.tokenFile and git.sshKeyFile",
        ),
        (
            "git: {paths: [v.yaml]}".to_string(),
            "upgrades.delivery: git needs git.url",
        ),
        (
            format!(
                "git: {{url: 'https://h/hub.git', paths: [v.yaml], tokenFile: {t}, pullRequest: {{provider: github}}}}"
            ),
            "git.url",
        ),
        ("git: {url: 'https://h/a/b.git'}".to_string(), "git.paths"),
    ] {
        let config = dir.path().join("config.yaml");
        std::fs::write(
            &config,
            format!("upgrades: {{enabled: true, delivery: git}}\n{yaml}\n"),
        )
        .unwrap();
        let output = Command::new(env!("CARGO_BIN_EXE_ml-operator"))
            .args(["run", "--config"])
            .arg(&config)
            .env_remove("ML_OPERATOR_LISTEN")
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(2), "{yaml}: {stderr}");
        assert!(stderr.contains(key), "{yaml}: {stderr}");
        assert!(!stderr.contains(TOKEN), "{stderr}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_push_is_said_on_the_upgrade_without_the_token_and_tried_again() {
    let (logs, _guard) = Logs::capture();
    let dir = tempfile::tempdir().unwrap();
    seed(dir.path());
    // The server wants another credential: git's clone is refused with 401.
    let server = GitServer::start(dir.path(), Some("Basic b3RoZXI6Y3JlZGVudGlhbA==".into())).await;
    let hub = hub().await;
    let git_yaml = format!(
        "git: {{url: '{}', paths: [values-mojaloop.yaml], tokenFile: {}}}\n",
        server.url("example/hub-deploy.git"),
        token_file(dir.path()).display(),
    );
    let upgrader = upgrader(&hub, &git_yaml, "10m");
    hub.propose().await;
    hub.drive(&upgrader, "the failure to be said", |u| {
        u["status"]["message"]
            .as_str()
            .is_some_and(|m| m.starts_with("git delivery failed, trying again: git clone failed"))
    })
    .await;
    // Said once; the next passes try again (and log it) without writing it again.
    let history = hub.upgrade()["status"]["history"].as_array().unwrap().len();
    for _ in 0..3 {
        upgrader.step_each(Utc::now()).await.unwrap();
    }
    assert_eq!(
        hub.upgrade()["status"]["history"].as_array().unwrap().len(),
        history
    );
    assert_eq!(hub.phase(), "Applying");
    assert!(hub.upgrade()["status"]["delivery"]["commit"].is_null());
    let requests = server.requests.lock().unwrap().clone();
    assert!(requests.len() >= 4, "tried again: {requests:?}");
    assert!(
        requests
            .iter()
            .all(|r| r.authorization.as_deref() == Some(basic("x-access-token").as_str()))
    );
    let object = hub.upgrade().to_string();
    assert!(!object.contains(TOKEN), "{object}");
    let logs = logs.text();
    assert!(logs.contains("git delivery: git clone failed"), "{logs}");
    assert!(!logs.contains(TOKEN), "{logs}");
    assert_eq!(hub.patches(), 0);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_branch_that_moved_meanwhile_gets_the_commit_on_its_new_head() {
    let dir = tempfile::tempdir().unwrap();
    let bare = seed(dir.path());
    let server = GitServer::start(dir.path(), None).await;
    // Someone else pushes to main between the operator's clone and its push.
    let other = dir.path().join("other");
    git(
        dir.path(),
        &["clone", "--quiet", bare.to_str().unwrap(), "other"],
    );
    std::fs::write(
        other.join("README.md"),
        "The hub's Argo CD source; reviewed.\n",
    )
    .unwrap();
    git(&other, &["commit", "--quiet", "-am", "readme"]);
    let push_other = other.clone();
    *server.before_push.lock().unwrap() = Some(Box::new(move || {
        git(&push_other, &["push", "--quiet", "origin", "main"]);
    }));
    let hub = hub().await;
    let before = git(&bare, &["rev-parse", "main"]).trim().to_string();
    let git_yaml = format!(
        "git: {{url: '{}', paths: [values-mojaloop.yaml]}}\n",
        server.url("example/hub-deploy.git"),
    );
    let upgrader = upgrader(&hub, &git_yaml, "10m");
    hub.propose().await;
    hub.drive(&upgrader, "the push", |u| {
        u["status"]["delivery"]["commit"].is_string()
    })
    .await;
    let commit = git(&bare, &["rev-parse", "main"]).trim().to_string();
    assert_eq!(
        hub.upgrade()["status"]["delivery"]["commit"],
        commit.as_str()
    );
    let log = git(&bare, &["log", "--format=%s", &format!("{before}..main")]);
    assert_eq!(
        log.lines().collect::<Vec<_>>(),
        [
            "ml-operator: mojaloop/central-ledger v17.7.0 → v17.7.8 in hub",
            "readme"
        ],
        "the other push kept, ours on top"
    );
    assert!(
        server.before_push.lock().unwrap().is_none(),
        "the other push happened"
    );
    let history = hub.upgrade()["status"]["history"].to_string();
    assert!(
        !history.contains("git delivery failed"),
        "committed again within the same delivery, not on a later pass: {history}"
    );
    assert_eq!(
        changed_lines(&git(&bare, &["diff", "main~1", "main"])),
        [
            "-      tag: &ledgerTag v17.7.0   # the handlers follow the service",
            "+      tag: &ledgerTag v17.7.8   # the handlers follow the service",
        ]
    );
}

/// `sshd` on loopback for one test: the operator's key authorized, its host key in a
/// known_hosts file of the test's own; stopped when dropped.
struct Sshd {
    child: std::process::Child,
    port: u16,
}

impl Drop for Sshd {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn keygen(path: &Path) {
    let output = Command::new("ssh-keygen")
        .args(["-q", "-t", "ed25519", "-N", "", "-C", "test", "-f"])
        .arg(path)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
}

impl Sshd {
    /// Starts sshd on a free loopback port; `client` is the key allowed in; writes
    /// `known_hosts` with the server's host key.
    async fn start(dir: &Path, client: &Path, known_hosts: &Path) -> Sshd {
        keygen(&dir.join("host"));
        std::fs::copy(client.with_extension("pub"), dir.join("authorized_keys")).unwrap();
        // sshd insists on its privilege separation directory.
        std::fs::create_dir_all("/run/sshd").unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let config = dir.join("sshd_config");
        std::fs::write(
            &config,
            format!(
                "Port {port}\nListenAddress 127.0.0.1\nHostKey {host}\nAuthorizedKeysFile {keys}\nPidFile {pid}\n\
                 PasswordAuthentication no\nKbdInteractiveAuthentication no\nPubkeyAuthentication yes\n\
                 PermitRootLogin prohibit-password\nStrictModes no\nUsePAM no\n",
                host = dir.join("host").display(),
                keys = dir.join("authorized_keys").display(),
                pid = dir.join("sshd.pid").display(),
            ),
        )
        .unwrap();
        let host_key = std::fs::read_to_string(dir.join("host.pub")).unwrap();
        let mut parts = host_key.split_whitespace();
        let (kind, key) = (parts.next().unwrap(), parts.next().unwrap());
        std::fs::write(known_hosts, format!("[127.0.0.1]:{port} {kind} {key}\n")).unwrap();
        let child = Command::new("/usr/sbin/sshd")
            .args(["-D", "-e", "-f"])
            .arg(&config)
            .stderr(std::fs::File::create(dir.join("sshd.log")).unwrap())
            .spawn()
            .expect("sshd (Debian's openssh-server, scripts/install-test-deps)");
        let sshd = Sshd { child, port };
        eventually_or(
            "sshd to listen",
            Duration::from_secs(20),
            async || {
                tokio::net::TcpStream::connect(("127.0.0.1", port))
                    .await
                    .is_ok()
            },
            || std::fs::read_to_string(dir.join("sshd.log")).unwrap_or_default(),
        )
        .await;
        sshd
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn over_ssh_the_commit_is_pushed_with_the_key_and_the_host_checked() {
    let dir = tempfile::tempdir().unwrap();
    let bare = seed(dir.path());
    let ssh_dir = dir.path().join("ssh");
    std::fs::create_dir_all(&ssh_dir).unwrap();
    let key = ssh_dir.join("operator-key");
    keygen(&key);
    let known_hosts = ssh_dir.join("known_hosts");
    let sshd = Sshd::start(&ssh_dir, &key, &known_hosts).await;
    let user = String::from_utf8(Command::new("id").arg("-un").output().unwrap().stdout)
        .unwrap()
        .trim()
        .to_string();
    let hub = hub().await;
    let before = git(&bare, &["rev-parse", "main"]).trim().to_string();
    let git_yaml = format!(
        "git: {{url: 'ssh://{user}@127.0.0.1:{}{}', paths: [values-mojaloop.yaml], sshKeyFile: {}, knownHostsFile: {}}}\n",
        sshd.port,
        bare.display(),
        key.display(),
        known_hosts.display()
    );
    let upgrader = upgrader(&hub, &git_yaml, "10m");
    hub.propose().await;
    hub.drive(&upgrader, "the push over ssh", |u| {
        u["status"]["delivery"]["commit"].is_string()
    })
    .await;
    let commit = git(&bare, &["rev-parse", "main"]).trim().to_string();
    assert_eq!(
        hub.upgrade()["status"]["delivery"]["commit"],
        commit.as_str()
    );
    assert_eq!(
        changed_lines(&git(&bare, &["diff", &before, &commit])),
        [
            "-      tag: &ledgerTag v17.7.0   # the handlers follow the service",
            "+      tag: &ledgerTag v17.7.8   # the handlers follow the service",
        ]
    );

    // A host key that is not the one in known_hosts: refused, nothing pushed.
    std::fs::write(
        &known_hosts,
        format!(
            "[127.0.0.1]:{} {}",
            sshd.port,
            std::fs::read_to_string(key.with_extension("pub")).unwrap()
        ),
    )
    .unwrap();
    let config = ml_operator::config::Config::parse(&git_yaml, "c.yaml").unwrap();
    let settings = GitSettings::from_config(&config.git).unwrap().unwrap();
    let repository = GitRepository::new(settings).unwrap();
    let change = ml_operator::deliver::git::Change {
        marker: "ML-Operator-Upgrade: hub/other".into(),
        branch: "ml-operator/other".into(),
        subject: "other".into(),
        body: "other".into(),
        moves: vec![],
    };
    let err = repository.deliver(&change).await.unwrap_err().to_string();
    assert!(err.contains("Host key verification failed"), "{err}");
    assert_eq!(git(&bare, &["rev-parse", "main"]).trim(), commit);
}
