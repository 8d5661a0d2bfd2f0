//! The exporter binary as a process, and a temporary folder, for tests through the real
//! command line.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::path::PathBuf;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

pub const BINARY: &str = env!("CARGO_BIN_EXE_dcs-session-exporter");

/// A folder under the system's temp dir, removed on drop.
pub struct Dir(pub PathBuf);

impl Dir {
    pub fn new(name: &str) -> Self {
        let dir = std::env::temp_dir().join(format!("dcs-test-{name}-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        Self(dir)
    }

    pub fn write(&self, name: &str, text: &str) -> PathBuf {
        let path = self.0.join(name);
        std::fs::write(&path, text).unwrap();
        path
    }
}

impl Drop for Dir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// The exporter binary, killed on drop; its stderr lines are kept.
pub struct Exporter {
    pub child: Child,
    /// `http(s)://127.0.0.1:PORT`
    pub base: String,
    stderr: Arc<Mutex<Vec<String>>>,
}

impl Exporter {
    /// Started with `args` (and a loopback listen address unless `args` gives one), with
    /// `env` set; returns once it listens.
    pub fn start(args: &[&str], env: &[(&str, &str)]) -> Self {
        Self::start_with(Command::new(BINARY), args, env)
    }

    /// As [`Exporter::start`], from a prepared command (a shell that sets limits first).
    pub fn start_with(mut command: Command, args: &[&str], env: &[(&str, &str)]) -> Self {
        command.args(args);
        if !args.contains(&"--web.listen-address") {
            command.args(["--web.listen-address", "127.0.0.1:0"]);
        }
        if !args.contains(&"--log.level") {
            command.args(["--log.level", "warn"]);
        }
        let mut child = command
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let stderr = Arc::new(Mutex::new(Vec::new()));
        let lines = Arc::clone(&stderr);
        let err = child.stderr.take().unwrap();
        std::thread::spawn(move || {
            for line in BufReader::new(err).lines().map_while(Result::ok) {
                lines.lock().unwrap().push(line);
            }
        });
        let mut out = BufReader::new(child.stdout.take().unwrap()).lines();
        // The address is printed once listening; the read ends if the process dies.
        let base = loop {
            let Some(Ok(line)) = out.next() else {
                panic!(
                    "the exporter exited before listening: {:#?}",
                    stderr.lock().unwrap()
                );
            };
            if let Some(rest) = line.strip_prefix("exporter listening on ") {
                let url = rest.split_whitespace().next().unwrap();
                let path_start = url.find("://").map_or(0, |i| i + 3);
                let end = url[path_start..]
                    .find('/')
                    .map_or(url.len(), |i| i + path_start);
                break url[..end].to_string();
            }
        };
        std::thread::spawn(move || out.for_each(drop));
        Self {
            child,
            base,
            stderr,
        }
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    pub fn signal(&self, name: &str) {
        let ok = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status()
            .unwrap()
            .success();
        assert!(ok);
    }

    /// The stderr lines so far.
    pub fn log(&self) -> Vec<String> {
        self.stderr.lock().unwrap().clone()
    }

    /// Waits for the exit, at most `limit`; `None` when still running.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<ExitStatus> {
        let until = Instant::now() + limit;
        loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                return Some(status);
            }
            if Instant::now() >= until {
                return None;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    /// A line of `/proc/PID/status`, e.g. `Threads` or `VmRSS`, as its first number.
    pub fn status_number(&self, key: &str) -> u64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.pid())).unwrap();
        status
            .lines()
            .find_map(|l| l.strip_prefix(&format!("{key}:")))
            .and_then(|v| v.split_whitespace().next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("no {key} in {status}"))
    }
}

impl Drop for Exporter {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Runs the binary to its end (at most 30 s): success, stdout, stderr and the exit code.
pub fn run(args: &[&str], env: &[(&str, &str)]) -> (Option<i32>, String, String) {
    run_with(Command::new(BINARY), args, env)
}

/// As [`run`], from a prepared command.
pub fn run_with(
    mut command: Command,
    args: &[&str],
    env: &[(&str, &str)],
) -> (Option<i32>, String, String) {
    let mut child = command
        .args(args)
        .envs(env.iter().copied())
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let until = Instant::now() + Duration::from_secs(30);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() >= until {
            let _ = child.kill();
            panic!("{args:?} did not end within 30 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let out = child.wait_with_output().unwrap();
    (
        out.status.code(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// The binary without credentials in its environment: no keys, no credentials file, no pod
/// identity or OIDC variables, no IAM or STS endpoint.
pub fn without_env_credentials() -> Command {
    let mut command = Command::new(BINARY);
    for var in [
        "CLOUD_SDK_AK",
        "CLOUD_SDK_SK",
        "CLOUD_SDK_SECURITY_TOKEN",
        "HUAWEICLOUD_SDK_AK",
        "HUAWEICLOUD_SDK_SK",
        "HUAWEICLOUD_SDK_SECURITY_TOKEN",
        "HUAWEICLOUD_SDK_CREDENTIALS_FILE",
        "HUAWEICLOUD_SDK_IAM_ENDPOINT",
        "HUAWEICLOUD_SDK_STS_ENDPOINT",
        "HC_CONTAINER_CREDENTIALS_FULL_URI",
        "HC_CONTAINER_AUTHORIZATION_TOKEN_FILE",
        "HUAWEICLOUD_OIDC_PROVIDER_URN",
        "HUAWEICLOUD_OIDC_AGENCY_URN",
        "HUAWEICLOUD_OIDC_ID_TOKEN",
        "HUAWEICLOUD_OIDC_ID_TOKEN_FILE",
        "HUAWEICLOUD_OIDC_TOKEN_FILE",
    ] {
        command.env_remove(var);
    }
    command
}
