//! The HTTP ceiling for scripts/perf/side-by-side.sh: a hyper 1.x server configured like
//! concert-queue's (HTTP/1.1 keep-alive, TCP_NODELAY, the same TOKIO_RUNTIME switch) that
//! reads each request body and answers a fixed small JSON, 201 to a POST, 200 otherwise.
//! It does no other work, so the load tool against it measures HTTP and the generator alone.
//!
//!   cargo run --release --example hello_server -- 127.0.0.1:18090 [lifetime_secs]
//!
//! It exits by itself after its lifetime (default 600 s).

use std::convert::Infallible;
use std::time::Duration;

use anyhow::Context;
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::header::{HeaderValue, CONTENT_TYPE};
use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper::{Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;

const BODY: &str = r#"{"token":"hello","concertId":1,"userId":1,"status":"ACTIVE"}"#;

async fn answer(req: Request<hyper::body::Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let status = if req.method() == Method::POST {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    let _ = req.into_body().collect().await;
    let mut response = Response::new(Full::new(Bytes::from_static(BODY.as_bytes())));
    *response.status_mut() = status;
    response
        .headers_mut()
        .insert(CONTENT_TYPE, HeaderValue::from_static("application/json"));
    Ok(response)
}

async fn serve(addr: &str, lifetime: Duration) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(addr)
        .await
        .with_context(|| format!("binding {addr}"))?;
    eprintln!("hello_server on {}", listener.local_addr()?);
    let accept_loop = async {
        loop {
            let (stream, _) = listener.accept().await.context("accepting")?;
            let _ = stream.set_nodelay(true);
            tokio::spawn(async move {
                let _ = http1::Builder::new()
                    .keep_alive(true)
                    .serve_connection(TokioIo::new(stream), service_fn(answer))
                    .await;
            });
        }
    };
    tokio::select! {
        result = accept_loop => result,
        _ = tokio::time::sleep(lifetime) => Ok(()),
    }
}

fn main() -> anyhow::Result<()> {
    let mut args = std::env::args().skip(1);
    let addr = args.next().unwrap_or_else(|| "127.0.0.1:18090".into());
    let lifetime: u64 = args
        .next()
        .map(|s| s.parse().context("lifetime_secs must be a whole number"))
        .transpose()?
        .unwrap_or(600);
    concert_queue::runtime::from_env()?.block_on(serve(&addr, Duration::from_secs(lifetime)))
}
