//! Content negotiation and the exposition formats: which format a scraper's `Accept` asks
//! for, whether it takes gzip, and the writing of each format.

use axum::http::{HeaderMap, header};
use prometheus_client::registry::Registry;

use crate::metrics::SnapshotCollector;
use crate::metrics::exposition::{ProtobufWriter, TextWriter};

pub const OPENMETRICS_CONTENT_TYPE: &str =
    "application/openmetrics-text; version=1.0.0; charset=utf-8";
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
            // An entry whose weight is no valid q-value is ignored, as one at q=0.
            let q = match param("q") {
                Some(q) => match qvalue(q) {
                    Some(q) if q > 0.0 => q,
                    _ => continue,
                },
                None => 1.0,
            };
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
    ) -> Result<(), EncodeError> {
        match self {
            Format::Text | Format::OpenMetrics => {
                let openmetrics = self == Format::OpenMetrics;
                let mut writer = TextWriter::new(sink, openmetrics);
                let written = targets.write(&mut writer);
                writer.finish()?;
                written?;
                let mut rest = String::with_capacity(16 * 1024);
                if openmetrics {
                    prometheus_client::encoding::text::encode(&mut rest, registry)
                } else {
                    prometheus_client::encoding::prometheus_text::encode(&mut rest, registry)
                }?;
                Ok(sink.write_all(rest.as_bytes())?)
            }
            Format::Protobuf => {
                let mut writer = ProtobufWriter::new(sink);
                let written = targets.write(&mut writer);
                writer.finish()?;
                written?;
                let rest =
                    prometheus_client::encoding::prometheus_protobuf::encode_to_vec(registry)?;
                Ok(sink.write_all(&rest)?)
            }
        }
    }

    /// The whole exposition in one buffer.
    pub fn encode(
        self,
        targets: &SnapshotCollector,
        registry: &Registry,
    ) -> Result<Vec<u8>, EncodeError> {
        let mut body = Vec::new();
        self.write(targets, registry, &mut body)?;
        Ok(body)
    }
}

/// Whether the scraper takes gzip, as RFC 9110 weighs `Accept-Encoding`: `gzip` named with a
/// weight above 0, or, where gzip is not named, `*` with one; `q=0` refuses, and an entry whose
/// weight is no valid q-value counts for nothing.
pub(super) fn accepts_gzip(headers: &HeaderMap) -> bool {
    let (mut gzip, mut any) = (None, None);
    let codings = headers
        .get_all(header::ACCEPT_ENCODING)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','));
    for coding in codings {
        let mut parts = coding.split(';').map(str::trim);
        let name = parts.next().unwrap_or_default();
        let weight = parts
            .filter_map(|p| p.split_once('='))
            .find(|(k, _)| k.trim().eq_ignore_ascii_case("q"))
            .map_or(Some(1.0), |(_, v)| qvalue(v.trim()))
            .unwrap_or(0.0);
        if name.eq_ignore_ascii_case("gzip") {
            gzip = Some(weight);
        } else if name == "*" {
            any = Some(weight);
        }
    }
    gzip.or(any).is_some_and(|w| w > 0.0)
}

/// An RFC 9110 q-value: `0` to `1`, at most three decimals (`0.5`, `1.000`); anything else
/// (`NaN`, `2`, `-1`, `0.0001`) is none.
fn qvalue(text: &str) -> Option<f32> {
    let (whole, fraction) = text.split_once('.').unwrap_or((text, ""));
    if fraction.len() > 3 || !fraction.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let thousandths = fraction
        .bytes()
        .fold(0u32, |n, b| n * 10 + u32::from(b - b'0'))
        * 10u32.pow(3 - fraction.len() as u32);
    match whole {
        "0" => Some(thousandths as f32 / 1000.0),
        "1" if thousandths == 0 => Some(1.0),
        _ => None,
    }
}

/// Why an exposition could not be written.
#[derive(Debug, thiserror::Error)]
pub enum EncodeError {
    #[error("encoding the metrics failed: {0}")]
    Encode(#[from] std::fmt::Error),
    #[error("encoding the metrics failed: {0}")]
    Protobuf(#[from] prometheus_client::encoding::prometheus_protobuf::EncodeError),
    /// The sink refused the bytes (for a streamed scrape: the scraper went away or stalled).
    #[error("{0}")]
    Write(#[from] std::io::Error),
}

impl EncodeError {
    /// Whether the scraper ended the scrape (went away or stopped reading): no error of the
    /// exporter's.
    pub fn scraper_ended(&self) -> bool {
        matches!(self, EncodeError::Write(e) if matches!(e.kind(), std::io::ErrorKind::BrokenPipe | std::io::ErrorKind::TimedOut))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

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
        // A weight that is no q-value makes its entry count for nothing.
        assert_eq!(
            accept(
                "application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited,text/plain;q=NaN"
            ),
            Format::Protobuf
        );
        assert_eq!(
            accept("application/openmetrics-text;q=2,text/plain;q=0.5"),
            Format::Text
        );
    }

    fn encodings(value: &str) -> bool {
        let mut headers = HeaderMap::new();
        headers.insert(header::ACCEPT_ENCODING, value.parse().unwrap());
        accepts_gzip(&headers)
    }

    #[test]
    fn gzip_is_taken_as_rfc_9110_weighs_it() {
        assert!(encodings("gzip"));
        assert!(encodings("deflate, gzip;q=0.5"));
        assert!(encodings("*"));
        assert!(!encodings("identity"));
        for refused in [
            "gzip;q=0",
            "gzip;q=0.000",
            "gzip; Q=0",
            "gzip;q=0, *",
            "*;q=0",
        ] {
            assert!(!encodings(refused), "{refused}");
        }
        for invalid in ["gzip;q=NaN", "gzip;q=-1", "gzip;q=1.5", "gzip;q=0.0001"] {
            assert!(!encodings(invalid), "{invalid}");
        }
        assert_eq!(qvalue("0.25"), Some(0.25));
        assert_eq!(qvalue("1.000"), Some(1.0));
        assert_eq!(qvalue("inf"), None);
    }
}
