//! What every part of the landing page writes with: escaping, times, counts, scan cells, and
//! the page's one stylesheet.

use std::fmt::Write as _;
use std::time::{Duration, SystemTime};

use crate::snapshot::Attempt;

/// The page's only style: no external asset, no script. Every cell may wrap anywhere, so that
/// long upstream text (ids, error messages) never widens a table past the window.
pub(super) const STYLE: &str = "\
body{font-family:sans-serif;margin:1em 2em;color:#222}\
h1{margin:.2em 0}nav{margin-bottom:1em}nav a{margin-right:1em}\
table{border-collapse:collapse;width:100%}\
td,th{border:1px solid #ccc;padding:3px 6px;text-align:left;vertical-align:top;overflow-wrap:anywhere}\
th{background:#f3f3f3;white-space:nowrap}small{color:#666}small.below{display:block}\
.failed{color:#b00}.ok{color:#070}.pending,.note{color:#666}.stale,.idle{color:#b60}\
.num{text-align:right}.num,.fit{white-space:nowrap}\
.glance{display:flex;flex-wrap:wrap;gap:.5em;padding:0;margin:0 0 1em;list-style:none}\
.glance li{border:1px solid #ccc;border-radius:4px;padding:.3em .8em}\
.glance b{display:block;font-size:1.4em}\
.bar{background:#eee;height:.5em;border-radius:2px;margin-top:2px}\
.bar span{display:block;height:100%;border-radius:2px;background:#3a3}\
.bar .busy{background:#d90}.bar .full{background:#c22}";

/// Text made safe inside HTML, attribute values included.
pub(super) fn escape(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
        .replace('\'', "&#39;")
}

/// A duration in whole seconds, as people read it (`1h 2m 3s`).
pub(super) fn span(d: Duration) -> String {
    humantime::format_duration(Duration::from_secs(d.as_secs())).to_string()
}

/// How long before `now`, in whole seconds.
pub(super) fn ago(t: SystemTime, now: SystemTime) -> String {
    span(now.duration_since(t).unwrap_or_default()) + " ago"
}

/// A count with thousands separated (`12,345`).
pub(super) fn count(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// The status, duration and time of a last scan or poll (or "pending").
pub(super) fn attempt_cells(out: &mut String, attempt: Option<&Attempt>, now: SystemTime) {
    match attempt {
        None => out.push_str("<td class=\"pending\">pending</td><td></td><td></td>"),
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn escapes_every_character_that_could_open_markup() {
        assert_eq!(
            escape(r#"<a href="x" title='y'>&</a>"#),
            "&lt;a href=&quot;x&quot; title=&#39;y&#39;&gt;&amp;&lt;/a&gt;"
        );
    }

    #[test]
    fn counts_have_thousands_separated() {
        assert_eq!(count(0), "0");
        assert_eq!(count(999), "999");
        assert_eq!(count(1_000), "1,000");
        assert_eq!(count(12_345_678), "12,345,678");
    }
}
