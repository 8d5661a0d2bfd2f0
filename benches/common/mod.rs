//! What the benchmarks share: starting the exporter as a child process, and reading a
//! process's CPU time and memory from /proc.
// Each benchmark uses a part of this module.
#![allow(dead_code)]

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The release exporter with `--config`, listening on a free loopback port and logging only
/// errors, plus `args` and `env`.
pub fn spawn_exporter(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Child {
    let mut command = Command::new(env!("CARGO_BIN_EXE_dcs-session-exporter"));
    command
        .arg("--config")
        .arg(config)
        .args([
            "--web.listen-address",
            "127.0.0.1:0",
            "--log.level",
            "error",
        ])
        .args(args)
        .stdout(Stdio::piped());
    for (name, value) in env {
        command.env(name, value);
    }
    command.spawn().expect("starting dcs-session-exporter")
}

/// The base URL the exporter says it listens on (from its stdout, which is then drained in the
/// background so that it never blocks on a full pipe).
pub fn exporter_base_url(child: &mut Child) -> String {
    let stdout = child.stdout.take().expect("the exporter's stdout is piped");
    let (tx, rx) = std::sync::mpsc::channel();
    std::thread::spawn(move || {
        for line in std::io::BufReader::new(stdout)
            .lines()
            .map_while(Result::ok)
        {
            if let Some(rest) = line.strip_prefix("exporter listening on ") {
                let url = rest.split_whitespace().next().unwrap_or_default();
                let _ = tx.send(url.trim_end_matches("/metrics").to_string());
            }
        }
    });
    rx.recv_timeout(Duration::from_secs(30))
        .expect("the exporter did not say where it listens within 30 s")
}

/// utime + stime of a process, in clock ticks.
pub fn cpu_ticks(pid: u32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap_or_default();
    // Fields after the command name (which may hold spaces): state is the first, utime the
    // 12th and stime the 13th.
    let fields: Vec<&str> = stat
        .rsplit_once(')')
        .map(|(_, rest)| rest.split_whitespace().collect())
        .unwrap_or_default();
    let field = |i: usize| fields.get(i).and_then(|v| v.parse::<u64>().ok());
    field(11).unwrap_or(0) + field(12).unwrap_or(0)
}

pub fn clock_ticks_per_second() -> f64 {
    Command::new("getconf")
        .arg("CLK_TCK")
        .output()
        .ok()
        .and_then(|o| String::from_utf8_lossy(&o.stdout).trim().parse().ok())
        .unwrap_or(100.0)
}

/// utime + stime of a process, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    cpu_ticks(pid) as f64 / clock_ticks_per_second()
}

/// A `/proc/<pid>/status` field in KiB (`VmRSS:`, `VmHWM:`); 0 when unknown.
pub fn status_kib(pid: u32, field: &str) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix(field))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .unwrap_or(0)
}
