//! The log: logfmt (`ts=... level=... target=... msg="..." key=value`) or JSON, on stderr.
//! Every logfmt value is escaped, so a value from an API answer or a webhook payload cannot
//! start a line of its own or pass for another key.

use std::fmt::{self, Write as _};
use std::time::SystemTime;

use tracing::field::{Field, Visit};
use tracing::{Event, Subscriber};
use tracing_subscriber::field::RecordFields;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    Logfmt,
    Json,
}

#[derive(Debug, thiserror::Error)]
#[error("invalid --log.level {level:?}: {source}")]
pub struct LogLevelError {
    level: String,
    source: tracing_subscriber::filter::ParseError,
}

/// Logs to stderr at `level` (a level or a tracing filter) in `format`.
pub fn init(level: &str, format: LogFormat) -> Result<(), LogLevelError> {
    let filter = tracing_subscriber::EnvFilter::try_new(level).map_err(|source| LogLevelError {
        level: level.to_string(),
        source,
    })?;
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(false);
    match format {
        LogFormat::Json => builder.json().init(),
        LogFormat::Logfmt => builder.fmt_fields(LogfmtFields).event_format(Logfmt).init(),
    }
    Ok(())
}

/// Writes `key=value`: the key with every character logfmt does not allow in a key as `_`.
fn write_key(out: &mut impl fmt::Write, key: &str) -> fmt::Result {
    if key.is_empty() {
        return out.write_char('_');
    }
    for c in key.chars() {
        out.write_char(if c <= ' ' || c == '=' || c == '"' || c.is_control() {
            '_'
        } else {
            c
        })?;
    }
    Ok(())
}

/// A value, quoted when it is empty or holds a space, `=`, `"` or a control character; inside
/// quotes `\`, `"` and control characters are escaped.
pub fn write_value(out: &mut impl fmt::Write, value: &str) -> fmt::Result {
    let plain = !value.is_empty()
        && !value
            .chars()
            .any(|c| c <= ' ' || c == '=' || c == '"' || c == '\\' || c.is_control());
    if plain {
        return out.write_str(value);
    }
    out.write_char('"')?;
    for c in value.chars() {
        match c {
            '\\' => out.write_str("\\\\")?,
            '"' => out.write_str("\\\"")?,
            '\n' => out.write_str("\\n")?,
            '\r' => out.write_str("\\r")?,
            '\t' => out.write_str("\\t")?,
            c if c.is_control() => write!(out, "\\u{:04x}", u32::from(c))?,
            c => out.write_char(c)?,
        }
    }
    out.write_char('"')
}

/// The fields of an event or a span as ` key=value` pairs; the message apart.
#[derive(Default)]
struct Pairs {
    message: Option<String>,
    pairs: String,
}

impl Pairs {
    fn push(&mut self, field: &Field, value: &str) {
        if field.name() == "message" {
            self.message = Some(value.to_string());
            return;
        }
        // Writing to a String cannot fail.
        let _ = self.pairs.write_char(' ');
        let _ = write_key(&mut self.pairs, field.name());
        let _ = self.pairs.write_char('=');
        let _ = write_value(&mut self.pairs, value);
    }
}

impl Visit for Pairs {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.push(field, value);
    }

    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.push(field, &format!("{value:?}"));
    }
}

/// Formats span fields as logfmt pairs, stored with the span for its events.
pub struct LogfmtFields;

impl<'writer> FormatFields<'writer> for LogfmtFields {
    fn format_fields<R: RecordFields>(
        &self,
        mut writer: Writer<'writer>,
        fields: R,
    ) -> fmt::Result {
        let mut pairs = Pairs::default();
        fields.record(&mut pairs);
        if let Some(message) = pairs.message {
            pairs.pairs.insert_str(0, &{
                let mut m = String::from(" message=");
                write_value(&mut m, &message)?;
                m
            });
        }
        writer.write_str(pairs.pairs.trim_start())
    }
}

/// `ts=... level=... target=... msg="..."`, the event's fields, then its spans' fields,
/// outermost first.
pub struct Logfmt;

impl<S, N> FormatEvent<S, N> for Logfmt
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        let meta = event.metadata();
        let mut pairs = Pairs::default();
        event.record(&mut pairs);
        let mut line = String::with_capacity(160);
        write!(
            line,
            "ts={} level={} target=",
            humantime::format_rfc3339_millis(SystemTime::now()),
            meta.level().as_str().to_ascii_lowercase()
        )?;
        write_value(&mut line, meta.target())?;
        line.push_str(" msg=");
        write_value(&mut line, pairs.message.as_deref().unwrap_or_default())?;
        line.push_str(&pairs.pairs);
        if let Some(scope) = ctx.event_scope() {
            for span in scope.from_root() {
                let extensions = span.extensions();
                if let Some(fields) = extensions.get::<FormattedFields<N>>()
                    && !fields.is_empty()
                {
                    line.push(' ');
                    line.push_str(fields);
                }
            }
        }
        line.push('\n');
        writer.write_str(&line)
    }
}

#[cfg(test)]
mod tests {
    use super::write_value;

    fn value(v: &str) -> String {
        let mut out = String::new();
        write_value(&mut out, v).unwrap();
        out
    }

    #[test]
    fn values_are_quoted_and_escaped_when_they_must_be() {
        assert_eq!(value("plain"), "plain");
        assert_eq!(value(""), "\"\"");
        assert_eq!(value("two words"), "\"two words\"");
        assert_eq!(value("a=b"), "\"a=b\"");
        assert_eq!(
            value("x\nts=forged level=error"),
            "\"x\\nts=forged level=error\""
        );
        assert_eq!(value("say \"hi\"\\"), "\"say \\\"hi\\\"\\\\\"");
        assert_eq!(value("bell\u{7}"), "\"bell\\u0007\"");
        assert_eq!(value("节点"), "节点");
    }
}
