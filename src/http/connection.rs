//! One client connection's guards: the socket with a write deadline (an answer the client
//! does not read within `RESPONSE_WRITE_TIMEOUT_SECS` ends the connection), the clock of
//! the current request's first byte (the whole request must arrive within
//! `REQUEST_READ_TIMEOUT_SECS`), and the count of open connections per client IP.

use std::collections::HashMap;
use std::future::Future;
use std::io;
use std::net::IpAddr;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// When the request being read now began to arrive: set by the first bytes read after the
/// previous request was answered, taken by the service when the request's headers are in.
#[derive(Debug)]
pub struct RequestClock {
    opened: Instant,
    /// Milliseconds after `opened` (plus one, so that 0 means "no request begun").
    started: AtomicU64,
}

impl RequestClock {
    fn new() -> Arc<RequestClock> {
        Arc::new(RequestClock {
            opened: Instant::now(),
            started: AtomicU64::new(0),
        })
    }

    fn mark_bytes_arrived(&self) {
        let now = self.opened.elapsed().as_millis() as u64 + 1;
        let _ = self
            .started
            .compare_exchange(0, now, Ordering::Relaxed, Ordering::Relaxed);
    }

    /// When the current request's first byte arrived (now, when unknown).
    pub fn request_started(&self) -> Instant {
        match self.started.load(Ordering::Relaxed) {
            0 => Instant::now(),
            millis => self.opened + Duration::from_millis(millis - 1),
        }
    }

    /// The request is read and answered: the next bytes start the next one.
    pub fn request_done(&self) {
        self.started.store(0, Ordering::Relaxed);
    }
}

/// A socket whose writes fail with `TimedOut` once they have waited on the client for
/// longer than the write timeout without everything queued being written.
pub struct GuardedIo<S> {
    inner: S,
    write_timeout: Duration,
    /// Armed when a write first has to wait; cleared when all that was queued is out.
    stalled: Option<Pin<Box<Sleep>>>,
    clock: Arc<RequestClock>,
}

impl<S> GuardedIo<S> {
    pub fn new(inner: S, write_timeout: Duration) -> (GuardedIo<S>, Arc<RequestClock>) {
        let clock = RequestClock::new();
        let io = GuardedIo {
            inner,
            write_timeout,
            stalled: None,
            clock: clock.clone(),
        };
        (io, clock)
    }

    /// Called when a write or flush is pending: arms the deadline, and fails once it passed.
    fn wait_or_time_out<T>(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<T>> {
        let timeout = self.write_timeout;
        let stalled = self
            .stalled
            .get_or_insert_with(|| Box::pin(tokio::time::sleep(timeout)));
        ready!(stalled.as_mut().poll(cx));
        metrics::counter!("http_connections_closed_total", "reason" => "write_timeout")
            .increment(1);
        Poll::Ready(Err(io::Error::new(
            io::ErrorKind::TimedOut,
            "the client did not read its answer in time",
        )))
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for GuardedIo<S> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let before = buf.filled().len();
        let polled = Pin::new(&mut self.inner).poll_read(cx, buf);
        if matches!(polled, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            self.clock.mark_bytes_arrived();
        }
        polled
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for GuardedIo<S> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write(cx, buf) {
            Poll::Pending => self.wait_or_time_out(cx),
            done => done,
        }
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match Pin::new(&mut self.inner).poll_write_vectored(cx, bufs) {
            Poll::Pending => self.wait_or_time_out(cx),
            done => done,
        }
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    /// hyper flushes once everything it queued is written: the answer is out.
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match Pin::new(&mut self.inner).poll_flush(cx) {
            Poll::Pending => self.wait_or_time_out(cx),
            done => {
                self.stalled = None;
                done
            }
        }
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// Open connections per client IP, with a cap (0: none).
#[derive(Debug, Default)]
pub struct PerIpConnections {
    cap: usize,
    open: Mutex<HashMap<IpAddr, usize>>,
}

/// One open connection's place in [`PerIpConnections`], given back on drop.
pub struct IpSlot {
    owner: Arc<PerIpConnections>,
    ip: IpAddr,
}

impl PerIpConnections {
    pub fn new(cap: usize) -> Arc<PerIpConnections> {
        Arc::new(PerIpConnections {
            cap,
            open: Mutex::default(),
        })
    }

    /// A slot for one more connection from `ip`, or `None` when it already holds the cap.
    pub fn admit(self: &Arc<Self>, ip: IpAddr) -> Option<IpSlot> {
        let mut open = self.open.lock().unwrap_or_else(|e| e.into_inner());
        let count = open.entry(ip).or_insert(0);
        if self.cap > 0 && *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(IpSlot {
            owner: self.clone(),
            ip,
        })
    }
}

impl Drop for IpSlot {
    fn drop(&mut self) {
        let mut open = self.owner.open.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(count) = open.get_mut(&self.ip) {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.ip);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_counts_connections_per_ip_and_frees_on_drop() {
        let per_ip = PerIpConnections::new(2);
        let a: IpAddr = [127, 0, 0, 2].into();
        let b: IpAddr = [127, 0, 0, 3].into();
        let first = per_ip.admit(a).unwrap();
        let _second = per_ip.admit(a).unwrap();
        assert!(per_ip.admit(a).is_none());
        assert!(per_ip.admit(b).is_some());
        drop(first);
        assert!(per_ip.admit(a).is_some());
        assert!(PerIpConnections::new(0).admit(a).is_some());
    }
}
