//! The admin API, served on its own listener (`ADMIN_BIND_ADDR`, only when `ADMIN_TOKEN`
//! is set): every request carries `Authorization: Bearer <ADMIN_TOKEN>`, compared in
//! constant time, else 401. A concert's queue: `GET`/`PATCH /admin/concerts/{id}/queue`,
//! `POST .../pause`, `.../resume`, `.../open`, `DELETE .../users/{userId}`.

use hyper::body::Incoming;
use hyper::header::AUTHORIZATION;
use hyper::{Method, Request, Response, StatusCode};
use serde_json::json;
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::request::json_body;
use super::response::{self, json, Body};
use super::router::{choose, parse_id, segments};
use crate::app::App;
use crate::http::error::ApiError;
use crate::queue::admin::SettingsChange;

/// Every admin endpoint, with the ids its path carries.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum AdminRoute {
    Figures(u64),
    Configure(u64),
    Pause(u64),
    Resume(u64),
    Open(u64),
    Evict(u64, u64),
}

impl AdminRoute {
    /// A fixed label for metrics.
    pub fn label(&self) -> &'static str {
        match self {
            AdminRoute::Figures(_) => "GET /admin/concerts/{id}/queue",
            AdminRoute::Configure(_) => "PATCH /admin/concerts/{id}/queue",
            AdminRoute::Pause(_) => "POST /admin/concerts/{id}/queue/pause",
            AdminRoute::Resume(_) => "POST /admin/concerts/{id}/queue/resume",
            AdminRoute::Open(_) => "POST /admin/concerts/{id}/queue/open",
            AdminRoute::Evict(_, _) => "DELETE /admin/concerts/{id}/queue/users/{userId}",
        }
    }
}

/// Resolves an admin request line: 404 for unknown paths, 405 for a known path with
/// another method.
pub fn resolve(method: &Method, path: &str) -> Result<AdminRoute, ApiError> {
    let choices: Vec<(Method, AdminRoute)> = match segments(path).as_slice() {
        ["admin", "concerts", id, "queue"] => {
            let id = parse_id(id)?;
            vec![
                (Method::GET, AdminRoute::Figures(id)),
                (Method::PATCH, AdminRoute::Configure(id)),
            ]
        }
        ["admin", "concerts", id, "queue", action @ ("pause" | "resume" | "open")] => {
            let id = parse_id(id)?;
            let route = match *action {
                "pause" => AdminRoute::Pause(id),
                "resume" => AdminRoute::Resume(id),
                _ => AdminRoute::Open(id),
            };
            vec![(Method::POST, route)]
        }
        ["admin", "concerts", id, "queue", "users", user] => {
            vec![(
                Method::DELETE,
                AdminRoute::Evict(parse_id(id)?, parse_id(user)?),
            )]
        }
        _ => return Err(ApiError::NotFound),
    };
    choose(method, choices)
}

/// Whether the request carries the admin token: both sides hashed first, so the
/// comparison takes the same time whatever the guess and whatever its length.
fn authorize<B>(req: &Request<B>, token: &str) -> Result<(), ApiError> {
    let given = req
        .headers()
        .get(AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.trim().split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim())
        .ok_or(ApiError::AdminUnauthenticated)?;
    let matches: bool = Sha256::digest(given.as_bytes())
        .ct_eq(&Sha256::digest(token.as_bytes()))
        .into();
    matches.then_some(()).ok_or(ApiError::AdminUnauthenticated)
}

/// Serves one admin request: the token first, then the route; the response carries its
/// route's label for the metrics and the access log (service.rs).
pub async fn handle(app: &App, req: Request<Incoming>) -> Response<Body> {
    let token = app.config.admin_token.as_deref().unwrap_or_default();
    let route = authorize(&req, token).and_then(|()| resolve(req.method(), req.uri().path()));
    let label = route.as_ref().map_or("admin unmatched", AdminRoute::label);
    let mut response = match route {
        Ok(route) => dispatch(app, route, req)
            .await
            .unwrap_or_else(|err| response::error(&err)),
        Err(err) => response::error(&err),
    };
    response
        .extensions_mut()
        .insert(super::service::RouteLabel(label));
    response
}

#[tracing::instrument(name = "serve_admin_request", skip(app, req))]
async fn dispatch(
    app: &App,
    route: AdminRoute,
    req: Request<Incoming>,
) -> Result<Response<Body>, ApiError> {
    let queue = &app.queue;
    let concert_id = match &route {
        AdminRoute::Figures(id)
        | AdminRoute::Configure(id)
        | AdminRoute::Pause(id)
        | AdminRoute::Resume(id)
        | AdminRoute::Open(id)
        | AdminRoute::Evict(id, _) => *id,
    };
    match route {
        AdminRoute::Figures(_) => {}
        AdminRoute::Configure(_) => {
            let body: serde_json::Value = json_body(req).await?;
            let change = SettingsChange::from_json(&body)?;
            queue.configure(concert_id, &change).await?;
        }
        AdminRoute::Pause(_) => queue.pause(concert_id).await?,
        AdminRoute::Resume(_) => queue.resume(concert_id).await?,
        AdminRoute::Open(_) => queue.open_now(concert_id).await?,
        AdminRoute::Evict(_, user_id) => {
            let from = queue.evict(concert_id, user_id).await?;
            return Ok(json(
                StatusCode::OK,
                &json!({"concertId": concert_id, "userId": user_id, "evictedFrom": from}),
            ));
        }
    }
    let figures = queue.figures(concert_id).await?;
    Ok(json(StatusCode::OK, &figures))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn admin_paths_resolve_and_wrong_methods_are_405() {
        assert_eq!(
            resolve(&Method::PATCH, "/admin/concerts/3/queue").unwrap(),
            AdminRoute::Configure(3)
        );
        assert_eq!(
            resolve(&Method::POST, "/admin/concerts/3/queue/open").unwrap(),
            AdminRoute::Open(3)
        );
        assert_eq!(
            resolve(&Method::DELETE, "/admin/concerts/3/queue/users/42").unwrap(),
            AdminRoute::Evict(3, 42)
        );
        assert!(matches!(
            resolve(&Method::GET, "/admin/concerts/3/queue/pause"),
            Err(ApiError::MethodNotAllowed { .. })
        ));
        assert!(matches!(
            resolve(&Method::GET, "/admin/concerts/0/queue"),
            Err(ApiError::NotFound)
        ));
    }

    #[test]
    fn only_the_exact_token_is_admitted() {
        let request = |value: &str| {
            Request::builder()
                .header(AUTHORIZATION, value)
                .body(())
                .unwrap()
        };
        let token = "an-admin-token-long-enough";
        assert!(authorize(&request("Bearer an-admin-token-long-enough"), token).is_ok());
        assert!(authorize(&request("bearer an-admin-token-long-enough"), token).is_ok());
        for wrong in [
            "Bearer an-admin-token-long-enougH",
            "Bearer an-admin-token-long-enough-and-more",
            "Bearer ",
            "Basic an-admin-token-long-enough",
            "an-admin-token-long-enough",
        ] {
            assert!(authorize(&request(wrong), token).is_err(), "{wrong}");
        }
        let none = Request::builder().body(()).unwrap();
        assert!(authorize(&none, token).is_err());
    }
}
