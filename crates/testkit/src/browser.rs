//! Headless Chromium (Debian's `chromium`, `scripts/install-test-deps`) driven over the Chrome
//! DevTools Protocol, for tests of the operator's dashboard.
//!
//! [`Browser::launch`] starts `chromium --headless=new --remote-debugging-port=0` with a
//! temporary profile and reads the `DevTools listening on ws://…` line from its stderr;
//! [`Browser::new_page`] opens a tab (`Target.createTarget`) and connects to its own WebSocket.
//! A [`Page`] records every console error (`Runtime.consoleAPICalled` of level error,
//! `Runtime.exceptionThrown`, `Log.entryAdded` of level error) and every Content-Security-Policy
//! violation (a `securitypolicyviolation` listener installed before any page script), runs
//! expressions, waits for conditions (polling, bounded) and takes screenshots. Every wait is
//! bounded; the browser is killed when the [`Browser`] is dropped.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use base64::Engine as _;
use futures::{SinkExt as _, StreamExt as _};
use serde_json::{Value, json};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::{MaybeTlsStream, WebSocketStream};

/// How long Chromium may take to start listening.
const START_LIMIT: Duration = Duration::from_secs(60);
/// How long one DevTools call may take.
const CALL_LIMIT: Duration = Duration::from_secs(30);

/// What went wrong driving the browser: the step and why, with the browser's own words.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
pub struct BrowserError(pub String);

fn fail(what: impl Into<String>) -> BrowserError {
    BrowserError(what.into())
}

/// The Chromium binary: `$ML_OPERATOR_CHROMIUM`, else `chromium` on PATH (Debian's package).
pub fn binary() -> Option<std::path::PathBuf> {
    if let Some(path) = std::env::var_os("ML_OPERATOR_CHROMIUM") {
        return Some(path.into());
    }
    let path = std::env::var_os("PATH")?;
    std::env::split_paths(&path)
        .map(|dir| dir.join("chromium"))
        .find(|candidate| candidate.is_file())
}

/// A running headless Chromium, killed on drop.
pub struct Browser {
    child: Child,
    port: u16,
    stderr: Arc<Mutex<Vec<String>>>,
    _profile: tempfile::TempDir,
}

impl Browser {
    /// Starts Chromium with a fresh profile and waits (bounded, blocking the calling thread)
    /// until DevTools listens.
    pub fn launch() -> Result<Browser, BrowserError> {
        let binary = binary().ok_or_else(|| {
            fail("chromium is not installed (scripts/install-test-deps installs it)")
        })?;
        let profile = tempfile::tempdir().map_err(|e| fail(format!("profile dir: {e}")))?;
        let mut child = Command::new(&binary)
            .args([
                "--headless=new",
                "--no-sandbox",
                "--disable-gpu",
                "--disable-dev-shm-usage",
                "--no-first-run",
                "--no-default-browser-check",
                "--disable-extensions",
                "--disable-background-networking",
                "--disable-component-update",
                "--disable-sync",
                "--metrics-recording-only",
                "--hide-scrollbars",
                "--remote-debugging-address=127.0.0.1",
                "--remote-debugging-port=0",
                "--window-size=1280,800",
            ])
            .arg(format!("--user-data-dir={}", profile.path().display()))
            .arg("about:blank")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| fail(format!("starting {}: {e}", binary.display())))?;
        let stderr = child.stderr.take().expect("piped");
        let lines = Arc::new(Mutex::new(Vec::new()));
        let (found, listening) = std::sync::mpsc::channel::<String>();
        {
            let lines = lines.clone();
            // Drains stderr for the browser's whole life (a full pipe would stall it).
            std::thread::spawn(move || {
                for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                    if let Some(at) = line.find("DevTools listening on ") {
                        let _ = found.send(line[at + "DevTools listening on ".len()..].into());
                    }
                    let mut lines = lines.lock().unwrap_or_else(|e| e.into_inner());
                    if lines.len() < 1000 {
                        lines.push(line);
                    }
                }
            });
        }
        let mut browser = Browser {
            child,
            port: 0,
            stderr: lines,
            _profile: profile,
        };
        let url = listening.recv_timeout(START_LIMIT).map_err(|_| {
            fail(format!(
                "chromium did not print \"DevTools listening on\" within {}s: {}",
                START_LIMIT.as_secs(),
                browser.stderr().join("\n")
            ))
        })?;
        let port = url::Url::parse(url.trim())
            .ok()
            .and_then(|u| u.port())
            .ok_or_else(|| fail(format!("not a DevTools URL: {url}")))?;
        browser.port = port;
        Ok(browser)
    }

    /// What Chromium printed on stderr so far (for failure messages).
    pub fn stderr(&self) -> Vec<String> {
        self.stderr
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
    }

    /// Opens a new tab of `width`×`height` CSS pixels on about:blank, recording problems.
    pub async fn new_page(&self, width: u32, height: u32) -> Result<Page, BrowserError> {
        let version = format!("http://127.0.0.1:{}/json/version", self.port);
        // reqwest is built without a default crypto provider in this workspace.
        let _ = rustls::crypto::ring::default_provider().install_default();
        let info: Value = tokio::time::timeout(CALL_LIMIT, async {
            reqwest::get(&version).await?.json().await
        })
        .await
        .map_err(|_| fail(format!("{version}: no answer")))?
        .map_err(|e| fail(format!("{version}: {e}")))?;
        let browser_ws = info["webSocketDebuggerUrl"]
            .as_str()
            .ok_or_else(|| fail(format!("{version}: no webSocketDebuggerUrl: {info}")))?;
        let mut control = Connection::open(browser_ws).await?;
        let target = control
            .call("Target.createTarget", json!({"url": "about:blank"}))
            .await?;
        let id = target["targetId"]
            .as_str()
            .ok_or_else(|| fail(format!("Target.createTarget: {target}")))?;
        let page_ws = format!("ws://127.0.0.1:{}/devtools/page/{id}", self.port);
        let mut page = Page {
            connection: Connection::open(&page_ws).await?,
        };
        page.call("Runtime.enable", json!({})).await?;
        page.call("Log.enable", json!({})).await?;
        page.call("Page.enable", json!({})).await?;
        page.call(
            "Emulation.setDeviceMetricsOverride",
            json!({"width": width, "height": height, "deviceScaleFactor": 1, "mobile": false}),
        )
        .await?;
        // Runs before any script of every document: CSP violations become problems too.
        page.call(
            "Page.addScriptToEvaluateOnNewDocument",
            json!({"source": "document.addEventListener('securitypolicyviolation', e => \
                console.error('CSP violation: ' + e.violatedDirective + ' blocked ' + e.blockedURI));"}),
        )
        .await?;
        Ok(page)
    }
}

impl Drop for Browser {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// One DevTools WebSocket: numbered calls, events kept as problems when they are errors.
struct Connection {
    socket: WebSocketStream<MaybeTlsStream<TcpStream>>,
    next_id: u64,
    problems: Vec<String>,
}

impl Connection {
    async fn open(url: &str) -> Result<Connection, BrowserError> {
        let (socket, _) = tokio::time::timeout(CALL_LIMIT, tokio_tungstenite::connect_async(url))
            .await
            .map_err(|_| fail(format!("{url}: no WebSocket within {CALL_LIMIT:?}")))?
            .map_err(|e| fail(format!("{url}: {e}")))?;
        Ok(Connection {
            socket,
            next_id: 0,
            problems: Vec::new(),
        })
    }

    /// Sends `method` and waits (bounded) for its answer, recording events meanwhile.
    async fn call(&mut self, method: &str, params: Value) -> Result<Value, BrowserError> {
        self.next_id += 1;
        let id = self.next_id;
        let request = json!({"id": id, "method": method, "params": params}).to_string();
        self.socket
            .send(Message::text(request))
            .await
            .map_err(|e| fail(format!("{method}: {e}")))?;
        let deadline = tokio::time::Instant::now() + CALL_LIMIT;
        loop {
            let message = tokio::time::timeout_at(deadline, self.socket.next())
                .await
                .map_err(|_| fail(format!("{method}: no answer within {CALL_LIMIT:?}")))?
                .ok_or_else(|| fail(format!("{method}: the browser closed the connection")))?
                .map_err(|e| fail(format!("{method}: {e}")))?;
            let Message::Text(text) = message else {
                continue;
            };
            let message: Value = serde_json::from_str(&text)
                .map_err(|e| fail(format!("{method}: not JSON: {e}")))?;
            if message["id"].as_u64() == Some(id) {
                if let Some(error) = message.get("error") {
                    return Err(fail(format!("{method}: {error}")));
                }
                return Ok(message["result"].clone());
            }
            if let Some(problem) = problem(&message) {
                self.problems.push(problem);
            }
        }
    }
}

/// The console error an event reports, if it reports one.
fn problem(event: &Value) -> Option<String> {
    let params = &event["params"];
    match event["method"].as_str()? {
        "Runtime.consoleAPICalled" if params["type"] == "error" => {
            let args: Vec<String> = params["args"]
                .as_array()
                .into_iter()
                .flatten()
                .map(|a| {
                    a["value"]
                        .as_str()
                        .map(str::to_string)
                        .unwrap_or_else(|| a["description"].to_string())
                })
                .collect();
            Some(format!("console.error: {}", args.join(" ")))
        }
        "Runtime.exceptionThrown" => {
            let details = &params["exceptionDetails"];
            Some(format!(
                "exception: {} {}",
                details["text"].as_str().unwrap_or_default(),
                details["exception"]["description"]
                    .as_str()
                    .unwrap_or_default()
            ))
        }
        "Log.entryAdded" if params["entry"]["level"] == "error" => Some(format!(
            "log ({}): {} {}",
            params["entry"]["source"].as_str().unwrap_or_default(),
            params["entry"]["text"].as_str().unwrap_or_default(),
            params["entry"]["url"].as_str().unwrap_or_default()
        )),
        _ => None,
    }
}

/// A browser tab.
pub struct Page {
    connection: Connection,
}

impl Page {
    /// A raw DevTools call on this tab.
    pub async fn call(&mut self, method: &str, params: Value) -> Result<Value, BrowserError> {
        self.connection.call(method, params).await
    }

    /// Navigates to `url` and waits (bounded) until the document has loaded.
    pub async fn navigate(&mut self, url: &str) -> Result<(), BrowserError> {
        let answer = self.call("Page.navigate", json!({"url": url})).await?;
        if let Some(error) = answer["errorText"].as_str() {
            return Err(fail(format!("{url}: {error}")));
        }
        self.wait_for("document.readyState === 'complete'", CALL_LIMIT)
            .await
            .map(drop)
    }

    /// Evaluates `expression` in the page (promises awaited) and returns its value.
    pub async fn evaluate(&mut self, expression: &str) -> Result<Value, BrowserError> {
        let answer = self
            .call(
                "Runtime.evaluate",
                json!({"expression": expression, "returnByValue": true, "awaitPromise": true,
                       "userGesture": true}),
            )
            .await?;
        if let Some(details) = answer.get("exceptionDetails") {
            return Err(fail(format!("{expression}: {details}")));
        }
        Ok(answer["result"]["value"].clone())
    }

    /// Polls `expression` until it is truthy (not false, null, 0 or ""), for at most `limit`;
    /// returns its value.
    pub async fn wait_for(
        &mut self,
        expression: &str,
        limit: Duration,
    ) -> Result<Value, BrowserError> {
        let deadline = Instant::now() + limit;
        loop {
            let value = self.evaluate(expression).await?;
            let truthy = match &value {
                Value::Null => false,
                Value::Bool(b) => *b,
                Value::Number(n) => n.as_f64() != Some(0.0),
                Value::String(s) => !s.is_empty(),
                _ => true,
            };
            if truthy {
                return Ok(value);
            }
            if Instant::now() >= deadline {
                return Err(fail(format!(
                    "still false after {limit:?}: {expression} (problems: {:?})",
                    self.connection.problems
                )));
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// The console errors, exceptions and CSP violations seen so far (events are read while
    /// calls are answered: call something first to see the latest).
    pub fn problems(&self) -> &[String] {
        &self.connection.problems
    }

    /// Forgets the problems seen so far.
    pub fn clear_problems(&mut self) {
        self.connection.problems.clear();
    }

    /// Saves a PNG of the viewport to `path`.
    pub async fn screenshot(&mut self, path: &Path) -> Result<(), BrowserError> {
        let shot = self
            .call(
                "Page.captureScreenshot",
                json!({"format": "png", "captureBeyondViewport": false}),
            )
            .await?;
        let data = shot["data"]
            .as_str()
            .ok_or_else(|| fail("Page.captureScreenshot: no data"))?;
        let png = base64::engine::general_purpose::STANDARD
            .decode(data)
            .map_err(|e| fail(format!("Page.captureScreenshot: {e}")))?;
        std::fs::write(path, png).map_err(|e| fail(format!("{}: {e}", path.display())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The driver itself, on a page of its own: console errors, exceptions and a CSP violation
    /// are seen; a clean page has none.
    #[tokio::test]
    async fn sees_console_errors_exceptions_and_csp_violations() {
        if binary().is_none() {
            eprintln!("skipped: chromium is not installed (scripts/install-test-deps)");
            return;
        }
        let browser = Browser::launch().unwrap();
        let mut page = browser.new_page(800, 600).await.unwrap();
        page.navigate("about:blank").await.unwrap();
        assert_eq!(page.evaluate("1 + 1").await.unwrap(), json!(2));
        assert!(page.problems().is_empty(), "{:?}", page.problems());
        // A page whose CSP forbids inline scripts, trying one.
        let html = "<meta http-equiv=\"Content-Security-Policy\" content=\"script-src 'none'\">\
                    <p id=x>hi</p><script>console.log('ran')</script>";
        let url = format!(
            "data:text/html;base64,{}",
            base64::engine::general_purpose::STANDARD.encode(html)
        );
        page.navigate(&url).await.unwrap();
        page.evaluate("console.error('boom')").await.unwrap();
        page.evaluate("setTimeout(() => { throw new Error('thrown') }, 0)")
            .await
            .unwrap();
        page.wait_for(
            "new Promise(r => setTimeout(() => r(true), 50))",
            CALL_LIMIT,
        )
        .await
        .unwrap();
        let problems = page.problems().join("\n");
        assert!(problems.contains("console.error: boom"), "{problems}");
        assert!(problems.contains("thrown"), "{problems}");
        assert!(problems.contains("CSP violation: script-src"), "{problems}");
        let dir = tempfile::tempdir().unwrap();
        let png = dir.path().join("shot.png");
        page.screenshot(&png).await.unwrap();
        assert!(std::fs::read(&png).unwrap().starts_with(b"\x89PNG"));
    }
}
