//! The dashboard (`GET /`, with `api.enabled`): one HTML page, its script and its style sheet,
//! embedded in the binary (`src/operator/dashboard/`), no build step and no external assets.
//!
//! The page carries no data: its script reads `/api/v1/findings` and `/api/v1/upgrades` and
//! calls the decision endpoints with the token the user pastes (kept in the tab's
//! `sessionStorage`, sent as `Authorization: Bearer`), so it goes through the admin API's
//! checks ([`super::admin_api`]) like any other client. The only thing rendered by the server
//! is whether anonymous reads are on (the page then loads without a token). Every answer is
//! sent with a strict `Content-Security-Policy` (scripts, styles and requests to this origin
//! only, nothing inline, no frames, no forms to elsewhere), `X-Content-Type-Options: nosniff`,
//! `X-Frame-Options: DENY`, `Referrer-Policy: no-referrer` and `Cache-Control: no-store`.

use axum::Router;
use axum::http::{HeaderName, HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;

/// The page's Content-Security-Policy: everything from this origin only, nothing inline.
pub const CONTENT_SECURITY_POLICY: &str = "default-src 'none'; script-src 'self'; \
     style-src 'self'; connect-src 'self'; img-src 'self'; base-uri 'none'; \
     form-action 'none'; frame-ancestors 'none'";

const PAGE: &str = include_str!("dashboard/index.html");
const SCRIPT: &str = include_str!("dashboard/dashboard.js");
const STYLE: &str = include_str!("dashboard/dashboard.css");

/// The dashboard's routes: `/` (also `/index.html`), `/dashboard.js`, `/dashboard.css`, and
/// an empty `/favicon.ico` (so the browser's own request does not end in a 404).
pub fn routes(anonymous_read: bool) -> Router {
    let page = PAGE.replace(
        "ANONYMOUS_READ",
        if anonymous_read { "true" } else { "false" },
    );
    let page = move || {
        let page = page.clone();
        async move { asset("text/html; charset=utf-8", page) }
    };
    Router::new()
        .route("/", get(page.clone()))
        .route("/index.html", get(page))
        .route(
            "/dashboard.js",
            get(|| async { asset("text/javascript; charset=utf-8", SCRIPT.to_string()) }),
        )
        .route(
            "/dashboard.css",
            get(|| async { asset("text/css; charset=utf-8", STYLE.to_string()) }),
        )
        .route(
            "/favicon.ico",
            get(|| async { with_headers(StatusCode::NO_CONTENT.into_response()) }),
        )
}

fn asset(content_type: &'static str, body: String) -> Response {
    with_headers(([(header::CONTENT_TYPE, content_type)], body).into_response())
}

/// The security headers every dashboard answer carries.
fn with_headers(mut response: Response) -> Response {
    let headers = response.headers_mut();
    let set: [(HeaderName, &'static str); 6] = [
        (header::CONTENT_SECURITY_POLICY, CONTENT_SECURITY_POLICY),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
        (header::X_FRAME_OPTIONS, "DENY"),
        (header::REFERRER_POLICY, "no-referrer"),
        (header::CACHE_CONTROL, "no-store"),
        (
            HeaderName::from_static("cross-origin-opener-policy"),
            "same-origin",
        ),
    ];
    for (name, value) in set {
        headers.insert(name, HeaderValue::from_static(value));
    }
    response
}

#[cfg(test)]
mod tests {
    use super::*;
    use tower::ServiceExt as _;

    async fn get(path: &str, anonymous_read: bool) -> Response {
        routes(anonymous_read)
            .oneshot(
                axum::http::Request::get(path)
                    .body(axum::body::Body::empty())
                    .unwrap(),
            )
            .await
            .unwrap()
    }

    async fn body(response: Response) -> String {
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20)
            .await
            .unwrap();
        String::from_utf8(bytes.to_vec()).unwrap()
    }

    #[tokio::test]
    async fn every_answer_carries_the_security_headers() {
        for path in [
            "/",
            "/index.html",
            "/dashboard.js",
            "/dashboard.css",
            "/favicon.ico",
        ] {
            let response = get(path, false).await;
            assert!(response.status().is_success(), "{path}");
            let h = response.headers();
            assert_eq!(
                h["content-security-policy"], CONTENT_SECURITY_POLICY,
                "{path}"
            );
            assert_eq!(h["x-content-type-options"], "nosniff");
            assert_eq!(h["x-frame-options"], "DENY");
            assert_eq!(h["referrer-policy"], "no-referrer");
            assert!(h.get("access-control-allow-origin").is_none());
        }
        assert_eq!(get("/nothing", false).await.status(), StatusCode::NOT_FOUND);
    }

    #[tokio::test]
    async fn the_page_has_no_inline_code_and_no_data() {
        let page = body(get("/", false).await).await;
        assert!(page.contains(r#"<script src="dashboard.js" defer></script>"#));
        assert!(page.contains(r#"data-anonymous-read="false""#));
        assert!(!page.contains("<style"), "no inline style");
        assert!(!page.contains(" style="), "no inline style attribute");
        let handler = page.split(" on").skip(1).any(|rest| {
            let name: String = rest.chars().take_while(char::is_ascii_alphabetic).collect();
            !name.is_empty() && rest[name.len()..].starts_with('=')
        });
        assert!(!handler, "no inline event handler");
        assert!(
            !page.contains("http://") && !page.contains("https://"),
            "no external asset"
        );
        let open = body(get("/", true).await).await;
        assert!(open.contains(r#"data-anonymous-read="true""#));
    }

    #[test]
    fn the_script_never_parses_api_strings_as_html() {
        for sink in [
            "innerHTML",
            "outerHTML",
            "insertAdjacentHTML",
            "document.write",
            "eval(",
        ] {
            assert!(!SCRIPT.contains(sink), "dashboard.js uses {sink}");
        }
        // Requests go to this origin, relative to the page (kubectl port-forward, proxies).
        assert!(!SCRIPT.contains("fetch(\"/") && !SCRIPT.contains("://"));
    }
}
