//! One keep-alive HTTP/1.1 connection per virtual user (as a JMeter thread holds one), on
//! hyper's low-level client: a request is sent, its whole body read, and a broken
//! connection is reopened on the next request.

use std::borrow::Cow;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::{handshake, SendRequest};
use hyper::header::{AUTHORIZATION, CONTENT_TYPE, HOST, RETRY_AFTER};
use hyper::{Method, Request};
use hyper_util::rt::TokioIo;
use tokio::net::TcpStream;

use super::target::Target;

/// What the server answered.
#[derive(Debug)]
pub struct Answer {
    pub status: u16,
    pub body: Bytes,
    /// The `Retry-After` header, in seconds, when there is one.
    pub retry_after: Option<u64>,
}

/// A request that got no HTTP answer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Failure {
    Connect,
    Timeout,
    Broken,
}

/// One request to send.
pub struct Call<'a> {
    pub method: Method,
    pub path: String,
    pub bearer: Option<Cow<'a, str>>,
    pub json: Option<String>,
    /// An `X-Forwarded-For` value: the client address a trusted proxy would have added.
    pub forwarded_for: Option<String>,
}

impl Call<'_> {
    pub fn get(path: String) -> Call<'static> {
        Call {
            method: Method::GET,
            path,
            bearer: None,
            json: None,
            forwarded_for: None,
        }
    }

    pub fn delete(path: String) -> Call<'static> {
        Call {
            method: Method::DELETE,
            path,
            bearer: None,
            json: None,
            forwarded_for: None,
        }
    }

    pub fn post(path: String, json: String) -> Call<'static> {
        Call {
            method: Method::POST,
            path,
            bearer: None,
            json: Some(json),
            forwarded_for: None,
        }
    }

    pub fn with_bearer(self, token: &str) -> Call<'_> {
        Call {
            bearer: Some(Cow::Borrowed(token)),
            ..self
        }
    }

    /// The call with a credential of its own (a user JWT minted for it).
    pub fn with_owned_bearer<'b>(self, token: String) -> Call<'b> {
        Call {
            method: self.method,
            path: self.path,
            bearer: Some(Cow::Owned(token)),
            json: self.json,
            forwarded_for: self.forwarded_for,
        }
    }

    /// The call as if from `ip`, behind one trusted proxy.
    pub fn from_client(self, ip: String) -> Self {
        Call {
            forwarded_for: Some(ip),
            ..self
        }
    }
}

/// A connection to the target, opened lazily and reopened after a failure.
pub struct Connection {
    target: Target,
    timeout: Duration,
    sender: Option<SendRequest<Full<Bytes>>>,
}

impl Connection {
    pub fn new(target: Target, timeout: Duration) -> Self {
        Connection {
            target,
            timeout,
            sender: None,
        }
    }

    /// Sends `call` and reads the whole answer, within the timeout.
    pub async fn send(&mut self, call: Call<'_>) -> Result<Answer, Failure> {
        let request = self.request(call);
        match tokio::time::timeout(self.timeout, self.exchange(request)).await {
            Ok(Ok(answer)) => Ok(answer),
            Ok(Err(failure)) => {
                self.sender = None;
                Err(failure)
            }
            Err(_) => {
                self.sender = None;
                Err(Failure::Timeout)
            }
        }
    }

    fn request(&self, call: Call<'_>) -> Request<Full<Bytes>> {
        let mut builder = Request::builder()
            .method(call.method)
            .uri(call.path)
            .header(HOST, self.target.host.clone());
        if let Some(token) = call.bearer {
            builder = builder.header(AUTHORIZATION, format!("Bearer {token}"));
        }
        if let Some(ip) = call.forwarded_for {
            builder = builder.header("x-forwarded-for", ip);
        }
        let body = match call.json {
            Some(json) => {
                builder = builder.header(CONTENT_TYPE, "application/json");
                Full::new(Bytes::from(json))
            }
            None => Full::new(Bytes::new()),
        };
        builder.body(body).expect("paths and headers are valid")
    }

    async fn exchange(&mut self, request: Request<Full<Bytes>>) -> Result<Answer, Failure> {
        let sender = self.ready_sender().await?;
        let response = sender
            .send_request(request)
            .await
            .map_err(|_| Failure::Broken)?;
        let status = response.status().as_u16();
        let retry_after = response
            .headers()
            .get(RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .and_then(|v| v.parse().ok());
        let body = response
            .into_body()
            .collect()
            .await
            .map_err(|_| Failure::Broken)?
            .to_bytes();
        Ok(Answer {
            status,
            body,
            retry_after,
        })
    }

    async fn ready_sender(&mut self) -> Result<&mut SendRequest<Full<Bytes>>, Failure> {
        if let Some(sender) = &mut self.sender {
            if sender.ready().await.is_ok() {
                return Ok(self.sender.as_mut().expect("just checked"));
            }
            self.sender = None;
        }
        let stream = TcpStream::connect(self.target.addr)
            .await
            .map_err(|_| Failure::Connect)?;
        let _ = stream.set_nodelay(true);
        let (sender, connection) = handshake(TokioIo::new(stream))
            .await
            .map_err(|_| Failure::Connect)?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        Ok(self.sender.insert(sender))
    }
}
