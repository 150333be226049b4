//! HTTPS with HTTP/2: given a certificate and its key (`CANDOR_TLS_CERT`,
//! `CANDOR_TLS_KEY`), connections are TLS (rustls, no OpenSSL) and offer `h2` before
//! `http/1.1`, so one browser connection carries all of a page's event streams.
//!
//! Handshakes run in tasks of their own: a client that never finishes its handshake
//! holds only its own connection, never the accept loop.

use std::io;
use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use axum::serve::Listener;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use tokio::sync::mpsc;
use tokio_rustls::TlsAcceptor;
use tokio_rustls::server::TlsStream;

/// How long a client may take over its handshake.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Handshaken connections waiting for the server to take them.
const READY: usize = 64;

/// The server's TLS settings, read from the certificate chain and key files (PEM).
pub fn server_config(cert: &Path, key: &Path) -> anyhow::Result<Arc<rustls::ServerConfig>> {
    let chain = CertificateDer::pem_file_iter(cert)
        .and_then(Iterator::collect::<Result<Vec<_>, _>>)
        .with_context(|| {
            format!(
                "cannot read the certificate {} (CANDOR_TLS_CERT)",
                cert.display()
            )
        })?;
    if chain.is_empty() {
        anyhow::bail!("no certificate in {} (CANDOR_TLS_CERT)", cert.display());
    }
    let key = PrivateKeyDer::from_pem_file(key).with_context(|| {
        format!(
            "cannot read the private key {} (CANDOR_TLS_KEY)",
            key.display()
        )
    })?;
    let mut config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .context("TLS protocol versions")?
    .with_no_client_auth()
    .with_single_cert(chain, key)
    .context("the certificate and key (CANDOR_TLS_CERT, CANDOR_TLS_KEY) do not make a pair")?;
    config.alpn_protocols = vec![b"h2".to_vec(), b"http/1.1".to_vec()];
    Ok(Arc::new(config))
}

/// A listener whose connections are TLS: `inner`'s, once their handshake is done.
pub struct TlsListener<L: Listener> {
    ready: mpsc::Receiver<(TlsStream<L::Io>, L::Addr)>,
    local_addr: SocketAddr,
}

impl<L> TlsListener<L>
where
    L: Listener<Addr = SocketAddr>,
{
    pub fn new(mut inner: L, config: Arc<rustls::ServerConfig>) -> io::Result<Self> {
        let local_addr = inner.local_addr()?;
        let acceptor = TlsAcceptor::from(config);
        let (done, ready) = mpsc::channel(READY);
        tokio::spawn(async move {
            loop {
                let (stream, addr) = tokio::select! {
                    accepted = inner.accept() => accepted,
                    // The server stopped taking connections.
                    () = done.closed() => return,
                };
                let acceptor = acceptor.clone();
                let done = done.clone();
                tokio::spawn(async move {
                    match tokio::time::timeout(HANDSHAKE_TIMEOUT, acceptor.accept(stream)).await {
                        Ok(Ok(tls)) => {
                            let _ = done.send((tls, addr)).await;
                        }
                        Ok(Err(err)) => {
                            tracing::debug!(%addr, error = %err, "TLS handshake failed")
                        }
                        Err(_) => tracing::debug!(%addr, "TLS handshake timed out"),
                    }
                });
            }
        });
        Ok(Self { ready, local_addr })
    }
}

impl<L> Listener for TlsListener<L>
where
    L: Listener<Addr = SocketAddr>,
{
    type Io = TlsStream<L::Io>;
    type Addr = SocketAddr;

    async fn accept(&mut self) -> (Self::Io, Self::Addr) {
        match self.ready.recv().await {
            Some(accepted) => accepted,
            // The accepting task never stops while this listener lives.
            None => std::future::pending().await,
        }
    }

    fn local_addr(&self) -> io::Result<Self::Addr> {
        Ok(self.local_addr)
    }
}
