//! A real redis-server for integration tests. Each server gets a free loopback port and its own
//! temp dir (working dir and log), no persistence, and is killed when dropped, so tests can run
//! in parallel and leave nothing behind.

use std::fs::{self, File};
use std::io::{ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use super::in_ci;

/// How long a server may take to answer PING, over all port attempts.
const READY_TIMEOUT: Duration = Duration::from_secs(10);
/// Attempts with a fresh port: another process may grab the port between our
/// probe and redis-server's bind, and then redis-server exits at once.
const PORT_ATTEMPTS: usize = 3;

/// A redis-server on a free loopback port, in its own temp dir, killed on drop.
#[allow(dead_code)]
pub struct RedisServer {
    pub port: u16,
    /// `redis://127.0.0.1:PORT`
    pub url: String,
    child: Child,
    dir: PathBuf,
}

#[allow(dead_code)]
impl RedisServer {
    /// Starts redis-server (found on PATH or /usr/bin/redis-server) with extra args,
    /// e.g. `["--requirepass", "pw"]` or `["--maxclients", "20000"]`; they come
    /// last, so they override the defaults.
    ///
    /// Returns `Err(reason)` when the program is missing (or cannot be run at
    /// all). Waits (at most 10 s) until it answers PING; if it never does, kills
    /// it and panics with its log, because then the test setup itself is broken.
    pub fn start(extra_args: &[&str]) -> Result<RedisServer, String> {
        let program = find_program().ok_or_else(|| {
            "redis-server is neither on PATH nor at /usr/bin/redis-server".to_string()
        })?;
        let dir = make_temp_dir();
        let deadline = Instant::now() + READY_TIMEOUT;
        let mut failures = String::new();
        for attempt in 1..=PORT_ATTEMPTS {
            let port = free_port();
            // Truncated per attempt, so a panic shows this attempt's log only.
            let log = dir.join("redis.log");
            let _ = fs::remove_file(&log);
            let output = dir.join("output.log");
            let stdout = File::create(&output).expect("create redis-server output file");
            let stderr = stdout.try_clone().expect("clone redis-server output file");
            let spawned = Command::new(&program)
                .arg("--port")
                .arg(port.to_string())
                .args(["--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
                .arg("--dir")
                .arg(&dir)
                .arg("--logfile")
                .arg(&log)
                .args(["--daemonize", "no", "--protected-mode", "no"])
                .args(extra_args)
                .stdin(Stdio::null())
                .stdout(stdout)
                .stderr(stderr)
                .spawn();
            let mut child = match spawned {
                Ok(child) => child,
                Err(e) => {
                    let _ = fs::remove_dir_all(&dir);
                    return Err(format!("cannot run {}: {e}", program.display()));
                }
            };
            match wait_ready(&mut child, port, &log, deadline) {
                Ok(()) => {
                    return Ok(RedisServer {
                        port,
                        url: format!("redis://127.0.0.1:{port}"),
                        child,
                        dir,
                    });
                }
                Err(Exited(status))
                    if attempt < PORT_ATTEMPTS
                        && Instant::now() < deadline
                        && port_was_taken(&dir) =>
                {
                    failures.push_str(&format!(
                        "attempt {attempt} on port {port}: exited with {status}\n{}\n",
                        server_log(&dir)
                    ));
                }
                Err(why) => {
                    let _ = child.kill();
                    let _ = child.wait();
                    let log = server_log(&dir);
                    let _ = fs::remove_dir_all(&dir);
                    panic!(
                        "redis-server ({}) did not answer PING on 127.0.0.1:{port} ({why}), \
                         args {extra_args:?}\n{failures}--- last attempt ---\n{log}",
                        program.display()
                    );
                }
            }
        }
        unreachable!("the last attempt either returns or panics")
    }

    /// The server's log so far, for assertion messages.
    pub fn log(&self) -> String {
        server_log(&self.dir)
    }

    /// The redis-server process id.
    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        // No persistence is configured, so SIGKILL loses nothing and is immediate.
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = fs::remove_dir_all(&self.dir);
    }
}

/// Start, or decide what to do when redis-server is missing: with `CI=true`
/// panic, since CI must run these tests; otherwise print why the test is skipped
/// to stderr and return `None`, so `cargo test` works on machines without Redis.
#[allow(dead_code)]
pub fn start_or_skip(extra_args: &[&str]) -> Option<RedisServer> {
    match RedisServer::start(extra_args) {
        Ok(server) => Some(server),
        Err(reason) if in_ci() => panic!("CI must provide redis-server: {reason}"),
        Err(reason) => {
            eprintln!("skipped: redis-server is not installed ({reason})");
            None
        }
    }
}

fn find_program() -> Option<PathBuf> {
    let on_path = std::env::var_os("PATH")
        .map(|paths| std::env::split_paths(&paths).collect::<Vec<_>>())
        .unwrap_or_default()
        .into_iter()
        .map(|dir| dir.join("redis-server"));
    on_path
        .chain([PathBuf::from("/usr/bin/redis-server")])
        .find(|path| is_executable(path))
}

#[cfg(unix)]
fn is_executable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

#[cfg(not(unix))]
fn is_executable(path: &Path) -> bool {
    path.is_file()
}

/// A fresh, empty directory under the system temp dir.
fn make_temp_dir() -> PathBuf {
    static COUNTER: AtomicU64 = AtomicU64::new(0);
    let nanos = SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos());
    loop {
        let n = COUNTER.fetch_add(1, Ordering::Relaxed);
        let dir =
            std::env::temp_dir().join(format!("redis-test-{}-{n}-{nanos:08x}", std::process::id()));
        match fs::create_dir(&dir) {
            Ok(()) => return dir,
            Err(e) if e.kind() == ErrorKind::AlreadyExists => continue,
            Err(e) => panic!("cannot create {}: {e}", dir.display()),
        }
    }
}

/// A port the kernel considers free right now (it may be taken again before
/// redis-server binds it; `start` retries then).
fn free_port() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local address").port()
}

/// Whether redis-server exited because it could not bind the port, the one
/// failure that another port fixes (a bad argument would fail again).
fn port_was_taken(dir: &Path) -> bool {
    server_log(dir)
        .to_ascii_lowercase()
        .contains("address already in use")
}

/// Why a server did not come up.
#[derive(Debug)]
enum NotReady {
    /// The process ended (typically: the port was taken).
    Exited(std::process::ExitStatus),
    TimedOut,
}
use NotReady::{Exited, TimedOut};

impl std::fmt::Display for NotReady {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Exited(status) => write!(f, "it exited with {status}"),
            TimedOut => write!(f, "timed out after {READY_TIMEOUT:?}"),
        }
    }
}

/// Polls until the server answers PING and its own log says it is ready (the log
/// check makes sure the PONG came from our process, not from whoever else might
/// hold the port), or until it exits or the deadline passes.
fn wait_ready(child: &mut Child, port: u16, log: &Path, deadline: Instant) -> Result<(), NotReady> {
    loop {
        if let Ok(Some(status)) = child.try_wait() {
            return Err(Exited(status));
        }
        if ping(port) && logged_ready(log) {
            // Still ours: a server that failed to bind would have exited by now.
            return match child.try_wait() {
                Ok(Some(status)) => Err(Exited(status)),
                _ => Ok(()),
            };
        }
        if Instant::now() >= deadline {
            return Err(TimedOut);
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Whether 127.0.0.1:port answers a raw RESP PING with `+PONG`, or with
/// `-NOAUTH` when the server was started with `--requirepass`.
fn ping(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut stream) = TcpStream::connect_timeout(&addr, Duration::from_millis(250)) else {
        return false;
    };
    let _ = stream.set_read_timeout(Some(Duration::from_millis(500)));
    let _ = stream.set_write_timeout(Some(Duration::from_millis(500)));
    if stream.write_all(b"*1\r\n$4\r\nPING\r\n").is_err() {
        return false;
    }
    let mut reply = Vec::new();
    let mut buf = [0u8; 128];
    while !reply.ends_with(b"\r\n") && reply.len() < 1024 {
        match stream.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => reply.extend_from_slice(&buf[..n]),
        }
    }
    reply.starts_with(b"+PONG") || reply.starts_with(b"-NOAUTH")
}

/// Redis 2.8 logs "The server is now ready to accept connections", later
/// versions "Ready to accept connections".
fn logged_ready(log: &Path) -> bool {
    fs::read_to_string(log).is_ok_and(|text| {
        text.to_ascii_lowercase()
            .contains("ready to accept connections")
    })
}

/// The log file plus anything printed before it was opened (bad arguments).
fn server_log(dir: &Path) -> String {
    let read = |name: &str| fs::read_to_string(dir.join(name)).unwrap_or_default();
    format!(
        "--- redis.log ---\n{}--- stdout/stderr ---\n{}",
        read("redis.log"),
        read("output.log")
    )
}
