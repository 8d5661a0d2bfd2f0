//! An instance's slow log, as the service keeps and serves it: heavy commands from the
//! instance's client hosts, written as time passes, paged, sorted and filtered by time and role.

use std::collections::VecDeque;

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

use super::clock::format_time_seconds;
use super::error::{SimError, SimResult};
use crate::cloud::dcs::{SlowlogItem, SlowlogPage};

/// How long entries are kept, and how many at most.
const KEPT_MS: i64 = 24 * 3_600_000;
const MAX_KEPT: usize = 100_000;

/// Heavy commands, as the log keeps them (`{}` takes a number), and how often each comes.
const COMMANDS: [(&str, u32); 8] = [
    ("KEYS *", 3),
    ("HGETALL user:{}", 5),
    ("SMEMBERS tags:{}", 3),
    ("LRANGE feed:{} 0 -1", 4),
    ("ZRANGEBYSCORE leaderboard 0 +inf WITHSCORES", 2),
    ("SORT jobs:{} BY nosort", 1),
    ("SCAN 0 MATCH session:* COUNT 10000", 2),
    ("DEL archive:{}", 1),
];

/// One entry, as kept.
#[derive(Clone, Debug, PartialEq)]
pub struct SimSlowEntry {
    pub id: i64,
    /// Whole seconds, as the log's times are.
    pub time_ms: i64,
    pub duration_ms: f64,
    /// `None` for instances without shards.
    pub shard: Option<String>,
    pub role: String,
    pub client_ip: String,
    pub command: String,
    /// The first window that returned it (0 for the first window the log served), for tests.
    pub first_served: Option<usize>,
}

impl SimSlowEntry {
    fn item(&self) -> SlowlogItem {
        SlowlogItem {
            id: Some(self.id),
            command: Some(self.command.clone()),
            start_time: Some(format_time_seconds(self.time_ms)),
            duration: Some(format!("{}", self.duration_ms.round() as i64)),
            shard_name: self.shard.clone(),
            database_id: Some(0),
            username: None,
            node_role: Some(self.role.clone()),
            client_ip: Some(self.client_ip.clone()),
        }
    }
}

/// Where entries of a generated log come from.
pub struct SlowLogSource {
    /// Shard names (empty for an instance without shards) and whether they have replicas.
    pub shards: Vec<Option<String>>,
    pub replicas: bool,
    /// Client IPs and their weights.
    pub hosts: Vec<(String, f64)>,
    pub per_minute: f64,
}

pub struct SimSlowLog {
    rng: StdRng,
    source: SlowLogSource,
    entries: VecDeque<SimSlowEntry>,
    /// The next id of each shard (Redis numbers each server's log).
    next_ids: Vec<i64>,
    next_at_ms: i64,
    /// The last window served, `(start_time, end_time)` in milliseconds: the pages of one
    /// read share it.
    last_window: Option<(i64, i64)>,
    /// Windows served since the start.
    windows_served: usize,
}

/// A query as received.
#[derive(Clone, Debug, Default, serde::Deserialize)]
pub struct SlowlogQuery {
    pub offset: Option<String>,
    pub limit: Option<String>,
    pub sort_key: Option<String>,
    pub sort_dir: Option<String>,
    pub start_time: Option<String>,
    pub end_time: Option<String>,
    pub role: Option<String>,
}

/// A query, checked as the service checks it.
#[derive(Clone, Debug)]
pub struct CheckedQuery {
    offset: usize,
    limit: usize,
    by_duration: bool,
    ascending: bool,
    pub start_ms: i64,
    pub end_ms: i64,
    role: Option<String>,
}

impl SlowlogQuery {
    pub fn check(&self) -> SimResult<CheckedQuery> {
        let number = |v: Option<&str>, name: &str, default: Option<i64>| -> SimResult<i64> {
            match v {
                None | Some("") => {
                    default.ok_or_else(|| SimError::invalid(format!("{name} is required.")))
                }
                Some(v) => v
                    .parse()
                    .map_err(|_| SimError::invalid(format!("{name} must be a number."))),
            }
        };
        let offset = number(self.offset.as_deref(), "offset", Some(0))?;
        let limit = number(self.limit.as_deref(), "limit", Some(10))?;
        if offset < 0 || !(1..=1000).contains(&limit) {
            return Err(SimError::invalid(
                "offset must be at least 0 and limit between 1 and 1000.",
            ));
        }
        let start_ms = number(self.start_time.as_deref(), "start_time", None)?;
        let end_ms = number(self.end_time.as_deref(), "end_time", None)?;
        if start_ms > end_ms {
            return Err(SimError::invalid("start_time must not be after end_time."));
        }
        let by_duration = match self.sort_key.as_deref() {
            None | Some("start_time") => false,
            Some("duration") => true,
            Some(_) => {
                return Err(SimError::invalid(
                    "sort_key must be start_time or duration.",
                ));
            }
        };
        let ascending = match self.sort_dir.as_deref() {
            None | Some("desc") => false,
            Some("asc") => true,
            Some(_) => return Err(SimError::invalid("sort_dir must be desc or asc.")),
        };
        let role = match self.role.as_deref() {
            None | Some("") => None,
            Some(r @ ("master" | "slave" | "proxy" | "server")) => Some(r.to_string()),
            Some(_) => return Err(SimError::invalid("role must be master or slave.")),
        };
        Ok(CheckedQuery {
            offset: offset as usize,
            limit: limit as usize,
            by_duration,
            ascending,
            start_ms,
            end_ms,
            role,
        })
    }
}

/// The page a query asks for, out of `entries`.
pub fn page(entries: &[SimSlowEntry], q: &CheckedQuery) -> SlowlogPage {
    select(entries, q).0
}

/// The page a query asks for, and the positions in `entries` of what it returns.
fn select(entries: &[SimSlowEntry], q: &CheckedQuery) -> (SlowlogPage, Vec<usize>) {
    let role_matches = |e: &SimSlowEntry| match q.role.as_deref() {
        None => true,
        // Data nodes: every entry of a data node's log.
        Some("server") => e.role != "proxy",
        Some(role) => e.role == role,
    };
    let mut matching: Vec<(usize, &SimSlowEntry)> = entries
        .iter()
        .enumerate()
        .filter(|(_, e)| (q.start_ms..=q.end_ms).contains(&e.time_ms) && role_matches(e))
        .collect();
    matching.sort_by(|(_, a), (_, b)| {
        let order = if q.by_duration {
            a.duration_ms.total_cmp(&b.duration_ms)
        } else {
            a.time_ms.cmp(&b.time_ms)
        };
        // Stable among equals: by shard and id, so pages never repeat or skip an entry.
        let order = order
            .then_with(|| a.shard.cmp(&b.shard))
            .then_with(|| a.id.cmp(&b.id));
        if q.ascending { order } else { order.reverse() }
    });
    let total = matching.len() as i64;
    let returned: Vec<(usize, &SimSlowEntry)> =
        matching.into_iter().skip(q.offset).take(q.limit).collect();
    let page = SlowlogPage {
        total_num: Some(total),
        count: Some(total),
        slowlogs: returned.iter().map(|(_, e)| e.item()).collect(),
    };
    (page, returned.into_iter().map(|(i, _)| i).collect())
}

impl SimSlowLog {
    /// A log with an hour of history before `now_ms`.
    pub fn new(seed: u64, source: SlowLogSource, now_ms: i64) -> Self {
        let mut log = Self {
            rng: StdRng::seed_from_u64(seed),
            next_ids: vec![1; source.shards.len().max(1)],
            source,
            entries: VecDeque::new(),
            next_at_ms: now_ms - 3_600_000,
            last_window: None,
            windows_served: 0,
        };
        log.advance_to(now_ms);
        log
    }

    fn gap_ms(&mut self) -> i64 {
        let mean = 60_000.0 / self.source.per_minute.max(1e-6);
        (mean * (0.25 + 1.5 * self.rng.random::<f64>())).max(1.0) as i64
    }

    /// Writes the entries of commands that ran up to `now_ms`.
    pub fn advance_to(&mut self, now_ms: i64) {
        if self.source.per_minute <= 0.0 || self.source.hosts.is_empty() {
            return;
        }
        if self.next_at_ms < now_ms - KEPT_MS {
            self.next_at_ms = now_ms - KEPT_MS;
        }
        while self.next_at_ms <= now_ms {
            let at = self.next_at_ms;
            let entry = self.draw(at);
            self.entries.push_back(entry);
            self.next_at_ms = at + self.gap_ms();
        }
        while self.entries.len() > MAX_KEPT
            || self
                .entries
                .front()
                .is_some_and(|e| e.time_ms < now_ms - KEPT_MS)
        {
            self.entries.pop_front();
        }
    }

    fn draw(&mut self, at_ms: i64) -> SimSlowEntry {
        let rng = &mut self.rng;
        let shard = rng.random_range(0..self.source.shards.len().max(1));
        let total: f64 = self.source.hosts.iter().map(|(_, w)| w).sum();
        let mut pick = rng.random::<f64>() * total;
        let host = self
            .source
            .hosts
            .iter()
            .find(|(_, w)| {
                pick -= w;
                pick <= 0.0
            })
            .unwrap_or(&self.source.hosts[0])
            .0
            .clone();
        let weights: u32 = COMMANDS.iter().map(|(_, w)| w).sum();
        let mut k = rng.random_range(0..weights);
        let template = COMMANDS
            .iter()
            .find(|(_, w)| {
                if k < *w {
                    true
                } else {
                    k -= w;
                    false
                }
            })
            .map_or(COMMANDS[0].0, |(c, _)| c);
        let command = template.replace("{}", &rng.random_range(1..5000).to_string());
        // Mostly just over the 10 ms threshold, now and then seconds.
        let duration_ms = 10.0 * 256f64.powf(rng.random::<f64>().powi(3));
        let role = if self.source.replicas && rng.random_bool(0.15) {
            "slave"
        } else {
            "master"
        };
        let id = self.next_ids[shard];
        self.next_ids[shard] += 1;
        SimSlowEntry {
            id,
            time_ms: at_ms / 1000 * 1000,
            duration_ms,
            shard: self.source.shards.get(shard).cloned().flatten(),
            role: role.to_string(),
            client_ip: host,
            command,
            first_served: None,
        }
    }

    /// Serves a query at `now_ms`: a page, each entry on it marked with the window.
    pub fn query(&mut self, q: &CheckedQuery, now_ms: i64) -> SlowlogPage {
        self.advance_to(now_ms);
        // The pages of one read share its window.
        if self.last_window != Some((q.start_ms, q.end_ms)) {
            self.last_window = Some((q.start_ms, q.end_ms));
            self.windows_served += 1;
        }
        let window = self.windows_served - 1;
        self.entries.make_contiguous();
        let (page, positions) = select(self.entries.as_slices().0, q);
        for i in positions {
            self.entries[i].first_served.get_or_insert(window);
        }
        page
    }

    pub fn entries(&self) -> Vec<SimSlowEntry> {
        self.entries.iter().cloned().collect()
    }

    /// Windows served since the start.
    pub fn windows_served(&self) -> usize {
        self.windows_served
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn log() -> SimSlowLog {
        SimSlowLog::new(
            7,
            SlowLogSource {
                shards: vec![Some("group-0".into()), Some("group-1".into())],
                replicas: true,
                hosts: vec![("10.0.0.1".into(), 3.0), ("10.0.0.2".into(), 1.0)],
                per_minute: 30.0,
            },
            10_000_000,
        )
    }

    fn query(q: &[(&str, &str)]) -> CheckedQuery {
        let get = |k: &str| q.iter().find(|(n, _)| *n == k).map(|(_, v)| v.to_string());
        SlowlogQuery {
            offset: get("offset"),
            limit: get("limit"),
            sort_key: get("sort_key"),
            sort_dir: get("sort_dir"),
            start_time: get("start_time"),
            end_time: get("end_time"),
            role: get("role"),
        }
        .check()
        .unwrap()
    }

    #[test]
    fn pages_cover_the_window_once_in_order() {
        let log = log();
        let entries = log.entries();
        assert!(entries.len() > 1000, "an hour at 30 a minute");
        let start = "7000000";
        let mut seen = Vec::new();
        for offset in (0..).step_by(100) {
            let page = page(
                &entries,
                &query(&[
                    ("start_time", start),
                    ("end_time", "10000000"),
                    ("offset", &offset.to_string()),
                    ("limit", "100"),
                    ("sort_dir", "asc"),
                ]),
            );
            if page.slowlogs.is_empty() {
                break;
            }
            seen.extend(page.slowlogs);
        }
        let expected = entries.iter().filter(|e| e.time_ms >= 7_000_000).count();
        assert_eq!(seen.len(), expected);
        let times: Vec<&String> = seen
            .iter()
            .map(|e| e.start_time.as_ref().unwrap())
            .collect();
        assert!(times.windows(2).all(|w| w[0] <= w[1]));
        let by_duration = page(
            &entries,
            &query(&[
                ("start_time", "0"),
                ("end_time", "10000000"),
                ("sort_key", "duration"),
            ]),
        );
        let durations: Vec<i64> = by_duration
            .slowlogs
            .iter()
            .map(|e| e.duration.as_ref().unwrap().parse().unwrap())
            .collect();
        assert!(durations.windows(2).all(|w| w[0] >= w[1]), "{durations:?}");
        let replicas = page(
            &entries,
            &query(&[
                ("start_time", "0"),
                ("end_time", "10000000"),
                ("role", "slave"),
            ]),
        );
        assert!(replicas.total_num.unwrap() > 0);
        assert!(
            replicas
                .slowlogs
                .iter()
                .all(|e| e.node_role.as_deref() == Some("slave"))
        );
    }

    #[test]
    fn bad_queries_are_refused() {
        for q in [
            SlowlogQuery::default(),
            SlowlogQuery {
                start_time: Some("1".into()),
                end_time: Some("2".into()),
                limit: Some("1001".into()),
                ..Default::default()
            },
            SlowlogQuery {
                start_time: Some("5".into()),
                end_time: Some("2".into()),
                ..Default::default()
            },
            SlowlogQuery {
                start_time: Some("1".into()),
                end_time: Some("2".into()),
                sort_key: Some("id".into()),
                ..Default::default()
            },
        ] {
            assert_eq!(q.check().unwrap_err().status, 400, "{q:?}");
        }
    }
}
