//! [`WebhookReceiver`]: a tiny HTTP/1.1 server on a free loopback port that
//! answers each request with the next status of a list (then 200) and
//! hands every request body to the test, in order: the far end of an
//! alert webhook, with no HTTP framework (request heads and
//! `Content-Length` bodies only; no chunked bodies).

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::sync::mpsc;

/// See the module docs.
pub struct WebhookReceiver {
    /// `http://127.0.0.1:<port>/hook`.
    pub url: String,
    /// The bodies received, in order (each after its answer was sent).
    pub bodies: mpsc::UnboundedReceiver<Vec<u8>>,
}

impl WebhookReceiver {
    /// Starts the receiver (inside a tokio runtime); the `n`-th request
    /// is answered with `statuses[n]`, later ones with 200.
    ///
    /// # Panics
    /// When no loopback port can be bound.
    pub async fn start(statuses: Vec<u16>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let url = format!("http://{}/hook", listener.local_addr().expect("bound"));
        let (tx, bodies) = mpsc::unbounded_channel();
        let statuses = std::sync::Arc::new(std::sync::Mutex::new(statuses.into_iter()));
        tokio::spawn(async move {
            while let Ok((mut socket, _)) = listener.accept().await {
                let (tx, statuses) = (tx.clone(), statuses.clone());
                tokio::spawn(async move {
                    let mut buf = Vec::new();
                    let mut chunk = [0u8; 8192];
                    while let Ok(n) = socket.read(&mut chunk).await {
                        if n == 0 {
                            return;
                        }
                        buf.extend_from_slice(&chunk[..n]);
                        while let Some(body) = take_request(&mut buf) {
                            let status = statuses
                                .lock()
                                .unwrap_or_else(|e| e.into_inner())
                                .next()
                                .unwrap_or(200);
                            let reply = format!("HTTP/1.1 {status} X\r\ncontent-length: 0\r\n\r\n");
                            if socket.write_all(reply.as_bytes()).await.is_err() {
                                return;
                            }
                            let _ = tx.send(body);
                        }
                    }
                });
            }
        });
        Self { url, bodies }
    }
}

/// Takes one whole request (head and `Content-Length` body) off the front
/// of `buf`, returning its body; `None` until one is whole.
fn take_request(buf: &mut Vec<u8>) -> Option<Vec<u8>> {
    let end = buf.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&buf[..end]).to_ascii_lowercase();
    let len: usize = head
        .lines()
        .find_map(|l| l.strip_prefix("content-length:"))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0);
    if buf.len() < end + 4 + len {
        return None;
    }
    let body = buf[end + 4..end + 4 + len].to_vec();
    buf.drain(..end + 4 + len);
    Some(body)
}
