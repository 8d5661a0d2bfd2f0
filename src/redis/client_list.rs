//! Parser of the text a Redis server returns for `CLIENT LIST`.
//!
//! It yields the same session records the DCS API serves ([`ClientRef`], borrowed
//! from the reply), so that sessions scanned directly from a Redis server go through
//! the same aggregation as the sessions listed by the cloud API.
//!
//! The format has been stable since Redis 2.4; versions only add fields. One client
//! per line, each line ending in `\n`; fields are `key=value` separated by single
//! spaces. Values never contain spaces (Redis refuses client names with spaces) but
//! may be empty (`name=`). Examples of addresses as Redis really prints them:
//! `127.0.0.1:52555`, `[::1]:39376` (IPv6 in brackets) and
//! `/var/run/redis/redis.sock:0` (unix socket, port 0).
//!
//! Speed matters (10,000 clients a scan is the common case), so a line is read in a
//! single pass over its bytes, each key told apart by one integer `match` on its
//! bytes: no regex, no intermediate map, no string comparisons, and values are
//! borrowed from the reply, never copied.

use std::borrow::Cow;

use crate::session::{ClientInfo, ClientRef};

/// The sessions of a whole `CLIENT LIST` reply, one record per line, borrowed from it.
///
/// Lines that carry no `key=value` pair (blank lines, garbage) are skipped rather
/// than failing the whole reply, so one odd line cannot hide every other session.
/// `\r\n` line endings are tolerated.
pub fn sessions(text: &str) -> Sessions<'_> {
    Sessions {
        text,
        pos: 0,
        layout: Vec::new(),
    }
}

/// As [`sessions`], owned.
pub fn parse_client_list(text: &str) -> Vec<ClientInfo> {
    sessions(text).map(ClientRef::into_owned).collect()
}

/// Parses one line of a `CLIENT LIST` reply (a `\n` ends it).
///
/// Returns `None` when the line has no `key=value` pair at all (a token with an
/// empty key, such as `=x`, does not count). Unknown fields are ignored, because
/// every Redis release adds some; missing fields stay `None`; a number that does
/// not parse becomes `None`. Never panics, whatever the input.
pub fn parse_client_line(line: &str) -> Option<ClientRef<'_>> {
    sessions(line).line()
}

/// The sessions of a reply, read line by line in one pass over its bytes.
pub struct Sessions<'a> {
    text: &'a str,
    /// Where the next line starts.
    pos: usize,
    /// The keys of the last line, in its order.
    layout: Vec<KnownKey>,
}

impl<'a> Iterator for Sessions<'a> {
    type Item = ClientRef<'a>;

    fn next(&mut self) -> Option<ClientRef<'a>> {
        while self.pos < self.text.len() {
            if let Some(session) = self.line() {
                return Some(session);
            }
        }
        None
    }
}

impl<'a> Sessions<'a> {
    /// The line at `pos`, which then moves past it: its fields are separated by spaces and
    /// split at their first `=`; a field without one, or with an empty key, is skipped.
    /// The `\r`s that end a line are no part of its last value. Slicing only ever happens
    /// at an ASCII ' ', '=', '\r' or '\n' or at the end, which are always char boundaries.
    fn line(&mut self) -> Option<ClientRef<'a>> {
        let text = self.text;
        let bytes = text.as_bytes();
        let mut info = ClientRef::default();
        let mut any_pair = false;
        let mut pos = self.pos;
        let mut index = 0;
        loop {
            let start = pos;
            let (stop, field) = match self.layout.get(index) {
                Some(known) if known.is_at(bytes, start) => (start + known.len, known.field),
                _ => {
                    let (stop, found) = find(bytes, pos, KEY_ENDS);
                    if found != b'=' {
                        // A field without '=': the next, or the line's end.
                        pos = stop + 1;
                        if found == b' ' {
                            continue;
                        }
                        break;
                    }
                    let field = field(bytes, start, stop);
                    self.layout.truncate(index);
                    self.layout.push(KnownKey::new(&bytes[start..stop], field));
                    (stop, field)
                }
            };
            index += 1;
            let (end, found) = find(bytes, stop + 1, VALUE_ENDS);
            let last = found != b' ';
            let mut value_end = end;
            if last {
                while value_end > stop + 1 && bytes[value_end - 1] == b'\r' {
                    value_end -= 1;
                }
            }
            // An empty key (`=x`) is not a pair.
            if stop > start {
                any_pair = true;
                set(&mut info, field, &text[stop + 1..value_end]);
            }
            pos = end + 1;
            if last {
                break;
            }
        }
        self.pos = pos;
        any_pair.then_some(info)
    }
}

/// A key with its `=`, as a line had it at some place: the next line most likely has it at the
/// same place (a server prints every line's fields in one order), which one comparison of 16
/// bytes confirms, without looking for the key's end or telling its name.
#[derive(Clone, Copy)]
struct KnownKey {
    /// The key and its `=`, little-endian, the bytes after them zero.
    word: u128,
    /// The bytes of `word` that count.
    mask: u128,
    len: usize,
    field: Field,
}

impl KnownKey {
    /// `key` (which holds no `=`, space or newline) before an `=`; a key too long for a
    /// comparison, or empty, is never found again.
    fn new(key: &[u8], field: Field) -> Self {
        if key.is_empty() || key.len() >= 16 {
            return Self {
                word: 1,
                mask: 0,
                len: key.len(),
                field,
            };
        }
        let mut buf = [0u8; 16];
        buf[..key.len()].copy_from_slice(key);
        buf[key.len()] = b'=';
        Self {
            word: u128::from_le_bytes(buf),
            mask: u128::MAX >> (8 * (15 - key.len())),
            len: key.len(),
            field,
        }
    }

    /// Whether `bytes` has this key and its `=` at `pos`.
    fn is_at(&self, bytes: &[u8], pos: usize) -> bool {
        match bytes.get(pos..pos + 16) {
            Some(sixteen) => {
                let mut buf = [0u8; 16];
                buf.copy_from_slice(sixteen);
                u128::from_le_bytes(buf) & self.mask == self.word
            }
            None => false,
        }
    }
}

/// The bytes that end a key: its `=`, or the field's end without one.
const KEY_ENDS: [u8; 3] = [b'=', b' ', b'\n'];
/// The bytes that end a value (a value may hold `=`); the last repeated, as [`find`] takes three.
const VALUE_ENDS: [u8; 3] = [b' ', b'\n', b'\n'];

const ONES: u64 = 0x0101_0101_0101_0101;
const HIGH_BITS: u64 = 0x8080_8080_8080_8080;

/// The high bit of each byte of `word` that is `byte`, and no other bit (no false positives).
fn bytes_equal(word: u64, byte: u8) -> u64 {
    let x = word ^ (ONES * u64::from(byte));
    !(((x & !HIGH_BITS) + !HIGH_BITS) | x) & HIGH_BITS
}

/// The first of `ends` at or after `from`, and its position; or `(len, 0)`. Eight bytes a step
/// (fields are a few bytes long: a byte a step costs a mispredicted branch at each field's
/// end, a word a step about one a field).
fn find(bytes: &[u8], from: usize, ends: [u8; 3]) -> (usize, u8) {
    let mut pos = from;
    while let Some(eight) = bytes.get(pos..pos + 8) {
        let mut buf = [0u8; 8];
        buf.copy_from_slice(eight);
        let word = u64::from_le_bytes(buf);
        let hits =
            bytes_equal(word, ends[0]) | bytes_equal(word, ends[1]) | bytes_equal(word, ends[2]);
        if hits != 0 {
            let at = pos + (hits.trailing_zeros() / 8) as usize;
            return (at, bytes[at]);
        }
        pos += 8;
    }
    while pos < bytes.len() {
        if ends.contains(&bytes[pos]) {
            return (pos, bytes[pos]);
        }
        pos += 1;
    }
    (bytes.len(), 0)
}

/// The session fields a `CLIENT LIST` line may name.
#[derive(Clone, Copy)]
enum Field {
    Id,
    Addr,
    Fd,
    Name,
    Cmd,
    Age,
    Idle,
    Db,
    Flags,
    Sub,
    Psub,
    Multi,
    Qbuf,
    QbufFree,
    Obl,
    Oll,
    Omem,
    Events,
    Network,
    Peer,
    User,
    /// laddr, ssub, argv-mem, multi-mem, rbs, rbp, tot-mem, redir, resp, lib-name, lib-ver,
    /// io-thread, watch and whatever comes next: not session fields, left out.
    Other,
}

/// A key of at most 8 bytes as one little-endian word, for one integer `match` rather than a
/// string comparison a field name.
const fn word(key: &[u8]) -> u64 {
    let mut w = 0u64;
    let mut i = 0;
    while i < key.len() && i < 8 {
        w |= (key[i] as u64) << (8 * i);
        i += 1;
    }
    w
}

/// The field that `bytes[start..end]` names. The session record's own names are taken too
/// (`peer`, `network`, `qbuf_free`), as a session read by name takes them.
fn field(bytes: &[u8], start: usize, end: usize) -> Field {
    const ID: u64 = word(b"id");
    const ADDR: u64 = word(b"addr");
    const FD: u64 = word(b"fd");
    const NAME: u64 = word(b"name");
    const CMD: u64 = word(b"cmd");
    const AGE: u64 = word(b"age");
    const IDLE: u64 = word(b"idle");
    const DB: u64 = word(b"db");
    const FLAGS: u64 = word(b"flags");
    const SUB: u64 = word(b"sub");
    const PSUB: u64 = word(b"psub");
    const MULTI: u64 = word(b"multi");
    const QBUF: u64 = word(b"qbuf");
    const OBL: u64 = word(b"obl");
    const OLL: u64 = word(b"oll");
    const OMEM: u64 = word(b"omem");
    const EVENTS: u64 = word(b"events");
    const NETWORK: u64 = word(b"network");
    const PEER: u64 = word(b"peer");
    const USER: u64 = word(b"user");
    let len = end - start;
    if len == 0 {
        return Field::Other;
    }
    if len > 8 {
        let key = &bytes[start..end];
        return if key == b"qbuf-free" || key == b"qbuf_free" {
            Field::QbufFree
        } else {
            Field::Other
        };
    }
    // Eight bytes from the key's start, masked to its length, where the line has them.
    let w = match bytes.get(start..start + 8) {
        Some(eight) => {
            let mut buf = [0u8; 8];
            buf.copy_from_slice(eight);
            u64::from_le_bytes(buf) & (u64::MAX >> (8 * (8 - len)))
        }
        None => word(&bytes[start..end]),
    };
    match (len, w) {
        (2, ID) => Field::Id,
        (4, ADDR) => Field::Addr,
        (2, FD) => Field::Fd,
        (4, NAME) => Field::Name,
        (3, CMD) => Field::Cmd,
        (3, AGE) => Field::Age,
        (4, IDLE) => Field::Idle,
        (2, DB) => Field::Db,
        (5, FLAGS) => Field::Flags,
        (3, SUB) => Field::Sub,
        (4, PSUB) => Field::Psub,
        (5, MULTI) => Field::Multi,
        (4, QBUF) => Field::Qbuf,
        (3, OBL) => Field::Obl,
        (3, OLL) => Field::Oll,
        (4, OMEM) => Field::Omem,
        (6, EVENTS) => Field::Events,
        (7, NETWORK) => Field::Network,
        (4, PEER) => Field::Peer,
        (4, USER) => Field::User,
        _ => Field::Other,
    }
}

fn set<'a>(info: &mut ClientRef<'a>, field: Field, value: &'a str) {
    let text = Some(Cow::Borrowed(value));
    match field {
        Field::Id => info.id = text,
        Field::Addr => {
            // For a directly scanned Redis, addr IS the client's own address,
            // which is what the exporter reports (and DCS names) as the peer.
            info.peer = text.clone();
            info.addr = text;
        }
        Field::Fd => info.fd = text,
        Field::Name => info.name = text,
        Field::Cmd => info.cmd = text,
        Field::Age => info.age = parse_int(value),
        Field::Idle => info.idle = parse_int(value),
        Field::Db => info.db = text,
        Field::Flags => info.flags = text,
        Field::Sub => info.sub = parse_int(value),
        Field::Psub => info.psub = parse_int(value),
        Field::Multi => info.multi = parse_int(value),
        Field::Qbuf => info.qbuf = parse_int(value),
        Field::QbufFree => info.qbuf_free = parse_int(value),
        Field::Obl => info.obl = parse_int(value),
        Field::Oll => info.oll = parse_int(value),
        Field::Omem => info.omem = parse_int(value),
        Field::Events => info.events = text,
        Field::Network => info.network = text,
        Field::Peer => info.peer = text,
        Field::User => info.user = text,
        Field::Other => {}
    }
}

/// A decimal `i64` as `str::parse` reads it (an optional sign, ASCII digits, no overflow),
/// without its generic machinery: a malformed number loses only that field, not the session.
fn parse_int(value: &str) -> Option<i64> {
    let (negative, digits) = match value.as_bytes() {
        [b'-', rest @ ..] => (true, rest),
        [b'+', rest @ ..] => (false, rest),
        all => (false, all),
    };
    if digits.is_empty() {
        return None;
    }
    let mut n: i64 = 0;
    for &b in digits {
        let digit = b.wrapping_sub(b'0');
        if digit > 9 {
            return None;
        }
        n = n.checked_mul(10)?;
        n = if negative {
            n.checked_sub(i64::from(digit))?
        } else {
            n.checked_add(i64::from(digit))?
        };
    }
    Some(n)
}

#[cfg(test)]
mod tests;
