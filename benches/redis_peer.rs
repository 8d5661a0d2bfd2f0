//! This exporter next to Debian's `prometheus-redis-exporter` (1.45, `-export-client-list`, and
//! again with `-export-client-port`), one after the other, on the same real `redis-server`
//! holding 10,000 client connections opened by this benchmark (named and unnamed, in dbs 0 to 2,
//! a few hundred subscribers, from 64 loopback addresses). Reports, for each: the sessions it
//! shows, its series and exposition size (all of it, and the part about clients), its CPU per
//! scan or scrape and per client, what it costs `redis-server`, its scan or scrape wall time and
//! its resident memory; as a table and as Markdown rows.
//!
//!     cargo bench --bench redis_peer
//!
//! Needs `redis-server` and `prometheus-redis-exporter` on the PATH (Debian's packages); without
//! them it says why and exits successfully. Environment: CLIENTS (10000), CLIENT_HOSTS (64),
//! SUBSCRIBERS (300), SCAN_WINDOW (30 seconds of scans measured), SCRAPES (20).
//!
//! CPU is each thread's `se.sum_exec_runtime` (/proc/<pid>/task/<tid>/sched, to the ns) where
//! the kernel shows it, else utime + stime from /proc/<pid>/stat (clock ticks, 10 ms); the tick
//! figures are printed too, as a check. This exporter scans on its interval (2 s here) whatever
//! the scrapes: its scan CPU is measured over a window of scans without scrapes (idle time
//! between scans included), and one scrape's CPU around each of a series of scrapes, one a scan
//! interval, half-way between scans (each encodes data newer than the previous one, as a
//! Prometheus scrape would). The peer runs `CLIENT LIST` at every scrape: its CPU is measured over
//! back-to-back scrapes, after a first one. redis-server's CPU is measured over those scrapes,
//! and in half a second around each of this exporter's scans (they keep their place every
//! interval); it is given net of what the server spends holding the connections without any
//! exporter (measured first), and as measured. Its command time comes from INFO commandstats.
//! "A cycle" is one scan and one scrape for this exporter, one scrape for the peer: what each
//! costs when Prometheus scrapes as often as this exporter scans.

use std::collections::HashMap;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpSocket, TcpStream};
use tokio::time::Instant;

mod common;

const SCAN_INTERVAL: Duration = Duration::from_secs(2);
const IO_TIMEOUT: Duration = Duration::from_secs(10);

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

/// `name` on the PATH, as `which` finds it.
fn which(name: &str) -> Option<PathBuf> {
    std::env::split_paths(&std::env::var_os("PATH")?)
        .map(|dir| dir.join(name))
        .find(|p| p.is_file())
}

/// The child processes of the run and its temporary directory: killed and removed when the run
/// ends, also by a panic.
struct Processes {
    children: Vec<(&'static str, Child)>,
    dir: PathBuf,
}

impl Processes {
    fn add(&mut self, name: &'static str, child: Child) -> u32 {
        let pid = child.id();
        self.children.push((name, child));
        pid
    }

    fn stop(&mut self, name: &str) {
        if let Some(i) = self.children.iter().position(|(n, _)| *n == name) {
            let (_, mut child) = self.children.remove(i);
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Processes {
    fn drop(&mut self) {
        for (_, child) in &mut self.children {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// A process's CPU time so far: utime + stime in clock ticks, and each thread's run time (ms,
/// to the ns, from its schedstat) where the kernel has it.
struct Cpu {
    ticks: u64,
    threads: HashMap<i32, f64>,
}

fn cpu(pid: u32) -> Cpu {
    let threads = procfs::process::Process::new(pid as i32)
        .and_then(|p| p.tasks())
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|task| {
            let stat = task.schedstat().ok()?;
            Some((task.tid, stat.sum_exec_runtime as f64 / 1e6))
        })
        .collect();
    Cpu {
        ticks: common::cpu_ticks(pid),
        threads,
    }
}

impl Cpu {
    /// CPU ms from `earlier` to this sample: precise when the kernel shows threads' run time
    /// (the time of threads that ended in between is lost), else from the ticks.
    fn since(&self, earlier: &Cpu, tick_ms: f64) -> f64 {
        if self.threads.is_empty() || earlier.threads.is_empty() {
            return self.ticks_since(earlier, tick_ms);
        }
        self.threads
            .iter()
            .map(|(tid, ms)| ms - earlier.threads.get(tid).unwrap_or(&0.0))
            .sum()
    }

    fn ticks_since(&self, earlier: &Cpu, tick_ms: f64) -> f64 {
        self.ticks.saturating_sub(earlier.ticks) as f64 * tick_ms
    }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0")
        .and_then(|l| l.local_addr())
        .map(|a| a.port())
        .expect("no free loopback port")
}

/// The strings and integers of a reply, flattened.
fn leaves(value: redis::Value, out: &mut Vec<String>) {
    match value {
        redis::Value::Array(items)
        | redis::Value::Set(items)
        | redis::Value::Push { data: items, .. } => {
            for item in items {
                leaves(item, out);
            }
        }
        redis::Value::Nil => {}
        redis::Value::Int(n) => out.push(n.to_string()),
        redis::Value::BulkString(bytes) => out.push(String::from_utf8_lossy(&bytes).into_owned()),
        redis::Value::SimpleString(s) | redis::Value::VerbatimString { text: s, .. } => out.push(s),
        redis::Value::Okay => out.push("OK".into()),
        other => out.push(format!("{other:?}")),
    }
}

/// One command on a connection of its own, closed at once (so it is not among the sessions the
/// exporters see later).
async fn query(addr: &str, args: &[&str]) -> Result<Vec<String>, String> {
    let mut cmd = redis::cmd(args[0]);
    for a in &args[1..] {
        cmd.arg(*a);
    }
    tokio::time::timeout(IO_TIMEOUT, async {
        let client = redis::Client::open(format!("redis://{addr}")).map_err(|e| e.to_string())?;
        let mut conn = client
            .get_multiplexed_async_connection()
            .await
            .map_err(|e| e.to_string())?;
        let value: redis::Value = cmd
            .query_async(&mut conn)
            .await
            .map_err(|e| e.to_string())?;
        let mut out = Vec::new();
        leaves(value, &mut out);
        Ok(out)
    })
    .await
    .map_err(|_| format!("{args:?}: timed out"))?
}

/// Sends one command on a connection of the benchmark's own clients and reads its reply.
async fn command(stream: &mut TcpStream, args: &[String]) -> Result<(), String> {
    let mut cmd = redis::cmd(&args[0]);
    for a in &args[1..] {
        cmd.arg(a);
    }
    stream
        .write_all(&cmd.get_packed_command())
        .await
        .map_err(|e| e.to_string())?;
    // One command at a time: the reply is all there is to read.
    let mut buf = Vec::new();
    loop {
        match redis::parse_redis_value(&buf) {
            Ok(redis::Value::ServerError(e)) => return Err(format!("{e:?}")),
            Ok(_) => return Ok(()),
            // Not all of it yet.
            Err(_) => {}
        }
        let mut chunk = [0u8; 4096];
        let n = stream.read(&mut chunk).await.map_err(|e| e.to_string())?;
        if n == 0 {
            return Err("connection closed".into());
        }
        buf.extend_from_slice(&chunk[..n]);
    }
}

async fn info_field(addr: &str, section: &str, key: &str) -> Option<String> {
    let info = query(addr, &["INFO", section]).await.ok()?.pop()?;
    info.lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .map(str::to_string)
}

/// What the server's commands have done so far (INFO commandstats): calls and microseconds
/// (execution, not the writing of replies) by command.
struct CommandStats(HashMap<String, (u64, u64)>);

async fn command_stats(addr: &str) -> CommandStats {
    let info = query(addr, &["INFO", "commandstats"])
        .await
        .ok()
        .and_then(|mut r| r.pop())
        .unwrap_or_default();
    let mut stats = HashMap::new();
    for line in info.lines() {
        let Some((name, fields)) = line.split_once(':') else {
            continue;
        };
        let Some(name) = name.strip_prefix("cmdstat_") else {
            continue;
        };
        let field = |key: &str| {
            fields
                .split(',')
                .find_map(|kv| kv.strip_prefix(key)?.strip_prefix('=')?.parse::<u64>().ok())
                .unwrap_or(0)
        };
        stats.insert(name.to_string(), (field("calls"), field("usec")));
    }
    CommandStats(stats)
}

impl CommandStats {
    /// Calls and ms of each command since `earlier`, most time first, less `own_info` INFO
    /// calls of this benchmark (at the average INFO time).
    fn since(&self, earlier: &CommandStats, own_info: u64) -> Vec<(String, u64, f64)> {
        let mut out: Vec<(String, u64, f64)> = self
            .0
            .iter()
            .map(|(name, (calls, usec))| {
                let (c0, u0) = earlier.0.get(name).copied().unwrap_or((0, 0));
                let (calls, ms) = (
                    calls.saturating_sub(c0),
                    usec.saturating_sub(u0) as f64 / 1e3,
                );
                if name == "info" && calls > 0 {
                    let own = own_info.min(calls);
                    (
                        name.clone(),
                        calls - own,
                        ms * (calls - own) as f64 / calls as f64,
                    )
                } else {
                    (name.clone(), calls, ms)
                }
            })
            .filter(|(_, calls, _)| *calls > 0)
            .collect();
        out.sort_by(|a, b| b.2.total_cmp(&a.2));
        out
    }
}

/// `CLIENT LIST` calls, all commands' ms, and the commands that took most, per operation.
fn commands_per_op(delta: &[(String, u64, f64)], ops: f64) -> (u64, f64, String) {
    let client_list = delta
        .iter()
        .find(|(n, _, _)| n == "client|list")
        .map_or(0, |d| d.1);
    let total: f64 = delta.iter().map(|d| d.2).sum::<f64>() / ops;
    let top = delta
        .iter()
        .take(4)
        .map(|(n, calls, ms)| format!("{n} {:.2} ms ({:.1} calls)", ms / ops, *calls as f64 / ops))
        .collect::<Vec<_>>()
        .join(", ");
    (client_list, total, top)
}

/// Opens client `k`: from one of `hosts` loopback addresses, named or not, in db 0, 1 or 2,
/// some having run a command, the first `subscribers` subscribed to a channel.
async fn open_client(
    addr: std::net::SocketAddr,
    k: usize,
    hosts: usize,
    subscribers: usize,
    bind: bool,
) -> Result<TcpStream, String> {
    let socket = TcpSocket::new_v4().map_err(|e| e.to_string())?;
    if bind {
        let source = std::net::Ipv4Addr::new(
            127,
            0,
            1 + (k % hosts / 250) as u8,
            1 + (k % hosts % 250) as u8,
        );
        socket
            .bind((source, 0).into())
            .map_err(|e| format!("bind {source}: {e}"))?;
    }
    let mut stream = socket.connect(addr).await.map_err(|e| e.to_string())?;
    let mut commands: Vec<Vec<String>> = Vec::new();
    if k % 4 != 3 {
        commands.push(vec![
            "CLIENT".into(),
            "SETNAME".into(),
            format!("app-{}", k % 8),
        ]);
    }
    let db = match k % 10 {
        7 | 8 => 1,
        9 => 2,
        _ => 0,
    };
    if db != 0 {
        commands.push(vec!["SELECT".into(), db.to_string()]);
    }
    if k < subscribers {
        commands.push(vec!["SUBSCRIBE".into(), format!("ch-{}", k % 3)]);
    } else if k.is_multiple_of(3) {
        commands.push(vec!["GET".into(), format!("key-{}", k % 100)]);
    } else if k % 3 == 1 {
        commands.push(vec!["PING".into()]);
    }
    for c in &commands {
        command(&mut stream, c)
            .await
            .map_err(|e| format!("{}: {e}", c.join(" ")))?;
    }
    Ok(stream)
}

/// A /metrics answer: decoded body, size on the wire, wall time.
struct Scrape {
    body: String,
    wire_bytes: usize,
    wall: Duration,
}

/// Scrapes as Prometheus does, asking for gzip.
async fn scrape(http: &reqwest::Client, url: &str) -> Result<Scrape, String> {
    let started = Instant::now();
    let response = http
        .get(url)
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .map_err(|e| e.to_string())?;
    if !response.status().is_success() {
        return Err(format!("{url}: HTTP {}", response.status()));
    }
    let gzipped = response
        .headers()
        .get("content-encoding")
        .is_some_and(|v| v.as_bytes().eq_ignore_ascii_case(b"gzip"));
    let bytes = response.bytes().await.map_err(|e| e.to_string())?;
    let wall = started.elapsed();
    let body = if gzipped {
        let mut s = String::new();
        flate2::read::GzDecoder::new(&bytes[..])
            .read_to_string(&mut s)
            .map_err(|e| e.to_string())?;
        s
    } else {
        String::from_utf8_lossy(&bytes).into_owned()
    };
    Ok(Scrape {
        body,
        wire_bytes: bytes.len(),
        wall,
    })
}

/// Series and bytes of an exposition, all of it and the families `about_clients` picks.
#[derive(Default)]
struct Exposition {
    series: usize,
    bytes: usize,
    client_series: usize,
    client_bytes: usize,
    /// Values of the series of each metric name.
    values: HashMap<String, Vec<f64>>,
}

fn exposition(body: &str, about_clients: impl Fn(&str) -> bool) -> Exposition {
    let mut e = Exposition {
        bytes: body.len(),
        ..Exposition::default()
    };
    for line in body.lines().filter(|l| !l.trim().is_empty()) {
        let (name, sample) = match line.strip_prefix('#') {
            // # HELP name ... / # TYPE name ...
            Some(comment) => (comment.split_whitespace().nth(1).unwrap_or(""), false),
            None => (line.split(['{', ' ']).next().unwrap_or(""), true),
        };
        let clients = about_clients(name);
        if clients {
            e.client_bytes += line.len() + 1;
        }
        if sample {
            e.series += 1;
            if clients {
                e.client_series += 1;
            }
            // The value follows the labels (which may hold spaces).
            let after_labels = line.rsplit_once('}').map_or(line, |(_, rest)| rest);
            if let Some(v) = after_labels
                .split_whitespace()
                .nth(usize::from(!line.contains('}')))
                .and_then(|v| v.parse().ok())
            {
                e.values.entry(name.to_string()).or_default().push(v);
            }
        }
    }
    e
}

/// One exporter's figures.
struct Figures {
    name: String,
    sessions: String,
    expo: Exposition,
    wire_bytes: usize,
    /// CPU of one scan (ours) or one scrape (the peer), ms.
    cpu_per_op_ms: f64,
    /// CPU of one scrape of /metrics, ms (the same as `cpu_per_op_ms` for the peer).
    cpu_per_scrape_ms: f64,
    /// redis-server's CPU for one scan or scrape, ms: net of its idle CPU, as measured, and
    /// the time its commands took (commandstats).
    redis_per_op_ms: (f64, f64, f64),
    /// Wall time of the last scan (ours: dcs_scan_duration_seconds), ms.
    scan_wall_ms: Option<f64>,
    /// Wall time of a scrape, ms: median and max.
    scrape_wall_ms: (f64, f64),
    ops: String,
    rss_kib: (u64, u64),
}

fn median_max(mut v: Vec<f64>) -> (f64, f64) {
    if v.is_empty() {
        return (0.0, 0.0);
    }
    v.sort_by(f64::total_cmp);
    (v[v.len() / 2], v[v.len() - 1])
}

fn thousands(n: usize) -> String {
    let s = n.to_string();
    let mut out = String::new();
    for (i, c) in s.chars().enumerate() {
        if i > 0 && (s.len() - i).is_multiple_of(3) {
            out.push(',');
        }
        out.push(c);
    }
    out
}

fn size(bytes: usize) -> String {
    if bytes >= 1 << 20 {
        format!("{:.2} MiB", bytes as f64 / (1 << 20) as f64)
    } else {
        format!("{:.1} KiB", bytes as f64 / 1024.0)
    }
}

async fn wait_until<F, Fut>(what: &str, limit: Duration, mut ready: F)
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = bool>,
{
    let deadline = Instant::now() + limit;
    while !ready().await {
        assert!(
            Instant::now() < deadline,
            "{what}: not within {} s",
            limit.as_secs()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn epoch_seconds() -> f64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .unwrap_or_default()
        .as_secs_f64()
}

async fn sleep_until_epoch(seconds: f64) {
    let wait = seconds - epoch_seconds();
    if wait > 0.0 {
        tokio::time::sleep(Duration::from_secs_f64(wait)).await;
    }
}

fn skip(reason: &str) {
    println!("redis_peer: skipped: {reason}");
}

#[tokio::main]
async fn main() {
    let clients = env_or("CLIENTS", 10_000);
    let hosts = env_or("CLIENT_HOSTS", 64).clamp(1, 250 * 250);
    let subscribers = env_or("SUBSCRIBERS", 300);
    let scan_window = Duration::from_secs(env_or("SCAN_WINDOW", 30) as u64);
    let scrapes = env_or("SCRAPES", 20).max(1);

    let Some(redis_server) = which("redis-server") else {
        return skip("redis-server is not installed (apt-get install redis-server)");
    };
    let Some(peer) = which("prometheus-redis-exporter") else {
        return skip(
            "prometheus-redis-exporter is not installed (apt-get install prometheus-redis-exporter)",
        );
    };
    let fd_limit = std::fs::read_to_string("/proc/self/limits")
        .unwrap_or_default()
        .lines()
        .find_map(|l| {
            l.strip_prefix("Max open files")?
                .split_whitespace()
                .next()?
                .parse::<usize>()
                .ok()
        })
        .unwrap_or(usize::MAX);
    if fd_limit < clients + 200 {
        return skip(&format!(
            "{clients} connections need more open files than the limit of {fd_limit} (ulimit -n)"
        ));
    }
    let version = |bin: &Path, arg: &str| {
        Command::new(bin)
            .arg(arg)
            .output()
            .map(|o| {
                let text = format!(
                    "{}{}",
                    String::from_utf8_lossy(&o.stdout),
                    String::from_utf8_lossy(&o.stderr)
                );
                text.lines().next().unwrap_or("").trim().to_string()
            })
            .unwrap_or_default()
    };
    let ticks_per_second = common::clock_ticks_per_second();
    let tick_ms = 1000.0 / ticks_per_second;

    let dir = std::env::temp_dir().join(format!("dcs-redis-peer-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let mut procs = Processes {
        children: Vec::new(),
        dir: dir.clone(),
    };

    // redis-server
    let redis_port = free_port();
    let redis_addr = format!("127.0.0.1:{redis_port}");
    let maxclients = clients + 100;
    let redis_pid = procs.add(
        "redis-server",
        Command::new(&redis_server)
            .args(["--port", &redis_port.to_string(), "--bind", "127.0.0.1"])
            // Clients come from 127.0.1.x, which protected mode refuses; the server listens
            // on 127.0.0.1 only.
            .args(["--protected-mode", "no"])
            .args(["--save", "", "--appendonly", "no", "--daemonize", "no"])
            .args(["--maxclients", &maxclients.to_string()])
            .arg("--dir")
            .arg(&dir)
            .stdout(Stdio::null())
            .spawn()
            .expect("starting redis-server"),
    );
    wait_until(
        "redis-server answering PING",
        Duration::from_secs(20),
        || async { query(&redis_addr, &["PING"]).await.is_ok() },
    )
    .await;
    let accepted: usize = query(&redis_addr, &["CONFIG", "GET", "maxclients"])
        .await
        .ok()
        .and_then(|r| r.get(1)?.parse().ok())
        .unwrap_or(0);
    if accepted < clients + 10 {
        return skip(&format!(
            "redis-server accepted maxclients {accepted}, not {maxclients} (file limit {fd_limit})"
        ));
    }
    let redis_version = info_field(&redis_addr, "server", "redis_version")
        .await
        .unwrap_or_default();

    // The clients, kept open for the whole run.
    let started = Instant::now();
    let socket_addr: std::net::SocketAddr = redis_addr.parse().unwrap();
    let mut bind = hosts > 1;
    let mut conns = Vec::with_capacity(clients);
    for k in 0..clients {
        let opened = tokio::time::timeout(
            IO_TIMEOUT,
            open_client(socket_addr, k, hosts, subscribers, bind),
        )
        .await
        .unwrap_or_else(|_| Err("timed out".into()));
        let conn = match opened {
            Ok(c) => c,
            Err(e) if k == 0 && bind && e.starts_with("bind") => {
                println!("binding to 127.0.x.y failed ({e}): every client from 127.0.0.1");
                bind = false;
                tokio::time::timeout(
                    IO_TIMEOUT,
                    open_client(socket_addr, k, hosts, subscribers, false),
                )
                .await
                .expect("client 0: timed out")
                .unwrap()
            }
            Err(e) => panic!("client {k}: {e}"),
        };
        conns.push(conn);
    }
    let opened_in = started.elapsed();
    // This query's own connection is among connected_clients.
    let deadline = Instant::now() + Duration::from_secs(20);
    let connected = loop {
        let connected = info_field(&redis_addr, "clients", "connected_clients")
            .await
            .and_then(|v| v.trim().parse::<usize>().ok())
            .unwrap_or(0);
        if connected > clients {
            break connected;
        }
        assert!(
            Instant::now() < deadline,
            "connected_clients {connected}, not above {clients}, after 20 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    println!(
        "redis-server {redis_version} on {redis_addr}: {} clients opened in {:.1} s \
         (connected_clients {connected} with this query's own), from {} addresses, \
         {} subscribers; maxclients {accepted}",
        thousands(clients),
        opened_in.as_secs_f64(),
        if bind { hosts } else { 1 },
        subscribers.min(clients)
    );
    println!(
        "{}; {}; CLK_TCK {ticks_per_second}",
        version(&peer, "-version")
            .split_once("Exporter ")
            .map_or("", |(_, v)| v)
            .split_whitespace()
            .next()
            .map(|v| format!("prometheus-redis-exporter {v}"))
            .unwrap_or_default(),
        version(
            Path::new(env!("CARGO_BIN_EXE_dcs-session-exporter")),
            "--version"
        )
    );

    // What redis-server costs holding the connections, without any exporter.
    let idle_window = Duration::from_secs(10);
    let (t0, r0) = (Instant::now(), cpu(redis_pid));
    tokio::time::sleep(idle_window).await;
    let redis_idle_ms_per_s = cpu(redis_pid).since(&r0, tick_ms) / t0.elapsed().as_secs_f64();
    println!(
        "redis-server idle with the clients: {redis_idle_ms_per_s:.2} ms CPU a second; CPU from {}",
        if r0.threads.is_empty() {
            "utime + stime (clock ticks)"
        } else {
            "each thread's se.sum_exec_runtime (/proc/<pid>/task/<tid>/sched)"
        }
    );

    let http = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(60))
        .build()
        .unwrap();
    let mut results = Vec::new();

    // This exporter: one [[redis]] target.
    {
        let config = dir.join("exporter.toml");
        std::fs::write(
            &config,
            format!(
                "[exporter]\nscan_interval = \"{}s\"\nfirst_scan_spread = \"0s\"\n\n\
                 [[redis]]\nname = \"bench\"\nurl = \"redis://{redis_addr}\"\n",
                SCAN_INTERVAL.as_secs()
            ),
        )
        .unwrap();
        let mut child = common::spawn_exporter(&config, &[], &[]);
        let base = common::exporter_base_url(&mut child);
        let pid = procs.add("ours", child);
        let url = format!("{base}/metrics");
        let deadline = Instant::now() + Duration::from_secs(60);
        // When the first scan with every client ended: scans follow every interval from there.
        let scanned_at = loop {
            if let Ok(s) = scrape(&http, &url).await {
                let e = exposition(&s.body, |_| false);
                let sessions: f64 = e.values.get("dcs_clients").map_or(0.0, |v| v.iter().sum());
                if sessions >= clients as f64 {
                    break e
                        .values
                        .get("dcs_scan_last_success_timestamp_seconds")
                        .and_then(|v| v.first().copied())
                        .unwrap_or(0.0);
                }
            }
            assert!(
                Instant::now() < deadline,
                "dcs-session-exporter: no scan with every client within 60 s"
            );
            tokio::time::sleep(Duration::from_millis(200)).await;
        };
        tokio::time::sleep(Duration::from_secs(1)).await;

        // Scans, no scrapes. This exporter's CPU over the whole window, idle time between
        // scans included; redis-server's in half a second around each scan (the scans keep
        // their place every interval), so that little of its idle CPU is to be subtracted.
        let interval = SCAN_INTERVAL.as_secs_f64();
        let windows = (scan_window.as_secs_f64() / interval).round().max(1.0) as usize;
        // The end of the first scan at least a second away.
        let mut scan_end =
            scanned_at + ((epoch_seconds() + 1.0 - scanned_at) / interval).ceil() * interval;
        let (mut redis_in, mut ours_in, mut secs_in) = (0.0, 0.0, 0.0);
        let mut one_scan = 0;
        let mut ends = None;
        for _ in 0..windows {
            sleep_until_epoch(scan_end - 0.3).await;
            let stats_a = command_stats(&redis_addr).await;
            let (c_a, r_a, t_a) = (cpu(pid), cpu(redis_pid), Instant::now());
            sleep_until_epoch(scan_end + 0.2).await;
            let (c_b, r_b, t_b) = (cpu(pid), cpu(redis_pid), Instant::now());
            let stats_b = command_stats(&redis_addr).await;
            redis_in += r_b.since(&r_a, tick_ms);
            ours_in += c_b.since(&c_a, tick_ms);
            secs_in += (t_b - t_a).as_secs_f64();
            if commands_per_op(&stats_b.since(&stats_a, 1), 1.0).0 == 1 {
                one_scan += 1;
            }
            let first = ends.take().map_or((c_a, stats_a, t_a), |(first, _)| first);
            ends = Some((first, (c_b, stats_b, t_b)));
            scan_end += interval;
        }
        let ((c0, s0, t0), (c1, s1, t1)) = ends.unwrap();
        let elapsed = (t1 - t0).as_secs_f64();
        // The INFO commandstats of every window's ends but the last one's are counted.
        let delta = s1.since(&s0, 2 * windows as u64 - 1);
        let scans = commands_per_op(&delta, 1.0).0.max(1) as f64;
        let (_, command_ms, top_commands) = commands_per_op(&delta, scans);
        let cpu_per_scan = c1.since(&c0, tick_ms) / scans;
        let ticks_per_scan = c1.ticks_since(&c0, tick_ms) / scans;
        let redis_per_scan = (
            (redis_in - redis_idle_ms_per_s * secs_in) / windows as f64,
            redis_in / windows as f64,
            command_ms,
        );

        // One scrape a scan interval, half-way between scans (so never during one, and always
        // of data newer than the previous scrape's), its CPU measured around it.
        let mut walls = Vec::new();
        let mut scrape_cpu = Vec::new();
        let mut last = None;
        for _ in 0..scrapes {
            let phase = (epoch_seconds() - scanned_at).rem_euclid(interval);
            let mut wait = (interval / 2.0 - phase).rem_euclid(interval);
            if wait < interval / 4.0 {
                wait += interval;
            }
            tokio::time::sleep(Duration::from_secs_f64(wait)).await;
            let before = cpu(pid);
            let s = scrape(&http, &url).await.unwrap();
            scrape_cpu.push(cpu(pid).since(&before, tick_ms));
            walls.push(s.wall.as_secs_f64() * 1e3);
            last = Some(s);
        }
        let cpu_per_scrape = scrape_cpu.iter().sum::<f64>() / scrapes as f64;
        let last = last.unwrap();
        let expo = exposition(&last.body, |n| {
            n.starts_with("dcs_client") || n.starts_with("dcs_top_client")
        });
        let total: f64 = expo
            .values
            .get("dcs_clients")
            .map_or(0.0, |v| v.iter().sum());
        let scan_wall = expo
            .values
            .get("dcs_scan_duration_seconds")
            .and_then(|v| v.first())
            .copied()
            .unwrap_or(0.0)
            * 1e3;
        results.push(Figures {
            name: "dcs-session-exporter".into(),
            sessions: format!(
                "{} of {} (sum of {} series)",
                thousands(total as usize),
                thousands(clients),
                expo.values.get("dcs_clients").map_or(0, Vec::len)
            ),
            wire_bytes: last.wire_bytes,
            cpu_per_op_ms: cpu_per_scan,
            cpu_per_scrape_ms: cpu_per_scrape,
            redis_per_op_ms: redis_per_scan,
            scan_wall_ms: Some(scan_wall),
            scrape_wall_ms: median_max(walls),
            ops: format!(
                "{scans} scans in {elapsed:.1} s ({ticks_per_scan:.1} ms a scan by clock ticks; \
                 {:.1} ms in half a second around each; {one_scan} of {windows} such windows \
                 held one scan, redis-server measured in them); \
                 {scrapes} scrapes, one every {interval} s half-way between scans (CPU a \
                 scrape: median {:.2} ms, max {:.2} ms); redis commands a scan: {top_commands}",
                ours_in / windows as f64,
                median_max(scrape_cpu.clone()).0,
                median_max(scrape_cpu).1,
            ),
            rss_kib: common::memory_kib(pid),
            expo,
        });
        procs.stop("ours");
    }

    // The peer, as asked (-export-client-list), then with the client's port in the labels.
    let variants: [(&str, &[&str]); 2] = [
        (
            "redis_exporter -export-client-list",
            &["-export-client-list"],
        ),
        (
            "redis_exporter + -export-client-port",
            &["-export-client-list", "-export-client-port"],
        ),
    ];
    for (name, flags) in variants {
        let port = free_port();
        let log = dir.join(format!("peer-{port}.log"));
        let log_file = std::fs::File::create(&log).unwrap();
        let pid = procs.add(
            "peer",
            Command::new(&peer)
                .args(["-redis.addr", &format!("redis://{redis_addr}")])
                .args(["-web.listen-address", &format!("127.0.0.1:{port}")])
                .args(flags)
                .stdout(log_file.try_clone().unwrap())
                .stderr(log_file)
                .spawn()
                .expect("starting prometheus-redis-exporter"),
        );
        let url = format!("http://127.0.0.1:{port}/metrics");
        // The first scrape also warms it up.
        wait_until(
            &format!("{name}: /metrics"),
            Duration::from_secs(60),
            || async { scrape(&http, &url).await.is_ok() },
        )
        .await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (c0, r0, s0, t0) = (
            cpu(pid),
            cpu(redis_pid),
            command_stats(&redis_addr).await,
            Instant::now(),
        );
        let mut walls = Vec::new();
        let mut last = None;
        for _ in 0..scrapes {
            let s = scrape(&http, &url).await.unwrap();
            walls.push(s.wall.as_secs_f64() * 1e3);
            last = Some(s);
        }
        let (c1, r1, s1, elapsed) = (
            cpu(pid),
            cpu(redis_pid),
            command_stats(&redis_addr).await,
            t0.elapsed().as_secs_f64(),
        );
        let delta = s1.since(&s0, 1);
        let (client_lists, command_ms, top_commands) = commands_per_op(&delta, scrapes as f64);
        let cpu_per_scrape = c1.since(&c0, tick_ms) / scrapes as f64;
        let ticks_per_scrape = c1.ticks_since(&c0, tick_ms) / scrapes as f64;
        let redis_raw = r1.since(&r0, tick_ms);
        let redis_per_scrape = (
            (redis_raw - redis_idle_ms_per_s * elapsed) / scrapes as f64,
            redis_raw / scrapes as f64,
            command_ms,
        );
        let last = last.unwrap();
        let expo = exposition(&last.body, |n| {
            n == "redis_connected_clients_details" || n == "redis_connected_client_info"
        });
        let details = expo.client_series;
        let details_sum: f64 = [
            "redis_connected_clients_details",
            "redis_connected_client_info",
        ]
        .iter()
        .filter_map(|n| expo.values.get(*n))
        .flatten()
        .sum();
        let errors: Vec<String> = std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|l| l.contains("level=error") || l.contains("level=warn"))
            .map(str::to_string)
            .collect();
        if let Some(first) = errors.first() {
            println!(
                "{name}: {} warnings or errors logged, the first: {first}",
                errors.len()
            );
        }
        results.push(Figures {
            name: name.into(),
            sessions: if details_sum as usize == details {
                format!("{} of {}", thousands(details), thousands(clients + 1))
            } else {
                format!(
                    "{} of {} (series; values sum to {})",
                    thousands(details),
                    thousands(clients + 1),
                    thousands(details_sum as usize)
                )
            },
            wire_bytes: last.wire_bytes,
            cpu_per_op_ms: cpu_per_scrape,
            cpu_per_scrape_ms: cpu_per_scrape,
            redis_per_op_ms: redis_per_scrape,
            scan_wall_ms: None,
            scrape_wall_ms: median_max(walls),
            ops: format!(
                "{scrapes} back-to-back scrapes in {elapsed:.1} s, {client_lists} CLIENT LIST \
                 ({ticks_per_scrape:.1} ms a scrape by clock ticks); redis commands a scrape: \
                 {top_commands}"
            ),
            rss_kib: common::memory_kib(pid),
            expo,
        });
        procs.stop("peer");
    }

    // The report.
    let per_client = |ms: f64| ms * 1e3 / clients as f64;
    let cells = |f: &dyn Fn(&Figures) -> String| results.iter().map(f).collect::<Vec<_>>();
    let rows: Vec<(&str, Vec<String>)> = vec![
        ("sessions shown", cells(&|f| f.sessions.clone())),
        (
            "series: clients / all",
            cells(&|f| {
                format!(
                    "{} / {}",
                    thousands(f.expo.client_series),
                    thousands(f.expo.series)
                )
            }),
        ),
        (
            "bytes: clients / all / gzipped",
            cells(&|f| {
                format!(
                    "{} / {} / {}",
                    size(f.expo.client_bytes),
                    size(f.expo.bytes),
                    size(f.wire_bytes)
                )
            }),
        ),
        (
            "CPU a scan (ours) or scrape",
            cells(&|f| {
                format!(
                    "{:.1} ms, {:.2} µs a client",
                    f.cpu_per_op_ms,
                    per_client(f.cpu_per_op_ms)
                )
            }),
        ),
        (
            "CPU a /metrics scrape",
            cells(&|f| format!("{:.1} ms", f.cpu_per_scrape_ms)),
        ),
        (
            "CPU a cycle (scan + scrape)",
            cells(&|f| {
                let ms = if f.scan_wall_ms.is_some() {
                    f.cpu_per_op_ms + f.cpu_per_scrape_ms
                } else {
                    f.cpu_per_op_ms
                };
                format!("{ms:.1} ms, {:.2} µs a client", per_client(ms))
            }),
        ),
        (
            "redis-server CPU a scan or scrape",
            cells(&|f| {
                format!(
                    "{:.1} ms ({:.1} ms raw)",
                    f.redis_per_op_ms.0, f.redis_per_op_ms.1
                )
            }),
        ),
        (
            "redis-server command time a scan or scrape",
            cells(&|f| format!("{:.2} ms", f.redis_per_op_ms.2)),
        ),
        (
            "scan wall time",
            cells(&|f| {
                f.scan_wall_ms
                    .map_or("-".into(), |ms| format!("{ms:.1} ms"))
            }),
        ),
        (
            "scrape wall time: median / max",
            cells(&|f| format!("{:.1} / {:.1} ms", f.scrape_wall_ms.0, f.scrape_wall_ms.1)),
        ),
        (
            "RSS / peak (VmHWM)",
            cells(&|f| {
                format!(
                    "{:.1} / {:.1} MiB",
                    f.rss_kib.0 as f64 / 1024.0,
                    f.rss_kib.1 as f64 / 1024.0
                )
            }),
        ),
    ];

    println!();
    for f in &results {
        println!("{}: {}", f.name, f.ops);
    }
    println!(
        "redis-server CPU: net of the {redis_idle_ms_per_s:.2} ms a second it spends holding the \
         clients without any exporter, raw in brackets (this exporter: in half a second around \
         each scan; the peer: over its back-to-back scrapes). redis_exporter lists its own \
         connection among the clients, this exporter leaves its own out. The figures by clock \
         ticks are utime + stime, in ticks of {tick_ms:.0} ms."
    );
    println!();
    let header: Vec<String> = std::iter::once(format!("{} clients", thousands(clients)))
        .chain(results.iter().map(|f| f.name.clone()))
        .collect();
    let table: Vec<Vec<String>> = std::iter::once(header.clone())
        .chain(rows.iter().map(|(label, cells)| {
            std::iter::once(label.to_string())
                .chain(cells.iter().cloned())
                .collect()
        }))
        .collect();
    let widths: Vec<usize> = (0..header.len())
        .map(|c| {
            table
                .iter()
                .map(|r| r[c].chars().count())
                .max()
                .unwrap_or(0)
        })
        .collect();
    for row in &table {
        let line: Vec<String> = row
            .iter()
            .zip(&widths)
            .map(|(cell, w)| format!("{cell:<w$}"))
            .collect();
        println!("{}", line.join("  ").trim_end());
    }

    println!();
    println!("Markdown:");
    println!();
    println!("| {} |", header.join(" | "));
    println!("|---|{}", "---|".repeat(results.len()));
    for (label, cells) in &rows {
        println!("| {label} | {} |", cells.join(" | "));
    }
    drop(conns);
}
