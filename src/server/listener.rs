//! Connections: one accept loop for plain HTTP and TLS, with the same limits on both. A
//! request's headers must arrive within [`Limits::header_read_timeout`] of the connection's
//! start or of the previous answer (so silent, half-sent and idle connections are closed); at
//! most [`Limits::max_connections`] are open at once, and at the cap the connection that has
//! waited longest for a request makes room; shutdown waits a bounded time for requests in
//! flight, never for silent clients.

use std::collections::HashMap;
use std::future::Future;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use parking_lot::Mutex;

use axum::Router;
use hyper_util::rt::{TokioIo, TokioTimer};
use hyper_util::server::graceful::GracefulShutdown;
use tokio::net::TcpListener;
use tokio::sync::Notify;
use tower::ServiceExt;

/// What one connection may take.
#[derive(Clone, Copy, Debug)]
pub struct Limits {
    /// For a request's headers, counted from the connection's start or the previous answer.
    pub header_read_timeout: Duration,
    /// For the TLS handshake.
    pub tls_handshake_timeout: Duration,
    pub max_connections: usize,
    /// How long shutdown waits for requests in flight.
    pub shutdown_grace: Duration,
}

/// File descriptors kept for everything but served connections: API calls, Redis targets,
/// files.
const RESERVED_DESCRIPTORS: u64 = 64;

impl Default for Limits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_secs(10),
            tls_handshake_timeout: Duration::from_secs(10),
            max_connections: default_max_connections(),
            shutdown_grace: Duration::from_secs(5),
        }
    }
}

/// Half the descriptors the process may open beyond a reserve, at most 1,024: scrapers need a
/// handful, and connections past the cap must not starve the scans of descriptors.
fn default_max_connections() -> usize {
    let soft = procfs::process::Process::myself()
        .and_then(|p| p.limits())
        .ok()
        .and_then(|l| match l.max_open_files.soft_limit {
            procfs::process::LimitValue::Value(n) => Some(n),
            procfs::process::LimitValue::Unlimited => None,
        })
        .unwrap_or(4096);
    (soft.saturating_sub(RESERVED_DESCRIPTORS) / 2).clamp(4, 1024) as usize
}

/// Binds now, so a busy port is an error at start.
pub fn bind(addr: std::net::SocketAddr) -> anyhow::Result<TcpListener> {
    let listener = std::net::TcpListener::bind(addr)
        .map_err(|e| anyhow::anyhow!("cannot listen on {addr}: {e}"))?;
    listener.set_nonblocking(true)?;
    Ok(TcpListener::from_std(listener)?)
}

/// The URL a person can open: the loopback address when bound to every address.
pub fn shown_url(listener: &TcpListener, tls: bool) -> std::io::Result<String> {
    let local = listener.local_addr()?;
    let scheme = if tls { "https" } else { "http" };
    Ok(if local.ip().is_unspecified() {
        format!("{scheme}://127.0.0.1:{}", local.port())
    } else {
        format!("{scheme}://{local}")
    })
}

/// A served connection, as the cap sees it.
struct Tracked {
    /// Milliseconds since the listener started at which it began to wait for a request;
    /// `BUSY` while a request is in flight.
    idle_since: AtomicU64,
    close: Notify,
}

const BUSY: u64 = u64::MAX;

/// The open connections. At the cap, the one that has waited longest for a request is
/// closed to make room: silent clients cannot hold every place until their headers time out,
/// and a request in flight is never cut.
struct Connections {
    started: std::time::Instant,
    live: Mutex<HashMap<u64, Arc<Tracked>>>,
    /// Signalled when a connection ends.
    ended: Notify,
}

impl Connections {
    fn now_ms(&self) -> u64 {
        self.started.elapsed().as_millis() as u64
    }

    fn add(&self, id: u64) -> Arc<Tracked> {
        let tracked = Arc::new(Tracked {
            idle_since: AtomicU64::new(self.now_ms()),
            close: Notify::new(),
        });
        self.live.lock().insert(id, Arc::clone(&tracked));
        tracked
    }

    fn remove(&self, id: u64) {
        self.live.lock().remove(&id);
        self.ended.notify_one();
    }

    /// Makes room for one more: `true` when there is room (after closing the connection
    /// idle the longest, if needed); `false` when every connection has a request in flight.
    fn make_room(&self, cap: usize) -> bool {
        let mut live = self.live.lock();
        if live.len() < cap {
            return true;
        }
        let oldest = live
            .iter()
            .map(|(id, t)| (*id, t.idle_since.load(Ordering::Relaxed)))
            .filter(|(_, since)| *since != BUSY)
            .min_by_key(|(_, since)| *since);
        match oldest.and_then(|(id, _)| live.remove(&id)) {
            Some(evicted) => {
                evicted.close.notify_one();
                true
            }
            None => false,
        }
    }
}

/// Serves `router` on `listener` until `shutdown` completes, then lets requests in flight end
/// for at most `limits.shutdown_grace`.
pub async fn serve(
    listener: TcpListener,
    router: Router,
    tls: Option<Arc<rustls::ServerConfig>>,
    limits: Limits,
    shutdown: impl Future<Output = ()>,
) -> std::io::Result<()> {
    let connections = Arc::new(Connections {
        started: std::time::Instant::now(),
        live: Mutex::default(),
        ended: Notify::new(),
    });
    let graceful = GracefulShutdown::new();
    let acceptor = tls.map(tokio_rustls::TlsAcceptor::from);
    let mut accept_errors_logged = false;
    let mut next_id: u64 = 0;
    tokio::pin!(shutdown);
    loop {
        // Every connection busy at the cap: new ones wait in the kernel's backlog.
        while !connections.make_room(limits.max_connections) {
            tokio::select! {
                () = &mut shutdown => return finish(&connections, graceful, limits).await,
                () = connections.ended.notified() => {}
                () = tokio::time::sleep(Duration::from_millis(100)) => {}
            }
        }
        let (stream, _peer) = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => match accepted {
                Ok(accepted) => accepted,
                Err(e) => {
                    // Out of descriptors or memory: wait for some to be freed, never spin.
                    if !accept_errors_logged {
                        tracing::warn!(error = %e, "accepting a connection failed; retrying");
                        accept_errors_logged = true;
                    }
                    tokio::time::sleep(Duration::from_millis(100)).await;
                    continue;
                }
            },
        };
        accept_errors_logged = false;
        let _ = stream.set_nodelay(true);
        next_id += 1;
        let id = next_id;
        let tracked = connections.add(id);
        let service = {
            let (router, connections, tracked) = (
                router.clone(),
                Arc::clone(&connections),
                Arc::clone(&tracked),
            );
            hyper::service::service_fn(move |request| {
                tracked.idle_since.store(BUSY, Ordering::Relaxed);
                let answer = router.clone().oneshot(request);
                let (connections, tracked) = (Arc::clone(&connections), Arc::clone(&tracked));
                async move {
                    let answer = answer.await;
                    tracked
                        .idle_since
                        .store(connections.now_ms(), Ordering::Relaxed);
                    answer
                }
            })
        };
        let watcher = graceful.watcher();
        let acceptor = acceptor.clone();
        let connections = Arc::clone(&connections);
        tokio::spawn(async move {
            let mut http = hyper::server::conn::http1::Builder::new();
            http.timer(TokioTimer::new())
                .header_read_timeout(limits.header_read_timeout);
            let served = async {
                match acceptor {
                    None => {
                        let connection = http.serve_connection(TokioIo::new(stream), service);
                        let _ = watcher.watch(connection).await;
                    }
                    Some(acceptor) => {
                        let handshake = tokio::time::timeout(
                            limits.tls_handshake_timeout,
                            acceptor.accept(stream),
                        )
                        .await;
                        if let Ok(Ok(stream)) = handshake {
                            let connection = http.serve_connection(TokioIo::new(stream), service);
                            let _ = watcher.watch(connection).await;
                        }
                    }
                }
            };
            // Closed to make room: dropping the connection closes it.
            tokio::select! {
                () = served => {}
                () = tracked.close.notified() => {}
            }
            connections.remove(id);
        });
    }
    drop(listener);
    finish(&connections, graceful, limits).await
}

/// Closes the connections without a request in flight (silent, half-sent, idle) at once, and
/// lets requests in flight end, for at most `limits.shutdown_grace`.
async fn finish(
    connections: &Connections,
    graceful: GracefulShutdown,
    limits: Limits,
) -> std::io::Result<()> {
    for tracked in connections.live.lock().values() {
        if tracked.idle_since.load(Ordering::Relaxed) != BUSY {
            tracked.close.notify_one();
        }
    }
    if tokio::time::timeout(limits.shutdown_grace, graceful.shutdown())
        .await
        .is_err()
    {
        tracing::warn!(
            "requests still in flight after {} s; stopping anyway",
            limits.shutdown_grace.as_secs()
        );
    }
    Ok(())
}
