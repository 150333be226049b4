//! A minimal HTTP/1.1 client for the load generator: one keep-alive connection, a request
//! made once as bytes and sent as often as wanted, each response read by its
//! `Content-Length`. Much lighter than a general client, so the machine's cores go to the
//! server under test; and every byte on the wire is counted.

use memchr::memmem;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

pub(crate) struct Connection {
    addr: String,
    socket: Option<TcpStream>,
    buffer: Vec<u8>,
    /// The last response, head and body.
    pub(crate) response: Vec<u8>,
}

/// What one exchange put on the wire, and the response's status.
pub(crate) struct Exchange {
    pub(crate) status: u16,
    pub(crate) bytes_out: usize,
    pub(crate) bytes_in: usize,
}

impl Connection {
    pub(crate) fn new(addr: &str) -> Self {
        Self {
            addr: addr.to_owned(),
            socket: None,
            buffer: vec![0; 8 * 1024],
            response: Vec::with_capacity(4 * 1024),
        }
    }

    /// Sends `request` (reconnecting if the connection was closed) and reads the whole
    /// response; `None` if that failed (the connection is dropped).
    pub(crate) async fn exchange(&mut self, request: &[u8]) -> Option<Exchange> {
        let result = self.try_exchange(request).await;
        if result.is_none() {
            self.socket = None;
        }
        result
    }

    async fn try_exchange(&mut self, request: &[u8]) -> Option<Exchange> {
        let socket = match &mut self.socket {
            Some(socket) => socket,
            empty => empty.insert(TcpStream::connect(&self.addr).await.ok()?),
        };
        socket.write_all(request).await.ok()?;
        self.response.clear();
        loop {
            let n = socket.read(&mut self.buffer).await.ok()?;
            if n == 0 {
                return None;
            }
            self.response.extend_from_slice(&self.buffer[..n]);
            if let Some(head) = memmem::find(&self.response, b"\r\n\r\n") {
                let length = content_length(&self.response[..head]).unwrap_or(0);
                if self.response.len() >= head + 4 + length {
                    let status = std::str::from_utf8(self.response.get(9..12)?)
                        .ok()?
                        .parse()
                        .ok()?;
                    return Some(Exchange {
                        status,
                        bytes_out: request.len(),
                        bytes_in: self.response.len(),
                    });
                }
            }
        }
    }
}

fn content_length(head: &[u8]) -> Option<usize> {
    let head = std::str::from_utf8(head).ok()?;
    head.split("\r\n").find_map(|line| {
        let (name, value) = line.split_once(':')?;
        name.eq_ignore_ascii_case("content-length")
            .then(|| value.trim().parse().ok())?
    })
}

/// A `GET` request's bytes, with `Authorization: Bearer` when there is a token.
pub(crate) fn get(path: &str, host: &str, accept: &str, token: Option<&str>) -> String {
    let auth = token.map_or(String::new(), |t| format!("authorization: Bearer {t}\r\n"));
    format!("GET {path} HTTP/1.1\r\nhost: {host}\r\naccept: {accept}\r\n{auth}\r\n")
}
