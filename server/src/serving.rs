//! Serving connections: HTTP/1.1 and HTTP/2 on each accepted connection, with the
//! timeouts that keep a slow or silent client from holding one for ever, and a shutdown
//! that always ends.
//!
//! - A connection must send its request's headers within the header-read timeout (from
//!   connecting, for the first request): a client that connects and says nothing, or
//!   trickles its headers, is closed.
//! - A request body that sends no byte for the body-idle timeout fails to read; the
//!   handler answers `408`.
//! - On shutdown, open connections finish what they are doing (a stream ends when the
//!   streams close); those still open [`SHUTDOWN_DEADLINE`] later are dropped.

use std::io;
use std::net::SocketAddr;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::Router;
use axum::body::Body;
use axum::extract::ConnectInfo;
use axum::serve::Listener;
use hyper::body::Incoming;
use hyper_util::rt::{TokioExecutor, TokioIo, TokioTimer};
use hyper_util::server::conn::auto::Builder;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Sleep;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;
use tower_http::timeout::TimeoutBody;

/// How long connections may take to finish once the streams have closed; then they are
/// dropped and the process exits.
pub const SHUTDOWN_DEADLINE: Duration = Duration::from_secs(5);

/// How long a client may dawdle.
#[derive(Clone, Copy, Debug)]
pub struct Timeouts {
    pub header_read: Duration,
    pub body_idle: Duration,
}

/// Serves `app` on every connection `listener` accepts, until `closing`; then lets the
/// open ones finish for at most [`SHUTDOWN_DEADLINE`].
pub async fn serve<L>(
    mut listener: L,
    app: Router,
    timeouts: Timeouts,
    closing: CancellationToken,
) -> io::Result<()>
where
    L: Listener<Addr = SocketAddr>,
    L::Io: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let mut builder = Builder::new(TokioExecutor::new());
    builder
        .http1()
        .timer(TokioTimer::new())
        .header_read_timeout(timeouts.header_read);
    builder
        .http2()
        .timer(TokioTimer::new())
        .enable_connect_protocol();
    let body_idle = timeouts.body_idle;
    let app = app.map_request(move |request: axum::http::Request<Incoming>| {
        request.map(|body| Body::new(TimeoutBody::new(body_idle, body)))
    });
    let graceful = GracefulShutdown::new();
    let dropped = CancellationToken::new();
    loop {
        let (io, peer) = tokio::select! {
            accepted = listener.accept() => accepted,
            () = closing.cancelled() => break,
        };
        let io = TokioIo::new(FirstBytesWithin::new(io, timeouts.header_read));
        // The peer, for the per-address limits (`limits::addresses`).
        let service = TowerToHyperService::new(app.clone().map_request(
            move |mut request: axum::http::Request<Incoming>| {
                request.extensions_mut().insert(ConnectInfo(peer));
                request
            },
        ));
        let connection = graceful.watch(
            builder
                .serve_connection_with_upgrades(io, service)
                .into_owned(),
        );
        let dropped = dropped.clone();
        tokio::spawn(async move {
            tokio::select! {
                served = connection => {
                    if let Err(err) = served {
                        tracing::debug!(error = %err, "a connection ended with an error");
                    }
                }
                () = dropped.cancelled() => {}
            }
        });
    }
    drop(listener);
    let open = graceful.count();
    tokio::select! {
        () = graceful.shutdown() => {}
        () = tokio::time::sleep(SHUTDOWN_DEADLINE) => {
            tracing::warn!(
                was_open = open,
                deadline = ?SHUTDOWN_DEADLINE,
                "connections still open at the shutdown deadline are dropped"
            );
            dropped.cancel();
        }
    }
    Ok(())
}

/// A connection whose first bytes must arrive within a deadline. (HTTP/1.1's
/// header-read timeout starts once the server knows which HTTP a connection speaks,
/// which takes a first byte; a client that sends none would otherwise be waited for
/// without end.)
struct FirstBytesWithin<I> {
    io: I,
    deadline: Option<Pin<Box<Sleep>>>,
}

impl<I> FirstBytesWithin<I> {
    fn new(io: I, within: Duration) -> Self {
        Self {
            io,
            deadline: Some(Box::pin(tokio::time::sleep(within))),
        }
    }
}

impl<I: AsyncRead + Unpin> AsyncRead for FirstBytesWithin<I> {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = &mut *self;
        let before = buf.filled().len();
        let read = Pin::new(&mut this.io).poll_read(cx, buf);
        if read.is_ready() && buf.filled().len() > before {
            this.deadline = None;
        } else if read.is_pending()
            && let Some(deadline) = this.deadline.as_mut()
            && deadline.as_mut().poll(cx).is_ready()
        {
            return Poll::Ready(Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "the client sent nothing within the header-read timeout",
            )));
        }
        read
    }
}

impl<I: AsyncWrite + Unpin> AsyncWrite for FirstBytesWithin<I> {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }
}
