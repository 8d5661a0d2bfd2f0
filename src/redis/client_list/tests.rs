use super::*;

fn s(v: &str) -> Option<String> {
    Some(v.to_owned())
}

fn one(line: &str) -> ClientInfo {
    parse_client_line(line)
        .expect("line should parse")
        .into_owned()
}

/// The fields every version since 2.8 prints, as `redis-cli CLIENT LIST` shows
/// them for the connection running the command.
fn base(id: &str, addr: &str, fd: &str, qbuf: i64, qbuf_free: i64, cmd: &str) -> ClientInfo {
    ClientInfo {
        id: s(id),
        addr: s(addr),
        fd: s(fd),
        name: s(""),
        cmd: s(cmd),
        age: Some(0),
        idle: Some(0),
        db: s("0"),
        flags: s("N"),
        sub: Some(0),
        psub: Some(0),
        multi: Some(-1),
        qbuf: Some(qbuf),
        qbuf_free: Some(qbuf_free),
        obl: Some(0),
        oll: Some(0),
        omem: Some(0),
        events: s("r"),
        network: None,
        peer: s(addr),
        user: None,
    }
}

#[test]
fn redis_2_8_line() {
    let line = "id=2 addr=127.0.0.1:51928 fd=5 name= age=0 idle=0 flags=N db=0 sub=0 psub=0 multi=-1 qbuf=0 qbuf-free=32768 obl=0 oll=0 omem=0 events=r cmd=client";
    assert_eq!(
        one(line),
        base("2", "127.0.0.1:51928", "5", 0, 32768, "client")
    );
}

#[test]
fn redis_3_2_line() {
    let line = "id=7 addr=10.0.0.12:60212 fd=7 name= age=0 idle=0 flags=N db=0 sub=0 psub=0 multi=-1 qbuf=0 qbuf-free=32768 obl=0 oll=0 omem=0 events=r cmd=client\n";
    assert_eq!(
        one(line),
        base("7", "10.0.0.12:60212", "7", 0, 32768, "client")
    );
}

#[test]
fn redis_5_0_line() {
    let line = "id=3 addr=127.0.0.1:50188 fd=8 name= age=0 idle=0 flags=N db=0 sub=0 psub=0 multi=-1 qbuf=26 qbuf-free=32742 obl=0 oll=0 omem=0 events=r cmd=client";
    assert_eq!(
        one(line),
        base("3", "127.0.0.1:50188", "8", 26, 32742, "client")
    );
}

#[test]
fn redis_6_2_line() {
    let line = "id=3 addr=127.0.0.1:46448 laddr=127.0.0.1:6379 fd=8 name= age=0 idle=0 flags=N db=0 sub=0 psub=0 multi=-1 qbuf=26 qbuf-free=40928 argv-mem=10 obl=0 oll=0 omem=0 tot-mem=61466 events=r cmd=client user=default redir=-1";
    let want = ClientInfo {
        user: s("default"),
        ..base("3", "127.0.0.1:46448", "8", 26, 40928, "client")
    };
    assert_eq!(one(line), want);
}

#[test]
fn redis_7_2_line() {
    let line = "id=3 addr=127.0.0.1:52555 laddr=127.0.0.1:6379 fd=8 name= age=0 idle=0 flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=26 qbuf-free=20448 argv-mem=10 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=22426 events=r cmd=client|list user=default redir=-1 resp=2 lib-name= lib-ver= io-thread=0";
    let want = ClientInfo {
        user: s("default"),
        ..base("3", "127.0.0.1:52555", "8", 26, 20448, "client|list")
    };
    assert_eq!(one(line), want);
}

/// Captured from Debian 12's redis-server 7.0.15 (`redis-cli CLIENT LIST`), a
/// client that ran `CLIENT SETNAME worker-1`, `SELECT 3`, `SET k v`.
const DEBIAN_7_0_LINE: &str = "id=4 addr=127.0.0.1:39312 laddr=127.0.0.1:16399 fd=9 name=worker-1 age=2 idle=2 flags=N db=3 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=20474 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=22272 events=r cmd=set user=default redir=-1 resp=2\n";

#[test]
fn debian_redis_7_0_real_line() {
    let want = ClientInfo {
        id: s("4"),
        addr: s("127.0.0.1:39312"),
        fd: s("9"),
        name: s("worker-1"),
        cmd: s("set"),
        age: Some(2),
        idle: Some(2),
        db: s("3"),
        flags: s("N"),
        sub: Some(0),
        psub: Some(0),
        multi: Some(-1),
        qbuf: Some(0),
        qbuf_free: Some(20474),
        obl: Some(0),
        oll: Some(0),
        omem: Some(0),
        events: s("r"),
        network: None,
        peer: s("127.0.0.1:39312"),
        user: s("default"),
    };
    assert_eq!(one(DEBIAN_7_0_LINE), want);
    assert_eq!(parse_client_list(DEBIAN_7_0_LINE), vec![want]);
}

/// A whole reply captured from Debian's redis-server 7.0.15 listening on TCP
/// (IPv4 and IPv6) and a unix socket, with a subscriber, a pattern subscriber,
/// a client in MULTI and one that has not sent a command yet.
const DEBIAN_7_0_REPLY: &str = "\
id=4 addr=127.0.0.1:39312 laddr=127.0.0.1:16399 fd=9 name=worker-1 age=2 idle=2 flags=N db=3 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=20474 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=22272 events=r cmd=set user=default redir=-1 resp=2
id=5 addr=/tmp/rcap/redis.sock:0 laddr=/tmp/rcap/redis.sock:0 fd=11 name=unix-client age=2 idle=2 flags=U db=1 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=20474 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=22272 events=r cmd=select user=default redir=-1 resp=2
id=6 addr=127.0.0.1:39314 laddr=127.0.0.1:16399 fd=12 name= age=2 idle=2 flags=P db=0 sub=0 psub=1 ssub=0 multi=-1 qbuf=0 qbuf-free=20474 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=22296 events=r cmd=psubscribe user=default redir=-1 resp=2
id=7 addr=[::1]:39376 laddr=[::1]:16399 fd=13 name=v6-client age=2 idle=2 flags=N db=5 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=20474 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=22272 events=r cmd=select user=default redir=-1 resp=2
id=8 addr=127.0.0.1:39318 laddr=127.0.0.1:16399 fd=14 name= age=2 idle=2 flags=P db=0 sub=3 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=20474 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=22376 events=r cmd=subscribe user=default redir=-1 resp=2
id=12 addr=127.0.0.1:51158 laddr=127.0.0.1:16399 fd=15 name= age=1 idle=1 flags=x db=0 sub=0 psub=0 ssub=0 multi=1 qbuf=0 qbuf-free=20474 argv-mem=0 multi-mem=12 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=22332 events=r cmd=ping user=default redir=-1 resp=2
id=13 addr=127.0.0.1:51160 laddr=127.0.0.1:16399 fd=16 name= age=1 idle=1 flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=0 qbuf-free=4 argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl=0 oll=0 omem=0 tot-mem=1800 events=r cmd=NULL user=default redir=-1 resp=2
id=14 addr=127.0.0.1:51164 laddr=127.0.0.1:16399 fd=17 name= age=1 idle=0 flags=N db=0 sub=0 psub=0 ssub=0 multi=-1 qbuf=26 qbuf-free=20448 argv-mem=10 multi-mem=0 rbs=16384 rbp=16384 obl=0 oll=0 omem=0 tot-mem=37658 events=r cmd=client|list user=default redir=-1 resp=3
";

#[test]
fn debian_redis_7_0_real_reply() {
    let clients = parse_client_list(DEBIAN_7_0_REPLY);
    let ids: Vec<_> = clients.iter().map(|c| c.id.as_deref().unwrap()).collect();
    assert_eq!(ids, ["4", "5", "6", "7", "8", "12", "13", "14"]);
    let by_id = |id: &str| {
        clients
            .iter()
            .find(|c| c.id.as_deref() == Some(id))
            .unwrap()
    };

    let unix = by_id("5");
    assert_eq!(unix.addr.as_deref(), Some("/tmp/rcap/redis.sock:0"));
    assert_eq!(unix.peer, unix.addr);
    assert_eq!(unix.flags.as_deref(), Some("U"));
    assert_eq!(unix.db.as_deref(), Some("1"));

    let v6 = by_id("7");
    assert_eq!(v6.addr.as_deref(), Some("[::1]:39376"));
    assert_eq!(v6.name.as_deref(), Some("v6-client"));

    let psub = by_id("6");
    assert_eq!(
        (psub.flags.as_deref(), psub.sub, psub.psub),
        (Some("P"), Some(0), Some(1))
    );
    let sub = by_id("8");
    assert_eq!(
        (sub.flags.as_deref(), sub.sub, sub.psub),
        (Some("P"), Some(3), Some(0))
    );

    let in_multi = by_id("12");
    assert_eq!(
        (in_multi.flags.as_deref(), in_multi.multi),
        (Some("x"), Some(1))
    );
    // A connection that has not sent a command yet shows the literal "NULL".
    assert_eq!(by_id("13").cmd.as_deref(), Some("NULL"));

    for c in &clients {
        assert_eq!(c.peer, c.addr);
        assert_eq!(c.user.as_deref(), Some("default"));
        assert_eq!(c.network, None);
    }
}

#[test]
fn ipv6_address_is_kept_with_brackets() {
    let c = one(
        "id=9 addr=[2001:db8::17]:52344 laddr=[2001:db8::1]:6379 fd=10 name=app age=5 idle=1 flags=N db=0",
    );
    assert_eq!(c.addr.as_deref(), Some("[2001:db8::17]:52344"));
    assert_eq!(c.peer.as_deref(), Some("[2001:db8::17]:52344"));
    assert_eq!(c.name.as_deref(), Some("app"));
}

#[test]
fn unix_socket_address_is_kept_as_given() {
    let c = one(
        "id=5 addr=/var/run/redis/redis.sock:0 laddr=/var/run/redis/redis.sock:0 fd=9 name= age=3 idle=3 flags=U db=0 cmd=ping",
    );
    assert_eq!(c.addr.as_deref(), Some("/var/run/redis/redis.sock:0"));
    assert_eq!(c.peer, c.addr);
    assert_eq!(c.fd.as_deref(), Some("9"));
    assert_eq!(c.flags.as_deref(), Some("U"));
}

#[test]
fn pubsub_client() {
    let c = one(
        "id=8 addr=10.1.2.3:40000 fd=14 name=listener age=120 idle=120 flags=P db=0 sub=3 psub=0 multi=-1 qbuf=0 qbuf-free=0 obl=0 oll=0 omem=0 events=r cmd=subscribe",
    );
    assert_eq!(c.flags.as_deref(), Some("P"));
    assert_eq!((c.sub, c.psub), (Some(3), Some(0)));
    assert_eq!((c.age, c.idle), (Some(120), Some(120)));
    assert_eq!(c.cmd.as_deref(), Some("subscribe"));
}

#[test]
fn missing_fields_stay_none() {
    // Redis 2.6 had no id; a partial line keeps only what it has.
    let c = one("addr=127.0.0.1:6000 fd=5 age=1");
    assert_eq!(
        c,
        ClientInfo {
            addr: s("127.0.0.1:6000"),
            peer: s("127.0.0.1:6000"),
            fd: s("5"),
            age: Some(1),
            ..ClientInfo::default()
        }
    );
}

#[test]
fn unknown_fields_are_ignored() {
    let c = one(
        "laddr=1.2.3.4:6379 ssub=0 argv-mem=10 multi-mem=0 rbs=1024 rbp=0 tot-mem=1 redir=-1 resp=3 lib-name=redis-rs lib-ver=1.0 io-thread=1 watch=2 future-field=x id=1",
    );
    assert_eq!(
        c,
        ClientInfo {
            id: s("1"),
            ..ClientInfo::default()
        }
    );
    // Only unknown fields: still a session, with nothing known about it.
    assert_eq!(
        parse_client_line("laddr=1.2.3.4:6379 tot-mem=5"),
        Some(ClientRef::default())
    );
}

#[test]
fn empty_values_are_empty_strings() {
    let c = one("id= addr= fd= name= cmd= db= flags= events= user= age=");
    assert_eq!(c.id.as_deref(), Some(""));
    assert_eq!(c.addr.as_deref(), Some(""));
    assert_eq!(c.peer.as_deref(), Some(""));
    assert_eq!(c.name.as_deref(), Some(""));
    assert_eq!(c.user.as_deref(), Some(""));
    assert_eq!(c.age, None, "an empty number is not a number");
}

#[test]
fn bad_numbers_become_none() {
    let c = one(
        "id=1 age=abc idle=1.5 sub=99999999999999999999 psub=-0 multi=-1 qbuf= qbuf-free=0x10 obl=+7 oll=  omem=٣",
    );
    assert_eq!(c.id.as_deref(), Some("1"));
    assert_eq!((c.age, c.idle, c.sub), (None, None, None));
    assert_eq!((c.psub, c.multi), (Some(0), Some(-1)));
    assert_eq!((c.qbuf, c.qbuf_free), (None, None));
    assert_eq!(c.obl, Some(7));
    assert_eq!((c.oll, c.omem), (None, None));
    assert_eq!(one(&format!("age={}", i64::MIN)).age, Some(i64::MIN));
}

#[test]
fn odd_equals_signs() {
    // A value may itself contain '=' (only the first one splits).
    assert_eq!(one("name==x").name.as_deref(), Some("=x"));
    assert_eq!(one("name==").name.as_deref(), Some("="));
    assert_eq!(one("name=a=b=c").name.as_deref(), Some("a=b=c"));
    // An empty key is not a pair.
    assert_eq!(parse_client_line("="), None);
    assert_eq!(parse_client_line("=id=3"), None);
    assert_eq!(parse_client_line("==="), None);
    assert_eq!(one("=x id=3").id.as_deref(), Some("3"));
}

#[test]
fn garbage_lines_are_skipped() {
    for line in [
        "",
        " ",
        "   ",
        "\r",
        "OK",
        "ERR unknown command",
        "-ERR wrong",
        "hello world",
        "id",
        "\u{feff}",
        "\0\0",
    ] {
        assert_eq!(parse_client_line(line), None, "{line:?}");
    }
    let text = "garbage\n\nid=1 addr=1.1.1.1:1\n   \n-ERR x\nid=2 addr=2.2.2.2:2\nnot a line\n";
    let ids: Vec<_> = parse_client_list(text)
        .into_iter()
        .map(|c| c.id.unwrap())
        .collect();
    assert_eq!(ids, ["1", "2"]);
}

#[test]
fn extra_spaces_and_tabs_do_not_break_a_line() {
    let c = one("  id=1   addr=1.2.3.4:5  name=x  ");
    assert_eq!(
        (c.id.as_deref(), c.addr.as_deref(), c.name.as_deref()),
        (Some("1"), Some("1.2.3.4:5"), Some("x"))
    );
    // Only spaces separate fields: a tab stays part of the value.
    assert_eq!(one("name=a\tb").name.as_deref(), Some("a\tb"));
}

#[test]
fn duplicate_field_last_wins() {
    let c = one("addr=1.1.1.1:1 addr=2.2.2.2:2 age=1 age=2");
    assert_eq!(
        (c.addr.as_deref(), c.peer.as_deref(), c.age),
        (Some("2.2.2.2:2"), Some("2.2.2.2:2"), Some(2))
    );
}

#[test]
fn empty_input() {
    assert!(parse_client_list("").is_empty());
    assert!(parse_client_list("\n").is_empty());
    assert!(parse_client_list("\r\n\r\n\n").is_empty());
}

#[test]
fn crlf_line_endings() {
    let text = "id=1 addr=1.1.1.1:1 name=a cmd=get\r\nid=2 addr=2.2.2.2:2 name= cmd=set\r\n";
    let clients = parse_client_list(text);
    assert_eq!(clients.len(), 2);
    assert_eq!(clients[0].cmd.as_deref(), Some("get"));
    assert_eq!(clients[1].name.as_deref(), Some(""));
    assert_eq!(
        clients[1].cmd.as_deref(),
        Some("set"),
        "no \\r left on the last value"
    );
    // No trailing newline at all, and a lone line with its ending.
    assert_eq!(parse_client_list("id=1 age=4").len(), 1);
    assert_eq!(one("age=4\r\n").age, Some(4));
}

#[test]
fn non_ascii_and_very_long_lines() {
    let c = one("id=1 name=名字-ünïcødé cmd=gét age=٣ flags=Ñ");
    assert_eq!(c.name.as_deref(), Some("名字-ünïcødé"));
    assert_eq!(c.cmd.as_deref(), Some("gét"));
    assert_eq!(c.age, None);

    let long_name = "x".repeat(1 << 20);
    let c = one(&format!("id=1 name={long_name} age=3"));
    assert_eq!(c.name.as_deref().map(str::len), Some(1 << 20));
    assert_eq!(c.age, Some(3));
    let junk = "é=".repeat(100_000) + &" ".repeat(100_000) + &"=".repeat(100_000);
    let _ = parse_client_list(&junk);
}

/// Tiny xorshift64 so the fuzz tests are deterministic and need no crate.
struct XorShift(u64);
impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x << 13;
        x ^= x >> 7;
        x ^= x << 17;
        self.0 = x;
        x
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
}

/// The obvious reading of a line, by `split` and `split_once`, each field set by its name
/// through the session record: what the byte scan must agree with.
fn reference_line(line: &str) -> Option<ClientInfo> {
    let line = line.trim_end_matches(['\r', '\n']);
    let mut info = ClientRef::default();
    let mut any_pair = false;
    for (key, value) in line
        .split(' ')
        .filter_map(|field| field.split_once('='))
        .filter(|(key, _)| !key.is_empty())
    {
        any_pair = true;
        match key {
            "addr" => {
                info.peer = Some(Cow::Borrowed(value));
                info.addr = Some(Cow::Borrowed(value));
            }
            "qbuf-free" => info.qbuf_free = value.parse().ok(),
            other => {
                info.set_from_text(other, value);
            }
        }
    }
    any_pair.then(|| info.into_owned())
}

#[test]
fn random_bytes_never_panic() {
    // Biased towards the bytes that matter to the parser, plus anything at all.
    const SPECIAL: &[u8] = b"= \n\r-+:[]0123456789idaqbufmltxnec";
    let known = [
        "id",
        "addr",
        "age",
        "qbuf-free",
        "omem",
        "name",
        "cmd",
        "peer",
        "network",
        "qbuf_free",
        "laddr",
        "multi-mem",
        "events",
        "io-thread",
    ];
    let mut rng = XorShift(0x9E37_79B9_7F4A_7C15);
    for round in 0..5000 {
        let len = rng.below(if round % 100 == 0 { 4096 } else { 160 });
        let mut bytes = Vec::with_capacity(len);
        while bytes.len() < len {
            match rng.below(8) {
                0..=3 => bytes.push(SPECIAL[rng.below(SPECIAL.len())]),
                4 => bytes.extend_from_slice(known[rng.below(known.len())].as_bytes()),
                _ => bytes.push(rng.next() as u8),
            }
        }
        let text = String::from_utf8_lossy(&bytes);
        let clients = parse_client_list(&text);
        assert!(clients.len() <= text.split('\n').count());
        let reference: Vec<_> = text.split('\n').filter_map(reference_line).collect();
        assert_eq!(clients, reference, "{text:?}");
    }
}

#[test]
fn numbers_read_as_str_parse_reads_them() {
    let mut cases: Vec<String> = [
        "",
        "+",
        "-",
        "0",
        "-0",
        "+0",
        "007",
        "+-1",
        "-+1",
        "1-",
        " 1",
        "1 ",
        "1.5",
        "0x10",
        "٣",
        "9223372036854775807",
        "9223372036854775808",
        "-9223372036854775808",
        "-9223372036854775809",
        "99999999999999999999",
        "18446744073709551616",
    ]
    .map(String::from)
    .to_vec();
    let mut rng = XorShift(0x0123_4567_89AB_CDEF);
    for _ in 0..5000 {
        let n = rng.next() as i64 >> rng.below(64);
        cases.push(n.to_string());
        cases.push(format!("+{}", n.unsigned_abs()));
        cases.push(format!("{n}{}", rng.below(10)));
    }
    for case in &cases {
        assert_eq!(parse_int(case), case.parse::<i64>().ok(), "{case:?}");
    }
}

#[test]
fn random_well_formed_lines_round_trip() {
    let mut rng = XorShift(0xDEAD_BEEF_CAFE_F00D);
    let texts = [
        "",
        "app",
        "worker-1",
        "a=b",
        "名字",
        "[::1]:6379",
        "/tmp/r.sock:0",
        "NULL",
        "client|list",
    ];
    for _ in 0..2000 {
        let mut want = ClientInfo::default();
        let mut fields: Vec<String> = Vec::new();
        let add_text =
            |key: &str, slot: &mut Option<String>, rng: &mut XorShift, fields: &mut Vec<String>| {
                if rng.below(3) > 0 {
                    let v = texts[rng.below(texts.len())];
                    *slot = Some(v.to_owned());
                    fields.push(format!("{key}={v}"));
                }
            };
        add_text("id", &mut want.id, &mut rng, &mut fields);
        add_text("addr", &mut want.addr, &mut rng, &mut fields);
        want.peer = want.addr.clone();
        add_text("fd", &mut want.fd, &mut rng, &mut fields);
        add_text("name", &mut want.name, &mut rng, &mut fields);
        add_text("cmd", &mut want.cmd, &mut rng, &mut fields);
        add_text("db", &mut want.db, &mut rng, &mut fields);
        add_text("flags", &mut want.flags, &mut rng, &mut fields);
        add_text("events", &mut want.events, &mut rng, &mut fields);
        add_text("user", &mut want.user, &mut rng, &mut fields);
        let nums: [(&str, &mut Option<i64>); 10] = [
            ("age", &mut want.age),
            ("idle", &mut want.idle),
            ("sub", &mut want.sub),
            ("psub", &mut want.psub),
            ("multi", &mut want.multi),
            ("qbuf", &mut want.qbuf),
            ("qbuf-free", &mut want.qbuf_free),
            ("obl", &mut want.obl),
            ("oll", &mut want.oll),
            ("omem", &mut want.omem),
        ];
        for (key, slot) in nums {
            if rng.below(3) > 0 {
                let v = rng.next() as i64 >> rng.below(64);
                *slot = Some(v);
                fields.push(format!("{key}={v}"));
            }
        }
        for unknown in [
            "laddr=127.0.0.1:6379",
            "tot-mem=22272",
            "resp=2",
            "lib-name=",
        ] {
            if rng.below(2) == 0 {
                fields.push(unknown.to_owned());
            }
        }
        // Field order carries no meaning.
        for i in (1..fields.len()).rev() {
            fields.swap(i, rng.below(i + 1));
        }
        let line = fields.join(" ");
        let got = parse_client_line(&line).map(ClientRef::into_owned);
        if fields.is_empty() {
            assert_eq!(got, None);
        } else {
            assert_eq!(got.as_ref(), Some(&want), "{line}");
            assert_eq!(
                parse_client_list(&format!("{line}\r\n{line}\n")),
                vec![want.clone(), want]
            );
        }
    }
}
