//! A TCP proxy that a test can cut and restore, to make a real server
//! (MariaDB, Redis) unreachable for one app without stopping the server
//! that other tests share, or slow down: every reply from the server is
//! held back by a delay the test sets, so each round trip takes that much
//! longer.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};

use tokio::net::{TcpListener, TcpSocket, TcpStream};
use tokio::task::JoinHandle;

pub struct TcpProxy {
    address: SocketAddr,
    target: SocketAddr,
    state: Arc<Mutex<ProxyState>>,
    reply_delay_ms: Arc<AtomicU64>,
}

#[derive(Default)]
struct ProxyState {
    listening: bool,
    acceptor: Option<JoinHandle<()>>,
    connections: Vec<JoinHandle<()>>,
}

impl TcpProxy {
    /// Listens on `127.0.0.1:0` and forwards every connection to `target`.
    pub async fn start(target: SocketAddr) -> std::io::Result<TcpProxy> {
        let listener = listen("127.0.0.1:0".parse().expect("a valid address"))?;
        let proxy = TcpProxy {
            address: listener.local_addr()?,
            target,
            state: Arc::default(),
            reply_delay_ms: Arc::default(),
        };
        proxy.serve(listener);
        Ok(proxy)
    }

    /// Resolves `host:port` (e.g. taken from a URL) and starts a proxy to it.
    pub async fn start_to(target: &str) -> std::io::Result<TcpProxy> {
        let target = tokio::net::lookup_host(target)
            .await?
            .next()
            .ok_or_else(|| std::io::Error::other(format!("cannot resolve {target}")))?;
        Self::start(target).await
    }

    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// `127.0.0.1:<port>`, for building URLs.
    pub fn host_port(&self) -> String {
        self.address.to_string()
    }

    /// Drops every live connection and stops listening: new connections
    /// are refused until [`TcpProxy::restore`]. Returns once the sockets
    /// are closed.
    pub async fn cut(&self) {
        let tasks = self.abort_all();
        for task in tasks {
            let _ = task.await;
        }
    }

    fn abort_all(&self) -> Vec<JoinHandle<()>> {
        let mut state = self.state.lock().expect("proxy state lock");
        state.listening = false;
        let mut tasks: Vec<JoinHandle<()>> = state.acceptor.take().into_iter().collect();
        tasks.append(&mut state.connections);
        for task in &tasks {
            task.abort();
        }
        tasks
    }

    /// Holds back every reply from the server by `delay` from now on, on
    /// live connections too (zero: none).
    pub fn set_reply_delay(&self, delay: Duration) {
        self.reply_delay_ms
            .store(delay.as_millis() as u64, Ordering::Relaxed);
    }

    /// Listens again on the same port.
    pub async fn restore(&self) -> std::io::Result<()> {
        let listener = listen(self.address)?;
        self.serve(listener);
        Ok(())
    }

    fn serve(&self, listener: TcpListener) {
        let target = self.target;
        let delay = Arc::clone(&self.reply_delay_ms);
        self.state.lock().expect("proxy state lock").listening = true;
        let state = Arc::clone(&self.state);
        let acceptor = tokio::spawn(async move {
            while let Ok((inbound, _)) = listener.accept().await {
                let connection = tokio::spawn(forward(inbound, target, Arc::clone(&delay)));
                let mut state = state.lock().expect("proxy state lock");
                if !state.listening {
                    // Cut while this connection was being set up.
                    connection.abort();
                    break;
                }
                state.connections.retain(|c| !c.is_finished());
                state.connections.push(connection);
            }
        });
        self.state.lock().expect("proxy state lock").acceptor = Some(acceptor);
    }
}

impl Drop for TcpProxy {
    fn drop(&mut self) {
        self.abort_all();
    }
}

fn listen(address: SocketAddr) -> std::io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    // The port was ours a moment ago; connections in TIME_WAIT must not
    // stop us taking it back.
    socket.set_reuseaddr(true)?;
    socket.bind(address)?;
    socket.listen(1024)
}

async fn forward(inbound: TcpStream, target: SocketAddr, reply_delay_ms: Arc<AtomicU64>) {
    let Ok(outbound) = TcpStream::connect(target).await else {
        return;
    };
    let _ = inbound.set_nodelay(true);
    let _ = outbound.set_nodelay(true);
    let (client_read, client_write) = inbound.into_split();
    let (server_read, server_write) = outbound.into_split();
    let no_delay = Arc::new(AtomicU64::new(0));
    tokio::select! {
        () = pump(client_read, server_write, no_delay) => {}
        () = pump(server_read, client_write, reply_delay_ms) => {}
    }
}

/// Copies until either side closes, sleeping `delay_ms` before passing on
/// each chunk read.
async fn pump(
    mut from: impl AsyncRead + Unpin,
    mut to: impl AsyncWrite + Unpin,
    delay_ms: Arc<AtomicU64>,
) {
    let mut buf = vec![0u8; 16 * 1024];
    loop {
        let n = match from.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let delay = delay_ms.load(Ordering::Relaxed);
        if delay > 0 {
            tokio::time::sleep(Duration::from_millis(delay)).await;
        }
        if to.write_all(&buf[..n]).await.is_err() {
            break;
        }
    }
    let _ = to.shutdown().await;
}

#[cfg(test)]
mod tests {
    use super::*;

    async fn echo_server() -> SocketAddr {
        let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let address = listener.local_addr().unwrap();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let mut buf = [0u8; 64];
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0 || stream.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        address
    }

    async fn round_trip(stream: &mut TcpStream) -> std::io::Result<Vec<u8>> {
        stream.write_all(b"ping").await?;
        let mut buf = [0u8; 4];
        stream.read_exact(&mut buf).await?;
        Ok(buf.to_vec())
    }

    #[tokio::test]
    async fn forwards_refuses_when_cut_and_recovers_on_restore() {
        let proxy = TcpProxy::start(echo_server().await).await.unwrap();
        let mut live = TcpStream::connect(proxy.address()).await.unwrap();
        assert_eq!(round_trip(&mut live).await.unwrap(), b"ping");

        proxy.cut().await;
        assert!(
            round_trip(&mut live).await.is_err(),
            "live connection survived the cut"
        );
        assert!(
            TcpStream::connect(proxy.address()).await.is_err(),
            "connect accepted while cut"
        );

        proxy.restore().await.unwrap();
        let mut fresh = TcpStream::connect(proxy.address()).await.unwrap();
        assert_eq!(round_trip(&mut fresh).await.unwrap(), b"ping");
    }

    #[tokio::test]
    async fn a_reply_delay_slows_every_round_trip_on_live_connections() {
        let proxy = TcpProxy::start(echo_server().await).await.unwrap();
        let mut live = TcpStream::connect(proxy.address()).await.unwrap();
        round_trip(&mut live).await.unwrap();
        proxy.set_reply_delay(Duration::from_millis(200));
        let started = tokio::time::Instant::now();
        round_trip(&mut live).await.unwrap();
        assert!(started.elapsed() >= Duration::from_millis(200));
        proxy.set_reply_delay(Duration::ZERO);
        let started = tokio::time::Instant::now();
        round_trip(&mut live).await.unwrap();
        assert!(started.elapsed() < Duration::from_millis(200));
    }
}
