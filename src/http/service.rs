//! What every request goes through around the router: its request id (`X-Request-Id`
//! taken from the request or made, and echoed), CORS for the origins
//! `CORS_ALLOWED_ORIGINS` names (preflights are answered here), then the request's
//! metrics and one access-log line, in a span that carries the request id.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use hyper::body::Incoming;
use hyper::header::{HeaderName, HeaderValue};
use hyper::{Method, Request, Response};
use tower::{ServiceBuilder, ServiceExt};
use tower_http::cors::{AllowOrigin, CorsLayer};
use tracing::Instrument;

use super::connection::RequestClock;
use super::response::Body;
use crate::app::App;
use crate::limits::PeerAddr;

/// The route a response answered, put in its extensions by the router for the metrics
/// and the access log (a fixed label, never the raw path).
#[derive(Clone, Copy, Debug)]
pub struct RouteLabel(pub &'static str);

/// When the whole request must have arrived (its first byte plus
/// `REQUEST_READ_TIMEOUT_SECS`), put in its extensions for the body reader.
#[derive(Clone, Copy, Debug)]
pub struct ReadDeadline(pub tokio::time::Instant);

/// Request headers a browser on an allowed origin may send.
const CORS_REQUEST_HEADERS: [&str; 4] = [
    "authorization",
    "content-type",
    "idempotency-key",
    "x-request-id",
];
/// Response headers a script on an allowed origin may read.
const CORS_EXPOSED_HEADERS: [&str; 2] = ["retry-after", "x-request-id"];
/// How long a browser may cache a preflight's answer.
const CORS_MAX_AGE: Duration = Duration::from_secs(600);

/// The CORS policy for `CORS_ALLOWED_ORIGINS`: `None` when it names no origin (the
/// default: browsers on other origins get no access); `*` allows any origin.
pub fn cors_policy(allowed: &str) -> anyhow::Result<Option<CorsLayer>> {
    let origins: Vec<&str> = allowed
        .split(',')
        .map(str::trim)
        .filter(|o| !o.is_empty())
        .collect();
    if origins.is_empty() {
        return Ok(None);
    }
    let allow_origin = if origins == ["*"] {
        AllowOrigin::any()
    } else {
        let mut values = Vec::with_capacity(origins.len());
        for origin in origins {
            let parsed: hyper::Uri = origin.parse().map_err(|_| {
                anyhow::anyhow!("CORS_ALLOWED_ORIGINS: {origin:?} is not an origin")
            })?;
            let plain = matches!(parsed.scheme_str(), Some("http") | Some("https"))
                && parsed.host().is_some()
                && parsed.path_and_query().is_none_or(|p| p.as_str() == "/")
                && !origin.ends_with('/');
            if !plain || origin == "*" {
                anyhow::bail!(
                    "CORS_ALLOWED_ORIGINS: {origin:?} is not an origin like https://tickets.example (or a lone *)"
                );
            }
            values.push(HeaderValue::from_str(origin)?);
        }
        AllowOrigin::list(values)
    };
    let headers = |names: &[&'static str]| -> Vec<HeaderName> {
        names.iter().map(|n| HeaderName::from_static(n)).collect()
    };
    Ok(Some(
        CorsLayer::new()
            .allow_origin(allow_origin)
            .allow_methods([Method::GET, Method::POST, Method::DELETE, Method::PATCH])
            .allow_headers(headers(&CORS_REQUEST_HEADERS))
            .expose_headers(headers(&CORS_EXPOSED_HEADERS))
            .max_age(CORS_MAX_AGE),
    ))
}

/// The header that carries a request's id, both ways.
const REQUEST_ID: &str = "x-request-id";

/// The hyper service of one connection from `peer`: the request id, CORS (public API
/// only), then [`super::handle`] or, on the admin listener, [`super::admin::handle`]; the
/// metrics and the access log once the response is ready. Each request carries the peer
/// address (the client budgets key on it) and its [`ReadDeadline`] in its extensions.
pub fn for_app(
    app: Arc<App>,
    peer: SocketAddr,
    clock: Arc<RequestClock>,
    surface: super::Surface,
) -> impl hyper::service::Service<
    Request<Incoming>,
    Response = Response<Body>,
    Error = Infallible,
    Future = impl Send,
> + Clone {
    let routed = tower::service_fn({
        let app = app.clone();
        move |req: Request<Incoming>| {
            let app = app.clone();
            async move {
                Ok::<_, Infallible>(match surface {
                    super::Surface::Public => super::handle(&app, req).await,
                    super::Surface::Admin => super::admin::handle(&app, req).await,
                })
            }
        }
    });
    let cors = match surface {
        super::Surface::Public => app.cors.clone(),
        super::Surface::Admin => None,
    };
    let layered = ServiceBuilder::new().option_layer(cors).service(routed);
    hyper::service::service_fn(move |mut req: Request<Incoming>| {
        let layered = layered.clone();
        let app = app.clone();
        let clock = clock.clone();
        req.extensions_mut().insert(PeerAddr(peer));
        req.extensions_mut().insert(ReadDeadline(
            clock.request_started() + app.config.request_read_timeout,
        ));
        async move {
            let started = Instant::now();
            let method = req.method().clone();
            let request_id = request_id(&mut req);
            let span = tracing::info_span!("http_request", request_id = ?request_id);
            let mut response = layered
                .oneshot(req)
                .instrument(span)
                .await
                .unwrap_or_else(|never| match never {});
            clock.request_done();
            response
                .headers_mut()
                .insert(REQUEST_ID, request_id.clone());
            observe(&app, &method, &response, started.elapsed(), &request_id);
            Ok(response)
        }
    })
}

/// The request's `X-Request-Id` when it sends a usable one (1 to 128 visible ASCII
/// characters), otherwise a new UUID, set on the request for the handlers.
fn request_id<B>(req: &mut Request<B>) -> HeaderValue {
    let given = req.headers().get(REQUEST_ID).filter(|v| {
        (1..=128).contains(&v.len()) && v.as_bytes().iter().all(|b| b.is_ascii_graphic())
    });
    if let Some(id) = given {
        return id.clone();
    }
    let made = HeaderValue::from_str(&uuid::Uuid::new_v4().to_string())
        .expect("a UUID is a valid header value");
    req.headers_mut().insert(REQUEST_ID, made.clone());
    made
}

/// The request's metrics and, unless `ACCESS_LOG=off`, its access-log line.
fn observe(
    app: &App,
    method: &Method,
    response: &Response<Body>,
    elapsed: Duration,
    request_id: &HeaderValue,
) {
    let label = match response.extensions().get::<RouteLabel>() {
        Some(RouteLabel(label)) => *label,
        None if *method == Method::OPTIONS => "OPTIONS (CORS preflight)",
        None => "unmatched",
    };
    let status = response.status().as_u16();
    app.record_request(label, status, elapsed);
    if app.config.access_log {
        tracing::info!(
            target: "concert_queue::access",
            method = %method,
            route = label,
            status,
            latency_ms = elapsed.as_secs_f64() * 1000.0,
            request_id = request_id.to_str().unwrap_or("-"),
            "request"
        );
    }
}
