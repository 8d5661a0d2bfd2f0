//! The HTTP face: `/metrics` (protobuf or OpenMetrics when asked for, else the classic text
//! format), a landing page with every target's last scan, `/healthz` and `/readyz`.

use std::fmt::Write as _;
use std::sync::Arc;
use std::time::SystemTime;

use axum::Router;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::get;
use prometheus_client::registry::Registry;

use crate::metrics::SnapshotCollector;
use crate::metrics::exposition::{ProtobufWriter, TextWriter};
use crate::snapshot::{Attempt, Store};

pub mod listener;

pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
pub const DEFAULT_LISTEN_ADDRESS: &str = "0.0.0.0:9977";
pub const DEFAULT_TELEMETRY_PATH: &str = "/metrics";

pub struct AppState {
    /// The target families, written from the snapshot at each encoding.
    pub targets: SnapshotCollector,
    /// The exporter's own metrics (API requests, process, build), after the target families.
    pub registry: Registry,
    pub store: Arc<Store>,
    pub telemetry_path: String,
    pub stale_after: std::time::Duration,
    /// The Alertmanager webhook, when configured.
    pub remediation: Option<Arc<crate::remediation::Remediator>>,
    /// Asks the process to reload its configuration; `None` when there is nothing to reload.
    pub reload: Option<tokio::sync::mpsc::Sender<ReloadRequest>>,
    pub encoded: EncodeCache,
    /// The accounts scanned, for the landing page's credentials table.
    pub accounts: Option<Arc<crate::accounts::SharedAccounts>>,
}

/// A reload request, answered with its outcome.
pub type ReloadRequest = tokio::sync::oneshot::Sender<Result<(), String>>;

pub fn router(state: Arc<AppState>) -> Router {
    let mut app = Router::new()
        .route(&state.telemetry_path.clone(), get(metrics))
        .route("/", get(landing))
        .route("/healthz", get(|| async { "ok\n" }))
        .route("/readyz", get(ready))
        .route("/-/reload", axum::routing::post(reload))
        .with_state(Arc::clone(&state));
    if let Some(remediator) = &state.remediation {
        app = app.merge(
            Router::new()
                .route(
                    crate::remediation::WEBHOOK_PATH,
                    axum::routing::post(crate::remediation::webhook),
                )
                .with_state(Arc::clone(remediator)),
        );
    }
    app
}

pub const PROTOBUF_CONTENT_TYPE: &str =
    "application/vnd.google.protobuf; proto=io.prometheus.client.MetricFamily; encoding=delimited";

/// The exposition formats `/metrics` answers in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    /// Length-delimited `MetricFamily` messages: the only one that carries native histograms.
    Protobuf,
    OpenMetrics,
    /// The classic text format (0.0.4).
    Text,
}

impl Format {
    pub fn content_type(self) -> &'static str {
        match self {
            Format::Protobuf => PROTOBUF_CONTENT_TYPE,
            Format::OpenMetrics => OPENMETRICS_CONTENT_TYPE,
            Format::Text => prometheus_client::encoding::prometheus_text::CONTENT_TYPE,
        }
    }

    /// The format a scraper's `Accept` prefers: the highest `q` among those offered (protobuf,
    /// then OpenMetrics, then text on a tie); text when it names none.
    pub fn negotiate(headers: &HeaderMap) -> Format {
        let mut best: Option<(f32, Format)> = None;
        let offered = headers
            .get_all(header::ACCEPT)
            .iter()
            .filter_map(|v| v.to_str().ok())
            .flat_map(|v| v.split(','));
        for range in offered {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or("").to_ascii_lowercase();
            let params: Vec<(String, String)> = parts
                .filter_map(|p| p.split_once('='))
                .map(|(k, v)| {
                    (
                        k.trim().to_ascii_lowercase(),
                        v.trim().trim_matches('"').to_string(),
                    )
                })
                .collect();
            let param = |name: &str| {
                params
                    .iter()
                    .find(|(k, _)| k == name)
                    .map(|(_, v)| v.as_str())
            };
            let format = match media.as_str() {
                "application/vnd.google.protobuf"
                    if param("proto") == Some("io.prometheus.client.MetricFamily")
                        && param("encoding") == Some("delimited") =>
                {
                    Format::Protobuf
                }
                "application/openmetrics-text" => Format::OpenMetrics,
                "text/plain" | "*/*" | "text/*" => Format::Text,
                _ => continue,
            };
            let q: f32 = param("q").and_then(|q| q.parse().ok()).unwrap_or(1.0);
            if q <= 0.0 {
                continue;
            }
            let rank = |f: Format| match f {
                Format::Protobuf => 2,
                Format::OpenMetrics => 1,
                Format::Text => 0,
            };
            let better = best.is_none_or(|(bq, bf)| q > bq || (q == bq && rank(format) > rank(bf)));
            if better {
                best = Some((q, format));
            }
        }
        best.map_or(Format::Text, |(_, f)| f)
    }

    /// Writes the exposition into `sink`: the target families from `targets`, then those of
    /// `registry` (the exporter's own). The target families go out a chunk at a time.
    pub fn write(
        self,
        targets: &SnapshotCollector,
        registry: &Registry,
        sink: &mut dyn std::io::Write,
    ) -> Result<(), String> {
        let failed = |e: std::fmt::Error| format!("encoding the metrics failed: {e}");
        match self {
            Format::Text | Format::OpenMetrics => {
                let openmetrics = self == Format::OpenMetrics;
                let mut writer = TextWriter::new(sink, openmetrics);
                let written = targets.write(&mut writer);
                writer.finish().map_err(|e| e.to_string())?;
                written.map_err(failed)?;
                let mut rest = String::with_capacity(16 * 1024);
                if openmetrics {
                    prometheus_client::encoding::text::encode(&mut rest, registry)
                } else {
                    prometheus_client::encoding::prometheus_text::encode(&mut rest, registry)
                }
                .map_err(failed)?;
                sink.write_all(rest.as_bytes()).map_err(|e| e.to_string())
            }
            Format::Protobuf => {
                let mut writer = ProtobufWriter::new(sink);
                let written = targets.write(&mut writer);
                writer.finish().map_err(|e| e.to_string())?;
                written.map_err(failed)?;
                let rest =
                    prometheus_client::encoding::prometheus_protobuf::encode_to_vec(registry)
                        .map_err(|e| format!("encoding the metrics failed: {e}"))?;
                sink.write_all(&rest).map_err(|e| e.to_string())
            }
        }
    }

    /// The whole exposition in one buffer.
    pub fn encode(
        self,
        targets: &SnapshotCollector,
        registry: &Registry,
    ) -> Result<Vec<u8>, String> {
        let mut body = Vec::new();
        self.write(targets, registry, &mut body)?;
        Ok(body)
    }
}

/// How long an encoding of unchanged target data is reused: the process and request metrics
/// in it are at most this old, well within any scrape interval, and a large exposition is not
/// rebuilt for every burst of scrapers.
const REUSE_SECONDS: u64 = 5;

/// A gzipped exposition, reused while nothing changed.
struct Encoded {
    generation: u64,
    /// When its encoding began.
    started: std::time::Instant,
    /// The `REUSE_SECONDS` period it was encoded in: time-derived values (process CPU, the age
    /// of running jobs, staleness) are at most that old.
    second: u64,
    gzip: bytes::Bytes,
}

/// One cache a format: the scrapers that take gzip (Prometheus does) share one encoding of
/// unchanged data, kept only compressed (a tenth to a fifteenth of its size).
pub struct EncodeCache {
    protobuf: tokio::sync::Mutex<Option<Encoded>>,
    openmetrics: tokio::sync::Mutex<Option<Encoded>>,
    classic: tokio::sync::Mutex<Option<Encoded>>,
    /// Uncompressed scrapes encoded at once; the others wait their turn, so that many of
    /// them cost neither every core nor a buffer each.
    streams: Arc<tokio::sync::Semaphore>,
}

/// How many uncompressed scrapes are encoded at once.
const CONCURRENT_STREAMS: usize = 2;

impl Default for EncodeCache {
    fn default() -> Self {
        Self {
            protobuf: Default::default(),
            openmetrics: Default::default(),
            classic: Default::default(),
            streams: Arc::new(tokio::sync::Semaphore::new(CONCURRENT_STREAMS)),
        }
    }
}

async fn metrics(State(state): State<Arc<AppState>>, headers: HeaderMap) -> Response {
    let format = Format::negotiate(&headers);
    let content_type = format.content_type();
    if !accepts_gzip(&headers) {
        return streamed(state, format).await;
    }
    let cache = match format {
        Format::Protobuf => &state.encoded.protobuf,
        Format::OpenMetrics => &state.encoded.openmetrics,
        Format::Text => &state.encoded.classic,
    };
    // Scrapers that arrive while an encoding runs wait for it and take its result: it began
    // after they arrived, so it is as fresh as one of their own.
    let arrived = std::time::Instant::now();
    let mut cached = cache.lock().await;
    let generation = state.store.generation();
    let second = SystemTime::now()
        .duration_since(SystemTime::UNIX_EPOCH)
        .map_or(0, |d| d.as_secs() / REUSE_SECONDS);
    let fresh = cached.as_ref().is_some_and(|e| {
        (e.generation == generation && e.second == second) || e.started >= arrived
    });
    if !fresh {
        let started = std::time::Instant::now();
        let encoder = Arc::clone(&state);
        // The stale encoding goes before the new one is written, so that the two are not held
        // at once (scrapes still sending it keep their own reference).
        let size_hint = cached.take().map_or(64 * 1024, |e| e.gzip.len());
        let encoded = tokio::task::spawn_blocking(move || {
            // Compressed as it is written: the plain exposition is never whole in memory.
            let mut gzip = flate2::write::GzEncoder::new(
                Vec::with_capacity(size_hint + size_hint / 8),
                flate2::Compression::fast(),
            );
            format.write(&encoder.targets, &encoder.registry, &mut gzip)?;
            let gzip = gzip.finish().map_err(|e| e.to_string());
            crate::memory::release_free_memory();
            gzip
        })
        .await;
        let gzip = match encoded {
            Ok(Ok(body)) => body,
            failed => {
                let error = match failed {
                    Ok(Err(e)) => e,
                    Err(e) => e.to_string(),
                    Ok(Ok(_)) => unreachable!(),
                };
                tracing::error!(error = %error, "encoding the metrics failed");
                return (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "encoding the metrics failed\n",
                )
                    .into_response();
            }
        };
        *cached = Some(Encoded {
            generation,
            started,
            second,
            gzip: bytes::Bytes::from(gzip),
        });
    }
    let Some(entry) = cached.as_ref() else {
        return (StatusCode::INTERNAL_SERVER_ERROR, "no encoding\n").into_response();
    };
    (
        [
            (header::CONTENT_TYPE, content_type),
            (header::CONTENT_ENCODING, "gzip"),
            (header::VARY, "Accept, Accept-Encoding"),
        ],
        entry.gzip.clone(),
    )
        .into_response()
}

/// An uncompressed exposition, encoded for this scraper and sent as it is written, a chunk
/// at a time: no full copy is held.
async fn streamed(state: Arc<AppState>, format: Format) -> Response {
    let Ok(permit) = Arc::clone(&state.encoded.streams).acquire_owned().await else {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    };
    let (mut sender, body) =
        http_body_util::channel::Channel::<bytes::Bytes, std::io::Error>::new(2);
    let runtime = tokio::runtime::Handle::current();
    tokio::task::spawn_blocking(move || {
        let _turn = permit;
        let mut sink = ChannelWriter {
            sender: &mut sender,
            runtime,
            stall_limit: STALL_LIMIT,
        };
        let written = format.write(&state.targets, &state.registry, &mut sink);
        if let Err(error) = written {
            // A scraper that went away or stopped reading is no error of the exporter's.
            if error.contains(GONE) || error.contains(STALLED) {
                tracing::debug!(error = %error, "uncompressed scrape ended early");
            } else {
                tracing::error!(error = %error, "encoding the metrics failed");
            }
            sender.abort(std::io::Error::other(error));
        }
        crate::memory::release_free_memory();
    });
    (
        [
            (header::CONTENT_TYPE, format.content_type()),
            (header::VARY, "Accept, Accept-Encoding"),
        ],
        axum::body::Body::new(body),
    )
        .into_response()
}

const GONE: &str = "the scraper went away";
const STALLED: &str = "the scraper stopped reading";

/// How long a chunk may wait for the scraper to take it: a scraper that stops reading must
/// not keep one of the `CONCURRENT_STREAMS` turns (and the snapshot) for good.
const STALL_LIMIT: std::time::Duration = std::time::Duration::from_secs(30);

/// Hands each chunk to the response body, waiting while the scraper is slower than the
/// encoding, up to `stall_limit` a chunk.
struct ChannelWriter<'s> {
    sender: &'s mut http_body_util::channel::Sender<bytes::Bytes, std::io::Error>,
    runtime: tokio::runtime::Handle,
    stall_limit: std::time::Duration,
}

impl std::io::Write for ChannelWriter<'_> {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        let chunk = bytes::Bytes::copy_from_slice(buf);
        let sent = self.runtime.block_on(async {
            tokio::time::timeout(self.stall_limit, self.sender.send_data(chunk)).await
        });
        match sent {
            Ok(Ok(())) => Ok(buf.len()),
            Ok(Err(_)) => Err(std::io::Error::new(std::io::ErrorKind::BrokenPipe, GONE)),
            Err(_) => Err(std::io::Error::new(std::io::ErrorKind::TimedOut, STALLED)),
        }
    }

    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

/// Whether the scraper takes gzip (and did not refuse it with `q=0`).
fn accepts_gzip(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|coding| {
            let mut parts = coding.split(';').map(str::trim);
            let name = parts.next().unwrap_or_default();
            let refused =
                parts.any(|p| p.replace(' ', "") == "q=0" || p.replace(' ', "") == "q=0.0");
            (name.eq_ignore_ascii_case("gzip") || name == "*") && !refused
        })
}

async fn reload(State(state): State<Arc<AppState>>) -> Response {
    let Some(requests) = &state.reload else {
        return (
            StatusCode::BAD_REQUEST,
            "POST /-/reload is off: start with --web.enable-lifecycle and a --config file (SIGHUP always reloads)\n",
        )
            .into_response();
    };
    let (reply, outcome) = tokio::sync::oneshot::channel();
    if requests.send(reply).await.is_err() {
        return (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response();
    }
    match outcome.await {
        Ok(Ok(())) => (StatusCode::OK, "reloaded\n").into_response(),
        Ok(Err(e)) => (
            StatusCode::INTERNAL_SERVER_ERROR,
            format!("reload failed, the previous configuration stays: {e}\n"),
        )
            .into_response(),
        Err(_) => (StatusCode::SERVICE_UNAVAILABLE, "shutting down\n").into_response(),
    }
}

async fn ready(State(state): State<Arc<AppState>>) -> Response {
    let reasons = state.store.load().not_ready();
    if reasons.is_empty() {
        (StatusCode::OK, "ready\n").into_response()
    } else {
        let mut body = String::from("not ready:\n");
        for reason in reasons {
            let _ = writeln!(body, "- {reason}");
        }
        (StatusCode::SERVICE_UNAVAILABLE, body).into_response()
    }
}

fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

fn ago(t: SystemTime, now: SystemTime) -> String {
    let secs = now.duration_since(t).unwrap_or_default().as_secs();
    humantime::format_duration(std::time::Duration::from_secs(secs)).to_string() + " ago"
}

fn attempt_cells(out: &mut String, attempt: Option<&Attempt>, now: SystemTime) {
    match attempt {
        None => out.push_str("<td>pending</td><td></td><td></td>"),
        Some(a) => {
            let status = if a.failure.is_none() { "ok" } else { "failed" };
            let _ = write!(
                out,
                "<td class=\"{status}\">{status}</td><td>{:.2} s</td><td>{}</td>",
                a.duration.as_secs_f64(),
                ago(a.finished, now)
            );
        }
    }
}

async fn landing(State(state): State<Arc<AppState>>) -> Html<String> {
    let snap = state.store.load();
    let now = SystemTime::now();
    let mut out = String::from(
        "<!doctype html><html><head><meta charset=\"utf-8\"><title>dcs-session-exporter</title>\
         <style>body{font-family:sans-serif;margin:2em}table{border-collapse:collapse}\
         td,th{border:1px solid #ccc;padding:4px 8px;text-align:left}.failed{color:#b00}.ok{color:#070}</style>\
         </head><body><h1>dcs-session-exporter</h1>",
    );
    let _ = write!(
        out,
        "<p>Version {} ({}). Metrics: <a href=\"{p}\">{p}</a>. Health: <a href=\"/healthz\">/healthz</a>, \
         <a href=\"/readyz\">/readyz</a>.</p><h2>DCS nodes</h2><table><tr><th>instance</th><th>node</th>\
         <th>last scan</th><th>duration</th><th>when</th><th>sessions</th><th>data age</th><th>last error</th></tr>",
        crate::metrics::VERSION,
        crate::metrics::REVISION,
        p = escape(&state.telemetry_path)
    );
    for (key, node) in &snap.nodes {
        let _ = write!(
            out,
            "<tr><td>{} <small>{}</small></td><td>{} <small>{}</small></td>",
            escape(&node.info.instance_name),
            escape(&key.instance_id),
            escape(&node.info.node_name),
            escape(&key.node_id)
        );
        attempt_cells(&mut out, node.last_attempt.as_ref(), now);
        match node.fresh_data(now, state.stale_after) {
            Some(d) => {
                let age = d.data_time.map(|t| ago(t, now)).unwrap_or_default();
                let _ = write!(out, "<td>{}</td><td>{age}</td>", d.aggregate.sessions);
            }
            None => out.push_str("<td></td><td></td>"),
        }
        let error = node
            .last_attempt
            .as_ref()
            .and_then(|a| a.failure.as_ref())
            .map(|f| format!("{}: {}", f.stage.as_str(), f.message))
            .unwrap_or_default();
        let _ = write!(out, "<td>{}</td></tr>", escape(&error));
    }
    out.push_str("</table><h2>DBSS resources</h2><table><tr><th>resource</th><th>last poll</th><th>duration</th><th>when</th><th>jobs</th><th>last error</th></tr>");
    for (resource, d) in &snap.dbss {
        let _ = write!(out, "<tr><td>{}</td>", escape(resource));
        attempt_cells(&mut out, d.last_attempt.as_ref(), now);
        let error = d
            .last_attempt
            .as_ref()
            .and_then(|a| a.failure.as_ref())
            .map(|f| f.message.clone())
            .unwrap_or_default();
        let _ = write!(
            out,
            "<td>{}</td><td>{}</td></tr>",
            d.jobs.len(),
            escape(&error)
        );
    }
    out.push_str("</table>");
    if let Some(accounts) = &state.accounts {
        credentials_table(&mut out, &accounts.load(), now);
    }
    out.push_str("</body></html>");
    Html(out)
}

/// Each account's credentials: where they come from, when they expire, how renewals went;
/// never a value.
fn credentials_table(out: &mut String, accounts: &crate::accounts::Accounts, now: SystemTime) {
    out.push_str("<h2>Accounts</h2><table><tr><th>cloud</th><th>credentials</th><th>expire</th><th>renewals</th><th>last renewal error</th></tr>");
    for cloud in accounts.clouds() {
        let _ = write!(out, "<tr><td>{}</td>", escape(&cloud.name));
        let client = match accounts.client(&cloud.name) {
            Ok(client) => client,
            Err(e) => {
                let _ = write!(
                    out,
                    "<td class=\"failed\" colspan=\"4\">{}</td></tr>",
                    escape(&e.to_string())
                );
                continue;
            }
        };
        let status = client.credentials().status();
        let expiry = match status.expires_at {
            Some(end) => {
                let left = end.duration_since(now).unwrap_or_default().as_secs();
                format!(
                    "{} (in {})",
                    humantime::format_rfc3339_seconds(end),
                    humantime::format_duration(std::time::Duration::from_secs(left))
                )
            }
            None if status.temporary => "not obtained yet".into(),
            None => "never (static keys)".into(),
        };
        let renewals = status
            .refreshes
            .iter()
            .filter(|(_, n)| *n > 0)
            .map(|(result, n)| format!("{n} {result}"))
            .collect::<Vec<_>>()
            .join(", ");
        let _ = write!(
            out,
            "<td>{} <small>{}</small></td><td>{}</td><td>{}</td><td class=\"failed\">{}</td></tr>",
            escape(status.source),
            escape(&status.description),
            escape(&expiry),
            escape(&renewals),
            escape(status.last_error.as_deref().unwrap_or_default())
        );
    }
    out.push_str("</table>");
}

#[cfg(test)]
mod format_tests {
    use super::*;

    /// A streamed body hands on every chunk in order, and a scraper that goes away stops the
    /// writing with an error the handler does not log.
    #[test]
    fn a_streamed_body_carries_every_chunk_and_notices_a_scraper_gone_or_stalled() {
        use http_body_util::BodyExt;
        use std::io::Write;
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(1)
            .enable_all()
            .build()
            .unwrap();
        let (mut sender, body) =
            http_body_util::channel::Channel::<bytes::Bytes, std::io::Error>::new(2);
        let handle = runtime.handle().clone();
        let writer = std::thread::spawn(move || {
            let mut sink = ChannelWriter {
                sender: &mut sender,
                runtime: handle,
                stall_limit: STALL_LIMIT,
            };
            for i in 0..100u8 {
                sink.write_all(&[i; 1000]).unwrap();
            }
        });
        let received = runtime.block_on(async {
            tokio::time::timeout(std::time::Duration::from_secs(10), body.collect())
                .await
                .unwrap()
                .unwrap()
                .to_bytes()
        });
        writer.join().unwrap();
        assert_eq!(received.len(), 100_000);
        assert!(
            received
                .chunks(1000)
                .enumerate()
                .all(|(i, c)| c.iter().all(|b| *b == i as u8))
        );

        let (mut sender, body) =
            http_body_util::channel::Channel::<bytes::Bytes, std::io::Error>::new(2);
        drop(body);
        let mut sink = ChannelWriter {
            sender: &mut sender,
            runtime: runtime.handle().clone(),
            stall_limit: STALL_LIMIT,
        };
        let error = sink.write_all(b"metrics").unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::BrokenPipe);
        assert!(error.to_string().contains(GONE));

        // A scraper that keeps the connection but stops reading: once the channel is full, the
        // next chunk waits out the limit and the writing ends (waited for, bounded, here).
        let (mut sender, _unread) =
            http_body_util::channel::Channel::<bytes::Bytes, std::io::Error>::new(2);
        let handle = runtime.handle().clone();
        let (done, results) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            let mut sink = ChannelWriter {
                sender: &mut sender,
                runtime: handle,
                stall_limit: std::time::Duration::from_millis(200),
            };
            let written: Vec<_> = (0..4).map(|_| sink.write_all(b"chunk")).collect();
            let _ = done.send(written);
        });
        let results = results
            .recv_timeout(std::time::Duration::from_secs(10))
            .expect("a stalled scraper ends the writing");
        assert!(results[..2].iter().all(Result::is_ok), "{results:?}");
        let error = results[2].as_ref().unwrap_err();
        assert_eq!(error.kind(), std::io::ErrorKind::TimedOut);
        assert!(error.to_string().contains(STALLED));
    }

    fn accept(value: &str) -> Format {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT, value.parse().unwrap());
        Format::negotiate(&headers)
    }

    #[test]
    fn the_scrapers_preference_decides_the_format() {
        // Prometheus with native histograms on.
        assert_eq!(
            accept(
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.7,text/plain;version=0.0.4;q=0.3,*/*;q=0.2"
            ),
            Format::Protobuf
        );
        // Prometheus without them.
        assert_eq!(
            accept(
                "application/openmetrics-text;version=1.0.0,application/openmetrics-text;version=0.0.1;q=0.75,text/plain;version=0.0.4;q=0.5,*/*;q=0.1"
            ),
            Format::OpenMetrics
        );
        assert_eq!(accept("*/*"), Format::Text);
        assert_eq!(accept("application/json"), Format::Text);
        // Protobuf of another message, or refused, is not taken.
        assert_eq!(
            accept("application/vnd.google.protobuf;proto=other.Message;encoding=delimited"),
            Format::Text
        );
        assert_eq!(
            accept(
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0,text/plain"
            ),
            Format::Text
        );
        // A higher q wins over the order of preference.
        assert_eq!(
            accept(
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited;q=0.2,application/openmetrics-text;q=0.9"
            ),
            Format::OpenMetrics
        );
        assert_eq!(Format::negotiate(&HeaderMap::new()), Format::Text);
    }
}
