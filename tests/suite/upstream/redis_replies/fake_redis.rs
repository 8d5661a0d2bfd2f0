//! A scripted Redis server on loopback: it reads each command a client sends and answers what
//! the test's script says, however hostile. Killed on drop.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::{TcpListener, TcpStream};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

/// What the script answers to one command (its words), written to the stream; an error ends
/// the connection. `calls` is how many `CLIENT LIST` the server was sent before this command.
pub type Script = dyn Fn(&[String], u64, &mut TcpStream) -> std::io::Result<()> + Send + Sync;

pub struct FakeRedis {
    pub url: String,
    /// `CLIENT LIST` commands received: the scans that reached the listing.
    pub client_lists: Arc<AtomicU64>,
    stop: Arc<AtomicBool>,
    port: u16,
}

impl FakeRedis {
    pub fn start(
        script: impl Fn(&[String], u64, &mut TcpStream) -> std::io::Result<()> + Send + Sync + 'static,
    ) -> Self {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let stop = Arc::new(AtomicBool::new(false));
        let client_lists = Arc::new(AtomicU64::new(0));
        let script: Arc<Script> = Arc::new(script);
        let (stopped, counted) = (Arc::clone(&stop), Arc::clone(&client_lists));
        std::thread::spawn(move || {
            for stream in listener.incoming() {
                if stopped.load(Ordering::SeqCst) {
                    return;
                }
                let Ok(stream) = stream else { continue };
                let (script, counted, stopped) = (
                    Arc::clone(&script),
                    Arc::clone(&counted),
                    Arc::clone(&stopped),
                );
                std::thread::spawn(move || serve(stream, &*script, &counted, &stopped));
            }
        });
        Self {
            url: format!("redis://127.0.0.1:{port}"),
            client_lists,
            stop,
            port,
        }
    }

    pub fn client_lists(&self) -> u64 {
        self.client_lists.load(Ordering::SeqCst)
    }
}

impl Drop for FakeRedis {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wakes the accepting thread so that it sees the flag.
        let _ = TcpStream::connect(("127.0.0.1", self.port));
    }
}

fn serve(stream: TcpStream, script: &Script, client_lists: &AtomicU64, stop: &AtomicBool) {
    // A client that stops reading must not hold a writer forever.
    let _ = stream.set_write_timeout(Some(Duration::from_secs(30)));
    let _ = stream.set_read_timeout(Some(Duration::from_secs(60)));
    let Ok(mut out) = stream.try_clone() else {
        return;
    };
    let mut reader = BufReader::new(stream);
    while !stop.load(Ordering::SeqCst) {
        let Some(args) = read_command(&mut reader) else {
            return;
        };
        let before = client_lists.load(Ordering::SeqCst);
        if args.len() >= 2
            && args[0].eq_ignore_ascii_case("CLIENT")
            && args[1].eq_ignore_ascii_case("LIST")
        {
            client_lists.fetch_add(1, Ordering::SeqCst);
        }
        if script(&args, before, &mut out).is_err() {
            return;
        }
    }
}

/// One command: an array of bulk strings.
fn read_command(reader: &mut BufReader<TcpStream>) -> Option<Vec<String>> {
    let mut line = String::new();
    reader.read_line(&mut line).ok()?;
    let count: usize = line.trim_end().strip_prefix('*')?.parse().ok()?;
    let mut args = Vec::with_capacity(count.min(16));
    for _ in 0..count {
        line.clear();
        reader.read_line(&mut line).ok()?;
        let len: usize = line.trim_end().strip_prefix('$')?.parse().ok()?;
        let mut arg = vec![0; len + 2];
        reader.read_exact(&mut arg).ok()?;
        arg.truncate(len);
        args.push(String::from_utf8_lossy(&arg).into_owned());
    }
    Some(args)
}

/// A bulk string reply.
pub fn bulk(text: &str) -> String {
    format!("${}\r\n{text}\r\n", text.len())
}

/// What a small healthy server answers: two sessions, a master, the limits given, an empty slow
/// log. `None` for a command it does not know.
pub fn healthy(args: &[String], maxclients: &str, timeout: &str) -> Option<String> {
    let words: Vec<String> = args.iter().map(|a| a.to_ascii_uppercase()).collect();
    let words: Vec<&str> = words.iter().map(String::as_str).collect();
    Some(match words.as_slice() {
        ["CLIENT", "ID"] => ":9\r\n".to_string(),
        ["CLIENT", "LIST"] => bulk(
            "id=3 addr=10.0.0.1:5000 fd=8 name=web age=10 idle=2 flags=N db=0 sub=0 psub=0 multi=-1 qbuf=0 qbuf-free=0 obl=0 oll=0 omem=0 events=r cmd=get user=default\n\
             id=9 addr=127.0.0.1:6000 fd=9 name= age=0 idle=0 flags=N db=0 sub=0 psub=0 multi=-1 qbuf=0 qbuf-free=0 obl=0 oll=0 omem=0 events=r cmd=client|list user=default\n",
        ),
        ["INFO", ..] => bulk("# Replication\r\nrole:master\r\n"),
        ["CONFIG", "GET", "MAXCLIENTS"] => {
            format!("*2\r\n{}{}", bulk("maxclients"), bulk(maxclients))
        }
        ["CONFIG", "GET", "TIMEOUT"] => format!("*2\r\n{}{}", bulk("timeout"), bulk(timeout)),
        ["TIME"] => format!("*2\r\n{}{}", bulk("1700000000"), bulk("0")),
        ["SLOWLOG", ..] => "*0\r\n".to_string(),
        _ => return None,
    })
}

/// Writes `head`, then `chunk` again and again until `limit` bytes are out or the client is
/// gone.
pub fn stream_endlessly(
    out: &mut TcpStream,
    head: &[u8],
    chunk: &[u8],
    limit: u64,
) -> std::io::Result<()> {
    out.write_all(head)?;
    let block = chunk.repeat((64 * 1024 / chunk.len()).max(1));
    let mut sent = 0u64;
    while sent < limit {
        out.write_all(&block)?;
        sent += block.len() as u64;
    }
    Ok(())
}
