//! The encodings `/metrics` keeps: one gzipped exposition a format, shared by the scrapers
//! that take gzip and reused while nothing changed, and the turns of those that do not.

use std::time::{Instant, SystemTime};

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::format::{EncodeError, Format};
use super::stream::Streams;
use crate::snapshot::Store;

/// How long an encoding of unchanged target data is reused: the process and request metrics
/// in it are at most this old, well within any scrape interval, and a large exposition is not
/// rebuilt for every burst of scrapers.
const REUSE_SECONDS: u64 = 5;

/// A gzipped exposition, reused while nothing changed.
struct Encoded {
    generation: u64,
    /// When its encoding began.
    started: Instant,
    /// The `REUSE_SECONDS` period it was encoded in: time-derived values (process CPU, the age
    /// of running jobs, staleness) are at most that old.
    second: u64,
    gzip: bytes::Bytes,
}

/// One cache a format: the scrapers that take gzip (Prometheus does) share one encoding of
/// unchanged data, kept only compressed (a tenth to a fifteenth of its size).
#[derive(Default)]
pub struct EncodeCache {
    protobuf: tokio::sync::Mutex<Option<Encoded>>,
    openmetrics: tokio::sync::Mutex<Option<Encoded>>,
    classic: tokio::sync::Mutex<Option<Encoded>>,
    /// Uncompressed scrapes encoded at once; the others wait their turn.
    streams: Streams,
}

impl EncodeCache {
    /// The exposition in `format`, gzipped: the kept one while `store` has not changed within
    /// the same `REUSE_SECONDS`, else one `write` makes now on a blocking thread.
    pub(super) async fn gzipped<W>(&self, format: Format, store: &Store, write: W) -> Response
    where
        W: FnOnce(&mut dyn std::io::Write) -> Result<(), EncodeError> + Send + 'static,
    {
        let content_type = format.content_type();
        let cache = match format {
            Format::Protobuf => &self.protobuf,
            Format::OpenMetrics => &self.openmetrics,
            Format::Text => &self.classic,
        };
        // Scrapers that arrive while an encoding runs wait for it and take its result: it began
        // after they arrived, so it is as fresh as one of their own.
        let arrived = Instant::now();
        let mut cached = cache.lock().await;
        let generation = store.generation();
        let second = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0, |d| d.as_secs() / REUSE_SECONDS);
        let fresh = cached.as_ref().is_some_and(|e| {
            (e.generation == generation && e.second == second) || e.started >= arrived
        });
        if !fresh {
            let started = Instant::now();
            // The stale encoding goes before the new one is written, so that the two are not held
            // at once (scrapes still sending it keep their own reference).
            let size_hint = cached.take().map_or(64 * 1024, |e| e.gzip.len());
            let encoded = tokio::task::spawn_blocking(move || {
                // Compressed as it is written: the plain exposition is never whole in memory.
                let mut gzip = flate2::write::GzEncoder::new(
                    Vec::with_capacity(size_hint + size_hint / 8),
                    flate2::Compression::fast(),
                );
                write(&mut gzip)?;
                let gzip = gzip.finish().map_err(EncodeError::from);
                crate::memory::release_free_memory();
                gzip
            })
            .await;
            let gzip = match encoded {
                Ok(Ok(body)) => body,
                failed => {
                    let error = match failed {
                        Ok(Err(e)) => e.to_string(),
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

    /// The exposition in `format`, uncompressed: written by `write` straight into the body,
    /// once one of the turns is free.
    pub(super) async fn streamed<W>(&self, format: Format, write: W) -> Response
    where
        W: FnOnce(&mut dyn std::io::Write) -> Result<(), EncodeError> + Send + 'static,
    {
        self.streams.send(format, write).await
    }
}
