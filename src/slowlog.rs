//! Slow commands by client: entries of a slow log (DCS's `slowlog` API or Redis's `SLOWLOG
//! GET`), each counted once however often a poll window returns it, into counters by shard,
//! client address and command whose labels stay bounded.

use std::collections::{BTreeMap, BTreeSet, HashMap};
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use crate::aggregate::{Histogram, OTHER, UNKNOWN};
use crate::cloud::dcs::{SlowlogItem, parse_list_time};
use crate::redis::SlowlogRecord;
use crate::session::strip_port;

/// Bounds of the slow-command duration histogram, in seconds: slow logs record from a
/// threshold of about 10 ms by default, and a command of seconds blocks every client.
pub const DURATION_BUCKETS: [f64; 12] = [
    0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// How far back every poll looks at least: a slow log may publish an entry some time after the
/// command ran, and entries seen in an earlier window are recognised, not counted again.
pub const MIN_LOOKBACK: Duration = Duration::from_secs(600);

/// The window a poll reads: [`MIN_LOOKBACK`], or three scan intervals when that is longer.
pub fn lookback(scan_interval: Duration) -> Duration {
    MIN_LOOKBACK.max(scan_interval.saturating_mul(3))
}

/// How far past the log's clock an entry's time is believed: the service's clock and the
/// time it stamps may differ a little; an entry later than this (year 9000, an hour ahead) is
/// refused, neither counted nor remembered.
pub const MAX_AHEAD: Duration = Duration::from_secs(300);

/// Whether an entry dated `time` is past what is believed at `now` by the log's clock
/// ([`MAX_AHEAD`]): refused, neither counted nor remembered.
pub fn dated_ahead(time: SystemTime, now: SystemTime) -> bool {
    time > now.checked_add(MAX_AHEAD).unwrap_or(now)
}

/// The longest duration a slow-log entry is believed: no command runs for a day.
pub const MAX_SLOW_DURATION: Duration = Duration::from_secs(86_400);

/// A DCS duration, milliseconds as text, within `0..=MAX_SLOW_DURATION`; never a panic on
/// what the wire says (`1e300`, `NaN`, `-5`).
fn dcs_duration(millis: &str) -> Option<Duration> {
    let millis: f64 = millis.trim().parse().ok()?;
    if !(0.0..=MAX_SLOW_DURATION.as_secs_f64() * 1000.0).contains(&millis) {
        return None;
    }
    Duration::try_from_secs_f64(millis / 1000.0).ok()
}

/// One slow-log entry, as both sources give it.
#[derive(Clone, Debug, PartialEq)]
pub struct SlowEntry {
    /// The log's id: unique within a shard and role (DCS) or a server's run (Redis).
    pub id: i64,
    pub time: SystemTime,
    pub duration: Duration,
    /// The DCS shard (cluster instances), or the node of a Redis target; empty when the entry
    /// does not say.
    pub shard: String,
    /// `master`, `slave`, `proxy`, ... where the entry says.
    pub role: String,
    /// The client's address, without the port; empty when the entry does not say.
    pub client_addr: String,
    /// The command's name, lower case.
    pub command: String,
}

impl SlowEntry {
    /// The command's name from a command line or its first argument: lower case, at most 32
    /// characters, anything but `[a-z0-9_.|-]` dropped (slow logs truncate and quote
    /// arguments; a name is never longer).
    pub fn command_name(line: &str) -> String {
        let name: String = line
            .split_whitespace()
            .next()
            .unwrap_or("")
            .chars()
            .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '|' | '-'))
            .take(32)
            .collect::<String>()
            .to_ascii_lowercase();
        if name.is_empty() {
            UNKNOWN.to_string()
        } else {
            name
        }
    }

    /// The address a client field gives (`ip:port`, `[v6]:port` or an address).
    pub fn client_host(addr: &str) -> String {
        strip_port(addr.trim()).to_string()
    }

    /// An entry of a DCS instance's slow log; `None` without a time to place it by.
    /// An entry whose duration is out of range ([`SlowEntry::has_invalid_duration`]) is
    /// refused too.
    pub fn from_dcs(item: &SlowlogItem) -> Option<SlowEntry> {
        let time = parse_list_time(item.start_time.as_deref()?)?;
        let duration = match item.duration.as_deref() {
            Some(millis) => dcs_duration(millis)?,
            None => Duration::ZERO,
        };
        Some(SlowEntry {
            id: item.id.unwrap_or(-1),
            time,
            duration,
            shard: item.shard_name.clone().unwrap_or_default(),
            role: item.node_role.clone().unwrap_or_default(),
            client_addr: item
                .client_ip
                .as_deref()
                .map(SlowEntry::client_host)
                .unwrap_or_default(),
            command: SlowEntry::command_name(item.command.as_deref().unwrap_or("")),
        })
    }

    /// Whether a DCS entry's duration is given but no number of milliseconds in range (not a
    /// number, negative, not finite, or over [`MAX_SLOW_DURATION`]).
    pub fn has_invalid_duration(item: &SlowlogItem) -> bool {
        item.duration
            .as_deref()
            .is_some_and(|d| dcs_duration(d).is_none())
    }

    /// An entry of a Redis server's `SLOWLOG GET`; `shard` names the node.
    pub fn from_redis(record: &SlowlogRecord, shard: &str) -> SlowEntry {
        SlowEntry {
            id: record.id,
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(record.timestamp.max(0) as u64),
            duration: Duration::from_micros(record.micros.max(0) as u64),
            shard: shard.to_string(),
            role: String::new(),
            client_addr: SlowEntry::client_host(&record.client_addr),
            command: SlowEntry::command_name(record.args.first().map_or("", String::as_str)),
        }
    }

    fn key(&self) -> EntryKey {
        (self.shard.clone(), self.role.clone(), self.id, self.time)
    }
}

type EntryKey = (String, String, i64, SystemTime);

/// What a poller remembers between polls, so each entry is counted once: the entries seen
/// within the look-back window. The first poll only learns what is there: a counter starts at
/// zero, not with the log's history.
#[derive(Debug)]
pub struct SlowLogCursor {
    lookback: Duration,
    primed: bool,
    seen: HashMap<EntryKey, SystemTime>,
}

impl SlowLogCursor {
    pub fn new(lookback: Duration) -> Self {
        Self {
            lookback,
            primed: false,
            seen: HashMap::new(),
        }
    }

    /// The window to read at `now` (by the log's clock): `(start, now)`.
    pub fn window(&self, now: SystemTime) -> (SystemTime, SystemTime) {
        (now.checked_sub(self.lookback).unwrap_or(now), now)
    }

    /// The entries of a poll at `now` (by the log's clock) not counted before; entries older
    /// than the window are left out, as they may have been forgotten, and entries dated more
    /// than [`MAX_AHEAD`] past `now` are refused.
    pub fn take_new(&mut self, entries: Vec<SlowEntry>, now: SystemTime) -> Taken {
        let (floor, _) = self.window(now);
        let primed = std::mem::replace(&mut self.primed, true);
        let mut taken = Taken::default();
        for entry in entries {
            if dated_ahead(entry.time, now) {
                taken.ahead += 1;
                continue;
            }
            if entry.time < floor {
                continue;
            }
            if self.seen.insert(entry.key(), entry.time).is_none() && primed {
                taken.new.push(entry);
            }
        }
        self.seen.retain(|_, time| *time >= floor);
        taken
    }

    /// Entries remembered (at most those of one window).
    pub fn remembered(&self) -> usize {
        self.seen.len()
    }
}

/// What a poll of a slow log gave.
#[derive(Debug, Default)]
pub struct Taken {
    /// The entries not counted before.
    pub new: Vec<SlowEntry>,
    /// Entries refused as dated more than [`MAX_AHEAD`] past the log's clock.
    pub ahead: usize,
}

/// How far the slow-command labels of an instance may spread.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct SlowCaps {
    /// Client addresses with a label of their own (`max_client_addrs`).
    pub addrs: usize,
    /// Commands with a label of their own (`max_client_commands`).
    pub commands: usize,
    /// Series of `dcs_slow_commands_total` (`max_slow_command_series`): past it, a new
    /// combination counts under its shard's `other`/`other` (a shard new past the cap under
    /// `other` too).
    pub series: usize,
}

/// The slow commands of one instance since the exporter started.
#[derive(Clone, Debug, PartialEq)]
pub struct SlowCommands {
    /// Entries by `(shard, client_addr, command)`, addresses and commands folded.
    pub counts: BTreeMap<(String, String, String), u64>,
    pub duration: Histogram,
    /// Addresses and commands with labels of their own: once given, kept, so that no counter
    /// moves into `other` and back.
    addrs: BTreeSet<String>,
    commands: BTreeSet<String>,
}

impl Default for SlowCommands {
    fn default() -> Self {
        Self {
            counts: BTreeMap::new(),
            duration: Histogram::new(Arc::from(DURATION_BUCKETS.as_slice())).with_native(true),
            addrs: BTreeSet::new(),
            commands: BTreeSet::new(),
        }
    }
}

impl SlowCommands {
    /// Counts new entries. Addresses and commands get labels of their own busiest first, among
    /// those seen in this batch, while places remain; the rest count under `other`. Once the
    /// series reach their cap, a new combination counts under its shard's `other`/`other`.
    pub fn record(&mut self, entries: &[SlowEntry], caps: &SlowCaps) {
        admit(&mut self.addrs, entries.iter().map(addr_label), caps.addrs);
        admit(
            &mut self.commands,
            entries.iter().map(|e| e.command.as_str()),
            caps.commands,
        );
        for e in entries {
            let addr = addr_label(e);
            let addr = if self.addrs.contains(addr) {
                addr
            } else {
                OTHER
            };
            let command = if self.commands.contains(&e.command) {
                e.command.as_str()
            } else {
                OTHER
            };
            let mut key = (e.shard.clone(), addr.to_string(), command.to_string());
            if self.counts.len() >= caps.series && !self.counts.contains_key(&key) {
                // Past the cap: the shard's other/other, or, for a shard without a series
                // yet, other/other/other, so that no answer can add series without end.
                // The counts are ordered by shard first: one look finds whether it has any.
                let from = (e.shard.clone(), String::new(), String::new());
                let known_shard = self
                    .counts
                    .range(from..)
                    .next()
                    .is_some_and(|((shard, _, _), _)| *shard == e.shard);
                let shard = if known_shard { e.shard.as_str() } else { OTHER };
                key = (shard.to_string(), OTHER.to_string(), OTHER.to_string());
            }
            *self.counts.entry(key).or_insert(0) += 1;
            self.duration.observe(e.duration.as_secs_f64());
        }
        self.duration.seal();
    }

    /// Every entry counted.
    pub fn total(&self) -> u64 {
        self.duration.count
    }
}

fn addr_label(e: &SlowEntry) -> &str {
    if e.client_addr.is_empty() {
        UNKNOWN
    } else {
        &e.client_addr
    }
}

/// Gives places to the busiest new values while fewer than `max` are taken. `other` is never
/// given one: a value of that name counts under it.
fn admit<'a>(taken: &mut BTreeSet<String>, values: impl Iterator<Item = &'a str>, max: usize) {
    let mut fresh: HashMap<&str, u64> = HashMap::new();
    for v in values {
        if v != OTHER && !taken.contains(v) {
            *fresh.entry(v).or_insert(0) += 1;
        }
    }
    let mut ranked: Vec<(&str, u64)> = fresh.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(b.0)));
    for (v, _) in ranked {
        if taken.len() >= max {
            break;
        }
        taken.insert(v.to_string());
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_dcs_duration_out_of_range_refuses_the_entry_and_never_panics() {
        let item = |duration: &str| SlowlogItem {
            start_time: Some("2026-12-06T10:00:00Z".into()),
            duration: Some(duration.into()),
            command: Some("GET k".into()),
            ..Default::default()
        };
        let took = |d: &str| SlowEntry::from_dcs(&item(d)).map(|e| e.duration);
        assert_eq!(took("12.5"), Some(Duration::from_micros(12_500)));
        assert_eq!(took("0"), Some(Duration::ZERO));
        for bad in ["1e300", "NaN", "inf", "-5", "86400001", "abc"] {
            assert_eq!(took(bad), None, "{bad}");
            assert!(SlowEntry::has_invalid_duration(&item(bad)), "{bad}");
        }
        assert!(!SlowEntry::has_invalid_duration(&item("3")));
    }

    fn entry(id: i64, secs: u64, addr: &str, command: &str) -> SlowEntry {
        SlowEntry {
            id,
            time: SystemTime::UNIX_EPOCH + Duration::from_secs(secs),
            duration: Duration::from_millis(20),
            shard: "group-0".into(),
            role: "master".into(),
            client_addr: addr.into(),
            command: command.into(),
        }
    }

    #[test]
    fn command_names() {
        assert_eq!(SlowEntry::command_name("KEYS *"), "keys");
        assert_eq!(SlowEntry::command_name("\"HGETALL\" \"user:1\""), "hgetall");
        assert_eq!(SlowEntry::command_name("  "), UNKNOWN);
        assert_eq!(SlowEntry::command_name(&"X".repeat(100)).len(), 32);
        assert_eq!(SlowEntry::client_host("10.0.0.7:52314"), "10.0.0.7");
        assert_eq!(SlowEntry::client_host("[fd00::7]:52314"), "fd00::7");
        assert_eq!(SlowEntry::client_host("10.0.0.7"), "10.0.0.7");
    }

    #[test]
    fn each_entry_counts_once_across_overlapping_windows() {
        let base = 1_000_000;
        let at = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(base + s);
        let mut cursor = SlowLogCursor::new(Duration::from_secs(600));
        // The first poll learns the history and counts none of it.
        let history = vec![entry(1, base - 10, "a", "keys")];
        assert!(cursor.take_new(history.clone(), at(0)).new.is_empty());
        // The window returns the old entry again with two new ones.
        let mut second = history.clone();
        second.push(entry(2, base + 20, "a", "keys"));
        second.push(entry(3, base + 25, "b", "sort"));
        assert_eq!(cursor.take_new(second.clone(), at(30)).new.len(), 2);
        // The same again, plus one published late (it ran before the last poll).
        second.push(entry(4, base + 5, "b", "sort"));
        let third = cursor.take_new(second, at(60)).new;
        assert_eq!(third.iter().map(|e| e.id).collect::<Vec<_>>(), vec![4]);
        // Once out of the window, entries are forgotten and, when returned (a Redis log keeps
        // them), still not counted.
        let later = cursor
            .take_new(vec![entry(2, base + 20, "a", "keys")], at(2_000))
            .new;
        assert!(later.is_empty());
        assert_eq!(cursor.remembered(), 0);
        // The same id on another shard is another entry.
        let mut other_shard = entry(9, base + 1_990, "a", "keys");
        let same = other_shard.clone();
        other_shard.shard = "group-1".into();
        assert_eq!(
            cursor
                .take_new(vec![same, other_shard], at(2_000))
                .new
                .len(),
            2
        );
    }

    #[test]
    fn entries_dated_past_the_logs_clock_are_refused_and_not_remembered() {
        let now = 1_000_000;
        let at = |s: u64| SystemTime::UNIX_EPOCH + Duration::from_secs(s);
        let mut cursor = SlowLogCursor::new(Duration::from_secs(600));
        assert_eq!(cursor.take_new(Vec::new(), at(now)).ahead, 0);
        let year_9000 = 221_845_392_000;
        let shown = vec![
            entry(1, now - 5, "a", "keys"),
            entry(2, now + 299, "a", "keys"),
            entry(3, now + 3_600, "a", "keys"),
            entry(4, year_9000, "a", "keys"),
        ];
        let taken = cursor.take_new(shown, at(now));
        assert_eq!(taken.new.iter().map(|e| e.id).collect::<Vec<_>>(), [1, 2]);
        assert_eq!(taken.ahead, 2);
        assert_eq!(cursor.remembered(), 2);
    }

    #[test]
    fn labels_are_kept_once_given_and_the_rest_fold() {
        let mut slow = SlowCommands::default();
        let batch: Vec<SlowEntry> = [("a", "keys"), ("a", "keys"), ("b", "sort"), ("c", "get")]
            .iter()
            .enumerate()
            .map(|(i, (a, c))| entry(i as i64, 0, a, c))
            .collect();
        let caps = |addrs, commands, series| SlowCaps {
            addrs,
            commands,
            series,
        };
        slow.record(&batch, &caps(1, 2, 100));
        let key = |a: &str, c: &str| ("group-0".to_string(), a.to_string(), c.to_string());
        assert_eq!(slow.counts.get(&key("a", "keys")), Some(&2));
        // "get" and "sort" tie: the name decides.
        assert_eq!(slow.counts.get(&key(OTHER, "get")), Some(&1));
        assert_eq!(slow.counts.get(&key(OTHER, OTHER)), Some(&1));
        // A busier address later does not take the place of "a".
        let later: Vec<SlowEntry> = (0..5).map(|i| entry(i, 0, "d", "get")).collect();
        slow.record(&later, &caps(1, 2, 100));
        assert_eq!(slow.counts.get(&key(OTHER, "get")), Some(&6));
        assert_eq!(slow.total(), 9);
        assert_eq!(slow.counts.values().sum::<u64>(), 9);
        // Past the series cap, a new combination goes to other/other; known ones still count.
        let mut capped = SlowCommands::default();
        capped.record(&batch, &caps(10, 10, 2));
        assert_eq!(capped.counts.len(), 3, "{:?}", capped.counts);
        assert_eq!(capped.counts.get(&key("a", "keys")), Some(&2));
        assert_eq!(capped.counts.get(&key(OTHER, OTHER)), Some(&1));
        assert_eq!(capped.counts.values().sum::<u64>(), 4);
        // A shard first seen past the cap adds no series of its own.
        let mut elsewhere = entry(9, 0, "z", "scan");
        elsewhere.shard = "group-9".into();
        capped.record(&[elsewhere], &caps(10, 10, 2));
        let other = (OTHER.to_string(), OTHER.to_string(), OTHER.to_string());
        assert_eq!(capped.counts.get(&other), Some(&1));
        assert!(capped.counts.keys().all(|(shard, _, _)| shard != "group-9"));
    }
}
