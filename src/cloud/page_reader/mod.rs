//! A one-pass reader of session pages, the bulk of what a scan receives.
//!
//! A page is hundreds of KiB of JSON. A generic decoder spends most of its time matching field
//! names and dispatching on value types; this reader knows the page's shape, matches each name
//! once and borrows every string that has no escapes. It gives exactly what the serde decoder
//! ([`ClientPageRef`]'s `Deserialize`) gives, lenient types included, or gives up: anything
//! unusual (an escaped name, a float, a repeated field, a struct sent as an array, bad JSON) is
//! left to that decoder, which also words the errors. A property test holds the two equal.

use std::borrow::Cow;

use serde::Deserialize;

use self::words::{QUOTED_FIELDS, find_special, short_digits};
use crate::session::lenient;
use crate::session::{CLIENT_FIELDS, ClientRef, FIELD_KINDS, Kind};

mod words;

/// Nesting deeper than this inside an ignored value is left to the serde decoder.
const MAX_DEPTH: u32 = 64;

/// A page's fields besides its sessions, and what the checks of a list need of those.
#[derive(Debug, Default)]
pub struct PageHead<'a> {
    pub time: Option<Cow<'a, str>>,
    pub count: Option<i64>,
    /// Sessions the page held.
    pub sessions: usize,
    /// The first session's id.
    pub first_id: Option<Cow<'a, str>>,
}

/// One page of a stored session list, borrowed from the answer's body.
#[derive(Debug, Default, Deserialize)]
pub struct ClientPageRef<'a> {
    #[serde(borrow, default, deserialize_with = "lenient::opt_str")]
    pub time: Option<Cow<'a, str>>,
    #[serde(borrow, default, deserialize_with = "lenient::null_as_default")]
    pub clients: Vec<ClientRef<'a>>,
    #[serde(default, deserialize_with = "lenient::opt_i64")]
    pub count: Option<i64>,
}

/// Reads the page in `body`, handing each session to `each` as soon as it is read, so that a
/// page is never held as records. `Err(n)` where the serde decoder must decide, after `n`
/// sessions were handed over: the page's first `n`, exactly as serde reads them.
pub fn read_page_with<'a>(
    body: &'a [u8],
    each: &mut dyn FnMut(&ClientRef<'a>),
) -> Result<PageHead<'a>, usize> {
    let Ok(text) = std::str::from_utf8(body) else {
        return Err(0);
    };
    let mut r = Reader {
        text,
        pos: 0,
        each,
        head: PageHead::default(),
    };
    if r.page().is_none() {
        return Err(r.head.sessions);
    }
    r.ws();
    if r.pos != text.len() {
        return Err(r.head.sessions);
    }
    Ok(r.head)
}

/// The page in `body` with its sessions, or `None` where the serde decoder must decide.
pub fn read_page(body: &[u8]) -> Option<ClientPageRef<'_>> {
    let mut clients = Vec::new();
    let head = read_page_with(body, &mut |c| clients.push(c.clone())).ok()?;
    Some(ClientPageRef {
        time: head.time,
        clients,
        count: head.count,
    })
}

struct Reader<'a, 'f> {
    text: &'a str,
    pos: usize,
    each: &'f mut dyn FnMut(&ClientRef<'a>),
    head: PageHead<'a>,
}

impl<'a> Reader<'a, '_> {
    fn bytes(&self) -> &'a [u8] {
        self.text.as_bytes()
    }

    fn ws(&mut self) {
        while let Some(b' ' | b'\n' | b'\r' | b'\t') = self.bytes().get(self.pos) {
            self.pos += 1;
        }
    }

    /// The next byte after whitespace, not taken.
    #[inline(always)]
    fn peek(&mut self) -> Option<u8> {
        // Pages come without whitespace between tokens: one compare decides most peeks.
        let next = *self.bytes().get(self.pos)?;
        if next > b' ' {
            return Some(next);
        }
        self.ws();
        self.bytes().get(self.pos).copied()
    }

    fn eat(&mut self, byte: u8) -> Option<()> {
        (self.peek()? == byte).then(|| self.pos += 1)
    }

    /// After an item of an object or array: `true` past its closing `close`, `false` past the
    /// comma before the next item, `None` on anything else.
    #[inline(always)]
    fn end_or_next(&mut self, close: u8) -> Option<bool> {
        let next = self.peek()?;
        if next != b',' && next != close {
            return None;
        }
        self.pos += 1;
        Some(next == close)
    }

    /// `{ "name": value, ... }`, calling `field` with each name; the reader stands after the
    /// value when `field` returns.
    fn object(&mut self, mut field: impl FnMut(&mut Self, &'a str) -> Option<()>) -> Option<()> {
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(());
        }
        loop {
            if self.peek()? != b'"' {
                return None;
            }
            // Names with escapes are rare enough to leave to serde.
            let Cow::Borrowed(name) = self.string()? else {
                return None;
            };
            self.eat(b':')?;
            field(self, name)?;
            if self.end_or_next(b'}')? {
                return Some(());
            }
        }
    }

    /// A string at the cursor: borrowed when it has no escapes, else unescaped by serde_json.
    #[inline(always)]
    fn string(&mut self) -> Option<Cow<'a, str>> {
        let bytes = self.bytes();
        let start = self.pos + 1;
        let mut i = start;
        let mut escaped = false;
        loop {
            i = find_special(bytes, i);
            match *bytes.get(i)? {
                b'"' => break,
                b'\\' => {
                    escaped = true;
                    i += 2;
                }
                // Raw control characters are invalid JSON.
                _ => return None,
            }
        }
        self.pos = i + 1;
        if escaped {
            serde_json::from_str(self.text.get(start - 1..=i)?)
                .ok()
                .map(Cow::Owned)
        } else {
            Some(Cow::Borrowed(&self.text[start..i]))
        }
    }

    /// An integer that fits an i64 or a u64, written as serde would print it; anything else
    /// (floats, exponents, `-0`, huger or malformed numbers) is left to serde.
    #[inline(always)]
    fn number(&mut self) -> Option<(&'a str, i64)> {
        let bytes = self.bytes();
        let start = self.pos;
        let negative = bytes.get(start) == Some(&b'-');
        let digits = start + usize::from(negative);
        // Most numbers of a session are short: up to seven digits are read as one word.
        let (mut i, mut magnitude) = match short_digits(bytes, digits) {
            Some((n, value)) => (digits + n, value),
            None => (digits, 0),
        };
        if i == digits || i - digits == 8 {
            // Eighteen digits cannot overflow a u64: no check per digit.
            i = digits;
            magnitude = 0;
            while let Some(&b) = bytes.get(i)
                && b.is_ascii_digit()
            {
                magnitude = magnitude.wrapping_mul(10).wrapping_add(u64::from(b - b'0'));
                i += 1;
            }
        }
        let n = i - digits;
        let leading_zero = n > 1 && bytes[digits] == b'0';
        let negative_zero = negative && n == 1 && bytes[digits] == b'0';
        if n == 0 || leading_zero || negative_zero {
            return None;
        }
        if matches!(bytes.get(i), Some(b'.' | b'e' | b'E')) {
            return None;
        }
        let text = &self.text[start..i];
        let value = if n <= 18 {
            let magnitude = magnitude as i64;
            if negative { -magnitude } else { magnitude }
        } else {
            match text.parse::<i64>() {
                Ok(v) => v,
                // Past i64: serde reads a u64 as i64::MAX and leaves the rest to floats.
                Err(_) if !negative && text.parse::<u64>().is_ok() => i64::MAX,
                Err(_) => return None,
            }
        };
        self.pos = i;
        Some((text, value))
    }

    fn literal(&mut self, word: &str) -> Option<()> {
        self.text[self.pos..].starts_with(word).then(|| {
            self.pos += word.len();
        })
    }

    /// A field's value as `lenient::opt_str` reads it.
    #[inline(always)]
    fn text_field(&mut self) -> Option<Option<Cow<'a, str>>> {
        match self.peek()? {
            b'"' => self.string().map(Some),
            b'-' | b'0'..=b'9' => self.number().map(|(text, _)| Some(Cow::Borrowed(text))),
            b't' => self.literal("true").map(|()| Some(Cow::Borrowed("true"))),
            b'f' => self.literal("false").map(|()| Some(Cow::Borrowed("false"))),
            b'n' => self.literal("null").map(|()| None),
            // A field of the wrong type is absent.
            b'{' | b'[' => self.skip(0).map(|()| None),
            _ => None,
        }
    }

    /// A field's value as `lenient::opt_i64` reads it.
    #[inline(always)]
    fn int_field(&mut self) -> Option<Option<i64>> {
        match self.peek()? {
            b'"' => self.string().map(|s| s.trim().parse().ok()),
            b'-' | b'0'..=b'9' => self.number().map(|(_, value)| Some(value)),
            b't' => self.literal("true").map(|()| None),
            b'f' => self.literal("false").map(|()| None),
            b'n' => self.literal("null").map(|()| None),
            b'{' | b'[' => self.skip(0).map(|()| None),
            _ => None,
        }
    }

    /// Steps over any value, checking it is well formed.
    fn skip(&mut self, depth: u32) -> Option<()> {
        if depth > MAX_DEPTH {
            return None;
        }
        match self.peek()? {
            b'{' => self.object(|r, _| r.skip(depth + 1)),
            b'[' => {
                self.pos += 1;
                if self.eat(b']').is_some() {
                    return Some(());
                }
                loop {
                    self.skip(depth + 1)?;
                    if self.end_or_next(b']')? {
                        return Some(());
                    }
                }
            }
            b'-' | b'0'..=b'9' => {
                // Any JSON number, floats included: it is only stepped over.
                let start = self.pos;
                let end = self.bytes()[start..]
                    .iter()
                    .position(|b| !matches!(b, b'0'..=b'9' | b'-' | b'+' | b'.' | b'e' | b'E'))
                    .map_or(self.text.len(), |n| start + n);
                serde_json::from_str::<serde::de::IgnoredAny>(&self.text[start..end]).ok()?;
                self.pos = end;
                Some(())
            }
            _ => self.text_field().map(|_| ()),
        }
    }

    fn page(&mut self) -> Option<()> {
        let mut seen = 0u8;
        self.object(|r, name| {
            let bit = match name {
                "time" => {
                    r.head.time = r.text_field()?;
                    1
                }
                "count" => {
                    r.head.count = r.int_field()?;
                    2
                }
                "clients" => {
                    // serde refuses a repeated field: the sessions of a second list were
                    // handed over already.
                    if seen & 4 != 0 {
                        return None;
                    }
                    r.clients()?;
                    4
                }
                _ => return r.skip(0),
            };
            // serde refuses a repeated field.
            (seen & bit == 0).then(|| seen |= bit)
        })
    }

    /// `null` or an array of session objects, each handed over as it is read.
    fn clients(&mut self) -> Option<()> {
        if self.peek()? == b'n' {
            return self.literal("null");
        }
        self.eat(b'[')?;
        if self.eat(b']').is_some() {
            return Some(());
        }
        loop {
            let client = self.client()?;
            if self.head.sessions == 0 {
                self.head.first_id = client.id.clone();
            }
            self.head.sessions += 1;
            (self.each)(&client);
            if self.end_or_next(b']')? {
                return Some(());
            }
        }
    }

    fn client(&mut self) -> Option<ClientRef<'a>> {
        let mut c = ClientRef::default();
        let mut seen = 0u32;
        // The service sends the fields in one order: the name after the last one is tried first,
        // with its quotes and colon, in two word compares.
        let mut expected = 0;
        self.eat(b'{')?;
        if self.eat(b'}').is_some() {
            return Some(c);
        }
        loop {
            let field = match QUOTED_FIELDS.get(expected) {
                Some(quoted) if quoted.starts(&self.bytes()[self.pos..]) => {
                    self.pos += quoted.len;
                    Some(expected)
                }
                _ => {
                    if self.peek()? != b'"' {
                        return None;
                    }
                    let Cow::Borrowed(name) = self.string()? else {
                        return None;
                    };
                    self.eat(b':')?;
                    CLIENT_FIELDS.iter().position(|f| *f == name)
                }
            };
            if let Some(field) = field {
                self.client_field(&mut c, field, &mut seen)?;
                expected = field + 1;
            } else {
                self.skip(0)?;
            }
            if self.end_or_next(b'}')? {
                return Some(c);
            }
        }
    }

    /// The value of field number `field` (of [`CLIENT_FIELDS`]) into `c`.
    #[inline(always)]
    fn client_field(&mut self, c: &mut ClientRef<'a>, field: usize, seen: &mut u32) -> Option<()> {
        let bit = 1u32 << field;
        // serde refuses a repeated field.
        if *seen & bit != 0 {
            return None;
        }
        *seen |= bit;
        // Written in place: a field's value is never moved through a temporary.
        match FIELD_KINDS[field] {
            Kind::Int => *c.int_slot(field)? = self.int_field()?,
            Kind::Text | Kind::Number => *c.text_slot(field)? = self.text_field()?,
        }
        Some(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn serde_page(json: &str) -> Option<ClientPageRef<'_>> {
        serde_json::from_str(json).ok()
    }

    fn same(json: &str) {
        let fast = read_page(json.as_bytes());
        if let Some(fast) = &fast {
            let slow = serde_page(json).unwrap_or_else(|| panic!("serde refused {json}"));
            assert_eq!(fast.time, slow.time, "{json}");
            assert_eq!(fast.count, slow.count, "{json}");
            assert_eq!(fast.clients, slow.clients, "{json}");
        }
    }

    #[test]
    fn reads_a_plain_page_without_copying() {
        let json = r#"{"time":"2027-01-15T08:00:00.000Z","clients":[{"id":"7","addr":"10.0.0.1:5","age":12,"idle":"3","db":"0","user":"default","omem":0}],"count":1}"#;
        let page = read_page(json.as_bytes()).expect("read");
        assert_eq!(page.count, Some(1));
        let c = &page.clients[0];
        assert!(matches!(c.addr, Some(Cow::Borrowed("10.0.0.1:5"))));
        assert_eq!((c.age, c.idle), (Some(12), Some(3)));
        same(json);
    }

    #[test]
    fn lenient_types_match_serde() {
        for json in [
            r#"{"clients":[{"id":7,"idle":true,"age":null,"db":false,"user":{"a":[1,2.5]},"omem":[1]}]}"#,
            r#"{"clients":null,"time":null,"count":"12"}"#,
            r#" { "clients" : [ { } , {"x":{"y":[null,true,-1.5e3]}} ] , "extra" : [[]] } "#,
            r#"{"clients":[{"name":"a\"b\\u00e9","addr":"x\ny"}]}"#,
            r#"{"clients":[{"age":" 42 ","idle":"-7","sub":"x"}]}"#,
            r#"{"clients":[{"age":999999999999999999,"id":-12}]}"#,
            r#"{"clients":[{"age":18446744073709551615,"id":18446744073709551615}]}"#,
            r#"{"clients":[{"age":-9223372036854775808,"id":-9223372036854775808}]}"#,
            // Whitespace wherever JSON allows it, before names, colons and values.
            "{\"clients\":[{ \"id\":\"7\", \"addr\": \"a:1\" ,\"age\" :1 ,\t\"idle\"\n:\r2 }]}",
        ] {
            assert!(read_page(json.as_bytes()).is_some(), "{json}");
            same(json);
        }
    }

    #[test]
    fn leaves_the_unusual_to_serde() {
        for json in [
            r#"{"clients":[{"id":"1","id":"2"}]}"#,
            r#"{"clients":[],"clients":[]}"#,
            r#"{"clients":[{"age":1.5}]}"#,
            r#"{"clients":[{"age":1e3}]}"#,
            r#"{"clients":[{"id":-0}]}"#,
            r#"{"clients":[{"id":01}]}"#,
            r#"{"clients":[{"age":123456789012345678901}]}"#,
            r#"{"clients":[{"age":-9223372036854775809}]}"#,
            r#"{"clients":[["1","10.0.0.1:5"]]}"#,
            r#"{"clients":[{"\u0069d":"1"}]}"#,
            r#"{"clients":[]} x"#,
            r#"{"clients":[],}"#,
            r#"{"clients":["#,
            "{\"clients\":[{\"name\":\"a\u{1}\"}]}",
            r#"[]"#,
            r#"{"clients":"none"}"#,
        ] {
            assert!(read_page(json.as_bytes()).is_none(), "{json}");
        }
        assert!(read_page(b"{\"clients\":[{\"name\":\"\xff\"}]}").is_none());
    }
}
