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
//! Speed matters (the target is ~0.3 µs per client, parse plus aggregation), so a
//! line is read in a single pass over its bytes with a `match` on the key: no regex
//! and no intermediate map, and values are borrowed from the reply, never copied.

use std::borrow::Cow;

use crate::session::{ClientInfo, ClientRef};

/// The sessions of a whole `CLIENT LIST` reply, one record per line, borrowed from it.
///
/// Lines that carry no `key=value` pair (blank lines, garbage) are skipped rather
/// than failing the whole reply, so one odd line cannot hide every other session.
/// `\r\n` line endings are tolerated.
pub fn sessions(text: &str) -> impl Iterator<Item = ClientRef<'_>> {
    text.split('\n').filter_map(parse_client_line)
}

/// As [`sessions`], owned.
pub fn parse_client_list(text: &str) -> Vec<ClientInfo> {
    sessions(text).map(ClientRef::into_owned).collect()
}

/// Parses one line of a `CLIENT LIST` reply.
///
/// Returns `None` when the line has no `key=value` pair at all (a token with an
/// empty key, such as `=x`, does not count). Unknown fields are ignored, because
/// every Redis release adds some; missing fields stay `None`; a number that does
/// not parse becomes `None`. Never panics, whatever the input.
pub fn parse_client_line(line: &str) -> Option<ClientRef<'_>> {
    let line = line.trim_end_matches(['\r', '\n']);
    let mut info = ClientRef::default();
    let mut any_pair = false;
    for (key, value) in Fields::new(line) {
        any_pair = true;
        match key {
            "addr" => {
                // For a directly scanned Redis, addr IS the client's own address,
                // which is what the exporter reports (and DCS names) as the peer.
                info.peer = text(value);
                info.addr = text(value);
            }
            "qbuf-free" => info.qbuf_free = parse_int(value),
            // The session's fields by their names; laddr, ssub, argv-mem, multi-mem, rbs,
            // rbp, tot-mem, redir, resp, lib-name, lib-ver, io-thread, watch and whatever
            // comes next are not session fields, and are left out.
            other => {
                info.set_from_text(other, value);
            }
        }
    }
    any_pair.then_some(info)
}

/// The `key=value` fields of one line, found in a single scan of its bytes.
///
/// Equivalent to `line.split(' ')` then `split_once('=')` on each field, skipping
/// fields with no `=` or an empty key, but about twice as fast on real lines,
/// whose fields are only a few bytes long (per-field `memchr` calls dominate).
/// Slicing only ever happens at an ASCII ' ' or '=' or at the end, which are
/// always char boundaries, so it cannot panic on any UTF-8 input.
struct Fields<'a> {
    line: &'a str,
    pos: usize,
}

impl<'a> Fields<'a> {
    fn new(line: &'a str) -> Self {
        Fields { line, pos: 0 }
    }
}

impl<'a> Iterator for Fields<'a> {
    type Item = (&'a str, &'a str);

    fn next(&mut self) -> Option<Self::Item> {
        let bytes = self.line.as_bytes();
        while self.pos < bytes.len() {
            let start = self.pos;
            let mut end = start;
            let mut eq = None;
            while end < bytes.len() && bytes[end] != b' ' {
                if bytes[end] == b'=' && eq.is_none() {
                    eq = Some(end);
                }
                end += 1;
            }
            self.pos = end + 1;
            match eq {
                // An empty key (`=x`) is not a pair.
                Some(eq) if eq > start => {
                    return Some((&self.line[start..eq], &self.line[eq + 1..end]));
                }
                _ => {}
            }
        }
        None
    }
}

fn text(value: &str) -> Option<Cow<'_, str>> {
    Some(Cow::Borrowed(value))
}

/// A malformed number loses only that field, not the whole session.
fn parse_int(value: &str) -> Option<i64> {
    value.parse::<i64>().ok()
}

#[cfg(test)]
mod tests;
