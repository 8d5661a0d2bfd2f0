//! What a `key_scan` walk costs a real `redis-server`, against `redis-cli --bigkeys` and
//! `--memkeys` on the same data: the server's CPU for one whole walk (`used_cpu_sys` +
//! `used_cpu_user` of `INFO cpu`, before and after) and the walk's wall time, for the exporter's
//! walk at 5000 keys/s (the default) and unpaced (1,000,000 keys/s, the most it takes).
//!
//!     cargo bench --bench key_scan
//!
//! Needs `redis-server` and `redis-cli` on the PATH; without them it says why and exits
//! successfully. Environment: KEYS (1000000), keys of mixed types: 70% strings of 10 to 1000
//! bytes, 10% hashes, 10% lists, 5% sets and 5% zsets of 1 to 20 elements.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::Arc;
use std::time::Duration;

use dcs_session_exporter::collect::KeyWalk;
use dcs_session_exporter::config::Config;
use dcs_session_exporter::redis::{Connection, RedisEndpoint, connect_within};
use tokio::time::Instant;

const LIMIT: Duration = Duration::from_secs(3600);

fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The server, killed and its directory removed when the run ends, also by a panic.
struct Server {
    child: Child,
    dir: PathBuf,
    port: u16,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn start_server() -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port");
    let dir = std::env::temp_dir().join(format!("key-scan-bench-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let child = Command::new("redis-server")
        .args(["--port", &port.to_string(), "--bind", "127.0.0.1"])
        .args(["--save", "", "--appendonly", "no", "--dir"])
        .arg(&dir)
        .stdout(Stdio::null())
        .spawn()
        .expect("starting redis-server");
    let server = Server { child, dir, port };
    let until = std::time::Instant::now() + Duration::from_secs(10);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_err() {
        assert!(
            std::time::Instant::now() < until,
            "redis-server did not start"
        );
        std::thread::sleep(Duration::from_millis(50));
    }
    server
}

async fn connect(url: &str) -> Connection {
    let endpoint = RedisEndpoint {
        url: url.to_string(),
        username: None,
        password: None,
    };
    connect_within(&endpoint, 1 << 30, Instant::now() + LIMIT)
        .await
        .unwrap()
}

/// A small deterministic generator, so every run seeds the same data.
fn next(state: &mut u64) -> u64 {
    *state ^= *state << 13;
    *state ^= *state >> 7;
    *state ^= *state << 17;
    *state
}

async fn seed(url: &str, keys: usize) {
    let mut conn = connect(url).await;
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut commands: Vec<Vec<Vec<u8>>> = Vec::with_capacity(1000);
    for i in 0..keys {
        let pick = next(&mut state) % 100;
        let n = (next(&mut state) % 20 + 1) as usize;
        let key = format!("{}:{i}", ["str", "hash", "list", "set", "zset"][kind(pick)]);
        let mut c: Vec<Vec<u8>> = Vec::new();
        match kind(pick) {
            0 => {
                let len = (next(&mut state) % 991 + 10) as usize;
                c.extend([b"SET".to_vec(), key.into_bytes(), vec![b'v'; len]]);
            }
            1 => {
                c.extend([b"HSET".to_vec(), key.into_bytes()]);
                for j in 0..n {
                    c.extend([format!("f{j}").into_bytes(), b"value".to_vec()]);
                }
            }
            2 | 3 => {
                let verb = if kind(pick) == 2 { "RPUSH" } else { "SADD" };
                c.extend([verb.as_bytes().to_vec(), key.into_bytes()]);
                c.extend((0..n).map(|j| format!("member{j}").into_bytes()));
            }
            _ => {
                c.extend([b"ZADD".to_vec(), key.into_bytes()]);
                for j in 0..n {
                    c.extend([
                        j.to_string().into_bytes(),
                        format!("member{j}").into_bytes(),
                    ]);
                }
            }
        }
        commands.push(c);
        if commands.len() == 1000 || i + 1 == keys {
            let args: Vec<Vec<&[u8]>> = commands
                .iter()
                .map(|c| c.iter().map(Vec::as_slice).collect())
                .collect();
            for reply in conn.pipeline(&args, Instant::now() + LIMIT).await.unwrap() {
                reply.unwrap();
            }
            conn.renew_budget();
            commands.clear();
        }
    }
}

/// 70% strings, 10% hashes, 10% lists, 5% sets, 5% zsets.
fn kind(pick: u64) -> usize {
    match pick {
        0..70 => 0,
        70..80 => 1,
        80..90 => 2,
        90..95 => 3,
        _ => 4,
    }
}

/// The server's CPU seconds so far, system and user.
async fn server_cpu(url: &str) -> f64 {
    let mut conn = connect(url).await;
    let reply = conn
        .call(&[b"INFO", b"cpu"], Instant::now() + LIMIT)
        .await
        .unwrap();
    let dcs_session_exporter::redis::resp::Value::Bulk(text) = reply else {
        panic!("INFO answered no text");
    };
    String::from_utf8_lossy(&text)
        .lines()
        .filter_map(|l| {
            let (name, value) = l.split_once(':')?;
            matches!(name, "used_cpu_sys" | "used_cpu_user")
                .then(|| value.trim().parse::<f64>().ok())?
        })
        .sum()
}

/// One whole walk at `rate` keys/s, in one step; the keys it measured.
async fn walk(url: &str, rate: u32) -> u64 {
    let toml = format!(
        "[[redis]]\nname = \"bench\"\nurl = \"{url}\"\nkey_scan = {{ keys_per_second = {rate} }}\n"
    );
    let config = Config::from_toml(&toml).unwrap();
    let mut walker = KeyWalk::new(Arc::new(config.redis[0].clone())).unwrap();
    let report = walker.step(Instant::now() + LIMIT).await;
    assert!(report.errors.is_empty(), "the walk failed");
    report.finished.expect("a whole walk in one step").measured
}

fn redis_cli(port: u16, mode: &str) -> bool {
    Command::new("redis-cli")
        .args(["-p", &port.to_string(), mode])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    if which("redis-server").is_none() || which("redis-cli").is_none() {
        println!("key_scan bench skipped: redis-server and redis-cli are needed on the PATH");
        return;
    }
    let keys: usize = std::env::var("KEYS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(1_000_000);
    let server = start_server();
    let url = format!("redis://127.0.0.1:{}", server.port);
    let seeding = Instant::now();
    seed(&url, keys).await;
    println!(
        "seeded {keys} keys in {:.1} s",
        seeding.elapsed().as_secs_f64()
    );
    println!("| what | keys | server CPU (s) | server CPU per 1M keys (s) | wall (s) |");
    println!("|---|---|---|---|---|");
    let row = |what: &str, measured: u64, cpu: f64, wall: f64| {
        let per_million = cpu / measured.max(1) as f64 * 1e6;
        println!("| {what} | {measured} | {cpu:.2} | {per_million:.2} | {wall:.1} |");
    };
    for (what, rate) in [
        ("key_scan, 5000 keys/s", 5000),
        ("key_scan, unpaced", 1_000_000),
    ] {
        let (cpu, started) = (server_cpu(&url).await, Instant::now());
        let measured = walk(&url, rate).await;
        let wall = started.elapsed().as_secs_f64();
        row(what, measured, server_cpu(&url).await - cpu, wall);
    }
    for mode in ["--bigkeys", "--memkeys"] {
        let (cpu, started) = (server_cpu(&url).await, Instant::now());
        if !redis_cli(server.port, mode) {
            println!("| redis-cli {mode} | not run: redis-cli refused it |  |  |  |");
            continue;
        }
        let wall = started.elapsed().as_secs_f64();
        row(
            &format!("redis-cli {mode}"),
            keys as u64,
            server_cpu(&url).await - cpu,
            wall,
        );
    }
}
