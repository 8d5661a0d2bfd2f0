//! The slow log of a `[[redis]]` target against a real redis-server: each scan asks whether the
//! log changed (`SLOWLOG LEN` and `SLOWLOG GET 1`, pipelined), and reads it whole (`SLOWLOG GET
//! -1`) only when it did; what is counted stays what a whole read at every scan counted.

use std::time::Duration;

use dcs_session_exporter::redis::resp::Value;
use dcs_session_exporter::redis::{Connection, RedisEndpoint, connect_within};
use tokio::time::Instant;

use crate::common::redis_server::start_or_skip;
use crate::redis::{exporter, scrape_ready};

/// Commands slower than this (µs) are logged: the test's Lua loop, never the exporter's own
/// commands on a server this small.
const SLOWER_THAN_MICROS: &str = "50000";

/// The test's own connection to the server, which keeps count of its own `SLOWLOG LEN`s so that
/// the exporter's calls can be told from them.
struct Probe {
    conn: Connection,
    own_lens: u64,
}

impl Probe {
    async fn connect(url: &str) -> Self {
        let endpoint = RedisEndpoint {
            url: url.to_string(),
            username: None,
            password: None,
        };
        let deadline = Instant::now() + Duration::from_secs(10);
        Self {
            conn: connect_within(&endpoint, 1 << 20, deadline).await.unwrap(),
            own_lens: 0,
        }
    }

    async fn call(&mut self, args: &[&[u8]]) -> Value {
        if args == [b"SLOWLOG".as_slice(), b"LEN"] {
            self.own_lens += 1;
        }
        self.conn
            .call(args, Instant::now() + Duration::from_secs(30))
            .await
            .unwrap()
    }

    /// A command of about a second in Lua: slow enough for the log whatever the machine.
    async fn slow_command(&mut self) {
        let before = self.call(&[b"SLOWLOG", b"LEN"]).await;
        let script = b"local i = 0 while i < 5000000 do i = i + 1 end return i";
        assert_eq!(
            self.call(&[b"EVAL", script, b"0"]).await,
            Value::Int(5_000_000)
        );
        let after = self.call(&[b"SLOWLOG", b"LEN"]).await;
        assert_ne!(
            before, after,
            "the Lua loop was not slow enough to be logged"
        );
    }

    /// The exporter's calls so far of `SLOWLOG GET` (checks and whole reads) and of `SLOWLOG
    /// LEN` (checks), from `INFO commandstats`.
    async fn slowlog_calls(&mut self) -> (u64, u64) {
        let Value::Bulk(info) = self.call(&[b"INFO", b"commandstats"]).await else {
            panic!("INFO answered no text");
        };
        let info = String::from_utf8(info).unwrap();
        let calls = |command: &str| {
            info.lines()
                .find_map(|l| l.strip_prefix(&format!("cmdstat_{command}:calls=")))
                .and_then(|rest| rest.split(',').next())
                .map_or(0, |n| n.parse::<u64>().unwrap())
        };
        (calls("slowlog|get"), calls("slowlog|len") - self.own_lens)
    }

    /// The exporter's whole reads so far: `SLOWLOG GET`s that no check asked.
    async fn whole_reads(&mut self) -> u64 {
        let (get, len) = self.slowlog_calls().await;
        get - len
    }

    /// Waits until the exporter has checked the log `more` times after `since` checks.
    async fn checks_after(&mut self, since: u64, more: u64) -> u64 {
        let until = Instant::now() + Duration::from_secs(30);
        loop {
            let (_, checks) = self.slowlog_calls().await;
            if checks >= since + more {
                return checks;
            }
            assert!(
                Instant::now() < until,
                "{more} checks of the slow log within 30 s"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }
}

/// `dcs_slow_commands_total` of `command`, summed over its labels.
async fn slow_count(url: &str, command: &str) -> f64 {
    scrape_ready(url)
        .await
        .iter()
        .filter(|s| s.0 == "dcs_slow_commands_total" && s.1["command"] == command)
        .map(|s| s.2)
        .sum()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_slow_log_is_read_whole_only_when_it_changed() {
    let Some(server) = start_or_skip(&["--slowlog-log-slower-than", SLOWER_THAN_MICROS]) else {
        return;
    };
    let mut probe = Probe::connect(&server.url).await;
    // History: in the log before the exporter starts, never counted.
    probe.slow_command().await;
    let running = exporter(&format!(
        "[exporter]\nscan_interval = \"1s\"\nfirst_scan_spread = \"0s\"\n\
         [[redis]]\nname = \"slow\"\nurl = \"{}\"\n",
        server.url
    ))
    .await;
    // The first read has happened once the duration histogram is there.
    let until = Instant::now() + Duration::from_secs(30);
    while !scrape_ready(&running.url)
        .await
        .iter()
        .any(|s| s.0 == "dcs_slow_command_duration_seconds_count")
    {
        assert!(Instant::now() < until, "no slow log read within 30 s");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Unchanged: each scan checks, none reads the log again.
    let reads = probe.whole_reads().await;
    assert!(reads >= 1, "the first scan reads the log whole");
    let (_, checks) = probe.slowlog_calls().await;
    let checks = probe.checks_after(checks, 3).await;
    assert_eq!(
        probe.whole_reads().await,
        reads,
        "an unchanged log read again"
    );
    assert_eq!(
        slow_count(&running.url, "eval").await,
        0.0,
        "history counted"
    );

    // A new slow command: the next scan reads the log, and counts it once.
    probe.slow_command().await;
    let until = Instant::now() + Duration::from_secs(30);
    while slow_count(&running.url, "eval").await < 1.0 {
        assert!(
            Instant::now() < until,
            "the new slow command not counted within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    assert_eq!(
        probe.whole_reads().await,
        reads + 1,
        "one read for one change"
    );

    // Unchanged again: checked, not read, and nothing counted twice.
    let (_, since) = probe.slowlog_calls().await;
    probe.checks_after(since.max(checks), 3).await;
    assert_eq!(probe.whole_reads().await, reads + 1, "read again unchanged");
    assert_eq!(slow_count(&running.url, "eval").await, 1.0, "counted once");
    drop(running);
}
