//! The hyper 1.x server: accept loop with a connection cap (overall and per client IP),
//! header read timeout, request read and answer write deadlines (connection.rs),
//! per-request dispatch with metrics, and graceful shutdown.

pub mod admin;
pub mod catalog;
pub mod connection;
pub mod error;
pub mod fairness;
pub mod language;
pub mod ops;
pub mod pages;
pub mod payments;
pub mod queue;
pub mod request;
pub mod reservations;
pub mod response;
pub mod router;
pub mod service;
pub mod site;
pub mod wallet;

use std::future::Future;
use std::sync::Arc;

use hyper::body::Incoming;
use hyper::server::conn::http1;
use hyper::{Method, Request, Response};
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use crate::app::App;
use crate::http::error::ApiError;
use response::Body;
use router::Route;

/// Largest id the API accepts (2^53 - 1, exact in every JSON client).
pub const MAX_ID: u64 = (1 << 53) - 1;

/// Which API a listener serves.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Surface {
    /// The public API (docs/api.md).
    Public,
    /// The admin API (src/http/admin.rs), on a listener of its own.
    Admin,
}

/// Serves the public API of `app` on `listener` until `shutdown` resolves, then stops
/// accepting and lets in-flight requests finish (up to the configured grace period).
pub async fn serve(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    serve_surface(listener, app, shutdown, Surface::Public).await
}

/// [`serve`] for either surface.
pub async fn serve_surface(
    listener: TcpListener,
    app: Arc<App>,
    shutdown: impl Future<Output = ()>,
    surface: Surface,
) -> anyhow::Result<()> {
    let permits = Arc::new(Semaphore::new(app.config.max_connections));
    metrics::gauge!("http_connections_max").set(app.config.max_connections as f64);
    let per_ip = connection::PerIpConnections::new(app.config.max_connections_per_ip);
    let graceful = GracefulShutdown::new();
    let mut http = http1::Builder::new();
    http.timer(TokioTimer::new())
        .header_read_timeout(app.config.header_read_timeout)
        .keep_alive(true);
    tokio::pin!(shutdown);

    loop {
        let permit = tokio::select! {
            _ = &mut shutdown => break,
            permit = permits.clone().acquire_owned() => permit.expect("semaphore never closes"),
        };
        let (stream, peer) = tokio::select! {
            _ = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(err) => {
                    tracing::warn!(error = %err, "accept failed");
                    tokio::time::sleep(std::time::Duration::from_millis(50)).await;
                    continue;
                }
            },
        };
        let Some(ip_slot) = per_ip.admit(peer.ip()) else {
            metrics::counter!("http_connections_closed_total", "reason" => "per_ip_cap")
                .increment(1);
            tracing::debug!(peer = %peer.ip(), "connection refused: MAX_CONNECTIONS_PER_IP");
            continue;
        };
        let _ = stream.set_nodelay(true);
        let (io, clock) = connection::GuardedIo::new(stream, app.config.response_write_timeout);
        let service = service::for_app(app.clone(), peer, clock, surface);
        let connection = graceful.watch(http.serve_connection(TokioIo::new(io), service));
        metrics::gauge!("http_connections_open").increment(1.0);
        tokio::spawn(async move {
            let _ = connection.await;
            drop(ip_slot);
            drop(permit);
            metrics::gauge!("http_connections_open").decrement(1.0);
        });
    }

    drop(listener);
    tracing::info!("shutting down: draining in-flight requests");
    if tokio::time::timeout(app.config.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!("grace period over; closing remaining connections");
    }
    Ok(())
}

/// Routes one request and turns any error into the contract's envelope; the response
/// carries its route's label for the metrics and the access log (service.rs).
pub async fn handle(app: &App, req: Request<Incoming>) -> Response<Body> {
    let head_only = req.method() == Method::HEAD;
    let route = router::resolve(req.method(), req.uri().path());
    let label = route.as_ref().map_or("unmatched", Route::label);
    let mut response = match route {
        Ok(route) => dispatch(app, route, req)
            .await
            .unwrap_or_else(|err| response::error(&err)),
        Err(err) => response::error(&err),
    };
    if head_only {
        *response.body_mut() = Body::default();
    }
    response.extensions_mut().insert(service::RouteLabel(label));
    response
}

async fn dispatch(
    app: &App,
    route: Route,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    if route.writes() {
        app.refuse_writes_in_maintenance()?;
    }
    match route {
        Route::IssueToken => queue::issue_token(app, req).await,
        Route::QueueStatus => queue::status(app, req).await,
        Route::Concerts => catalog::concerts(app).await,
        Route::ConcertRanking => catalog::ranking(app, req).await,
        Route::Concert(id) => catalog::concert(app, id).await,
        Route::ConcertSchedules(id) => catalog::schedules(app, id).await,
        Route::Fairness(id) => fairness::fairness(app, id).await,
        Route::FairnessOrder(id) => fairness::order(app, req, id).await,
        Route::SeatMap(id) => reservations::seat_map(app, req, id).await,
        Route::HoldSeat => reservations::hold_seat(app, req).await,
        Route::Reservation(id) => reservations::reservation(app, req, &id).await,
        Route::CancelReservation(id) => reservations::cancel(app, req, &id).await,
        Route::Balance(id) => wallet::balance(app, req, id).await,
        Route::ChargeWallet(id) => wallet::charge(app, req, id).await,
        Route::Pay => payments::pay(app, req).await,
        Route::Health => Ok(ops::health(app).await),
        Route::HealthLive => Ok(ops::live()),
        Route::HealthReady => Ok(ops::ready(app).await),
        Route::Metrics => Ok(ops::metrics(app)),
        Route::ConcertsPage => Ok(pages::page(&req, site::Page::Concerts)),
        Route::WaitingRoomPage(_) => Ok(pages::page(&req, site::Page::WaitingRoom)),
        Route::BookPage(_) => Ok(pages::page(&req, site::Page::Book)),
        Route::Asset(name) => pages::asset(&req, &name),
    }
}
