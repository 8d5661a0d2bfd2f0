//! What the benchmarks share: starting the exporter as a child process, and reading a
//! process's CPU time and memory from /proc.
// Each benchmark uses a part of this module.
#![allow(dead_code)]

use std::io::BufRead;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

/// The release exporter with `--config`, listening on a free loopback port and logging only
/// errors, plus `args` and `env`. `BENCH_EXPORTER` names another build of the exporter to run,
/// so that two versions can be measured by the same bench.
pub fn spawn_exporter(config: &Path, args: &[&str], env: &[(&str, &str)]) -> Child {
    let program = std::env::var_os("BENCH_EXPORTER")
        .unwrap_or_else(|| env!("CARGO_BIN_EXE_dcs-session-exporter").into());
    let mut command = Command::new(program);
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

/// utime + stime of a process, in clock ticks; 0 when it cannot be read.
pub fn cpu_ticks(pid: u32) -> u64 {
    procfs::process::Process::new(pid as i32)
        .and_then(|p| p.stat())
        .map_or(0, |s| s.utime + s.stime)
}

pub fn clock_ticks_per_second() -> f64 {
    procfs::ticks_per_second() as f64
}

/// utime + stime of a process, in seconds.
pub fn cpu_seconds(pid: u32) -> f64 {
    cpu_ticks(pid) as f64 / clock_ticks_per_second()
}

/// Resident memory of a process, now and at its peak (VmRSS, VmHWM), in KiB; 0 when unknown.
pub fn memory_kib(pid: u32) -> (u64, u64) {
    procfs::process::Process::new(pid as i32)
        .and_then(|p| p.status())
        .map_or((0, 0), |s| (s.vmrss.unwrap_or(0), s.vmhwm.unwrap_or(0)))
}
