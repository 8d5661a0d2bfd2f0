//! Uncompressed scrapes: the exposition is encoded for each scraper and sent as it is
//! written, a chunk at a time, so no full copy is held; a few at once, each bounded in time.

use std::sync::Arc;

use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};

use super::format::{EncodeError, Format};

/// How many uncompressed scrapes are encoded at once.
const CONCURRENT_STREAMS: usize = 2;

/// The turns of uncompressed scrapes: the others wait, so that many of them cost neither
/// every core nor a buffer each.
pub(super) struct Streams(Arc<tokio::sync::Semaphore>);

impl Default for Streams {
    fn default() -> Self {
        Self(Arc::new(tokio::sync::Semaphore::new(CONCURRENT_STREAMS)))
    }
}

impl Streams {
    /// Waits for a turn, then answers with a body that `write` fills on a blocking thread.
    pub(super) async fn send<W>(&self, format: Format, write: W) -> Response
    where
        W: FnOnce(&mut dyn std::io::Write) -> Result<(), EncodeError> + Send + 'static,
    {
        let Ok(permit) = Arc::clone(&self.0).acquire_owned().await else {
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
            let written = write(&mut sink);
            if let Err(error) = written {
                // A scraper that went away or stopped reading is no error of the exporter's.
                if error.scraper_ended() {
                    tracing::debug!(error = %error, "uncompressed scrape ended early");
                } else {
                    tracing::error!(error = %error, "encoding the metrics failed");
                }
                sender.abort(std::io::Error::other(error.to_string()));
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
}

/// Why a write failed when the scraper is the cause: not logged as the exporter's error.
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

#[cfg(test)]
mod tests {
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
}
