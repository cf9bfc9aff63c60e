//! The Kubernetes client: kube's default stack (`Client::try_from(Config)`), assembled here so
//! that each connection's read buffer has a bound.
//!
//! In: a [`Config`]. Out: a [`Client`] with the same connector (rustls, the connect, read and
//! write timeouts), base URI, retries, authentication and extra headers as kube's own, and
//! hyper's per-connection read buffer capped at [`READ_BUFFER_MAX`].
//!
//! Why: hyper grows a connection's read buffer while it reads a big response (a page of 250
//! Pods is 1–3 MB) up to about 400 KiB, and keeps it as long as the connection lives; the
//! operator's watches then reuse the connections its initial lists read, for hours. Capped, a
//! page is read in more, smaller reads and a watch keeps a small buffer.

use hyper_timeout::TimeoutConnector;
use hyper_util::client::legacy::connect::HttpConnector;
use hyper_util::rt::TokioExecutor;
use kube::client::retry::RetryPolicy;
use kube::client::{Body, ClientBuilder, ConfigExt};
use kube::{Client, Config};
use tower::retry::RetryLayer;
use tower::{BoxError, ServiceBuilder};
use tower_http::trace::TraceLayer;

/// The most a connection's read buffer grows to, in bytes (hyper's default is 400 KiB; its
/// least is 8 KiB). Four TLS records' worth: large reads stay large.
pub const READ_BUFFER_MAX: usize = 64 * 1024;

/// A client for `config`, as kube builds it, with the read buffer bound. A proxy in the
/// kubeconfig (`proxy-url`) is left to kube, which refuses it: this build has no proxy support.
pub fn client(config: Config) -> Result<Client, kube::Error> {
    if config.proxy_url.is_some() {
        return Client::try_from(config);
    }
    let mut http = HttpConnector::new();
    http.enforce_http(false);
    let mut connector = TimeoutConnector::new(config.rustls_https_connector_with_connector(http)?);
    connector.set_connect_timeout(config.connect_timeout);
    connector.set_read_timeout(config.read_timeout);
    connector.set_write_timeout(config.write_timeout);
    connector.set_reset_reader_on_write(config.reset_reader_on_write);
    let http = hyper_util::client::legacy::Builder::new(TokioExecutor::new())
        .http1_max_buf_size(READ_BUFFER_MAX)
        .build::<_, Body>(connector);
    let service = ServiceBuilder::new()
        .layer(config.base_uri_layer())
        .option_layer(
            config
                .default_retry
                .then(|| RetryLayer::new(RetryPolicy::server_retry())),
        )
        .option_layer(config.auth_layer()?)
        .layer(config.extra_headers_layer()?)
        .layer(TraceLayer::new_for_http())
        .map_err(BoxError::from)
        .service(http);
    Ok(ClientBuilder::new(service, config.default_namespace).build())
}

#[cfg(test)]
mod tests {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::TcpListener;

    use super::*;

    /// A server that answers one request with `body` and hands back the request's head.
    async fn serve_once(body: Vec<u8>) -> (String, tokio::task::JoinHandle<String>) {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}", listener.local_addr().unwrap());
        let server = tokio::spawn(async move {
            let (mut stream, _) = listener.accept().await.unwrap();
            let mut head = Vec::new();
            while !head.ends_with(b"\r\n\r\n") {
                head.push(stream.read_u8().await.unwrap());
            }
            let reply = format!(
                "HTTP/1.1 200 OK\r\ncontent-type: application/json\r\ncontent-length: {}\r\n\r\n",
                body.len()
            );
            stream.write_all(reply.as_bytes()).await.unwrap();
            stream.write_all(&body).await.unwrap();
            String::from_utf8(head).unwrap()
        });
        (url, server)
    }

    #[tokio::test]
    async fn a_response_many_times_the_read_buffer_arrives_whole_with_the_token_sent() {
        let body = format!("\"{}\"", "0123456789abcdef".repeat(3 << 16)).into_bytes();
        assert!(body.len() > 40 * READ_BUFFER_MAX);
        let (url, server) = serve_once(body.clone()).await;
        let mut config = Config::new(url.parse().unwrap());
        config.auth_info.token = Some("the-token".to_string().into());
        let client = client(config).unwrap();
        let request = axum::http::Request::get("/api/v1/pods")
            .body(Vec::new())
            .unwrap();
        let text = client.request_text(request).await.unwrap();
        assert_eq!(text.len(), body.len());
        assert!(text.as_bytes() == body.as_slice());
        let head = server.await.unwrap().to_ascii_lowercase();
        assert!(head.starts_with("get /api/v1/pods http/1.1\r\n"), "{head}");
        assert!(
            head.contains("\r\nauthorization: bearer the-token\r\n"),
            "{head}"
        );
    }

    #[test]
    fn a_proxy_in_the_kubeconfig_is_refused_naming_the_missing_support() {
        let mut config = Config::new("https://10.0.0.1:6443".parse().unwrap());
        config.proxy_url = Some("http://proxy.internal:3128".parse().unwrap());
        let Err(error) = client(config) else {
            panic!("a client with a proxy")
        };
        let error = error.to_string();
        assert!(error.contains("proxy.internal:3128"), "{error}");
        assert!(error.contains("http-proxy"), "{error}");
    }
}
