//! RESP2, the Redis protocol, read within a byte budget.
//!
//! A server chooses how much it sends: a bulk string may declare 2^40 bytes, an array may never
//! end. Every reply of a connection is charged to one [`Budget`] for what it keeps in memory,
//! and each declared length or count is checked against what is left *before* anything is
//! read or allocated; past the budget the read stops with [`RespError::TooLarge`]. Lines are
//! bounded ([`MAX_LINE`]) and arrays nest at most [`MAX_DEPTH`] deep, so no reply, however
//! shaped, holds more than the budget nor panics the reader.

use tokio::io::{AsyncBufRead, AsyncBufReadExt, AsyncReadExt};

/// The deepest nesting of arrays read: `SLOWLOG GET`, the deepest reply used, nests three.
pub const MAX_DEPTH: usize = 8;

/// The longest line (a status, an error, a length) read: real ones are a few dozen bytes.
pub const MAX_LINE: usize = 64 * 1024;

/// What a value costs in memory besides its text: its place in an array (or the reply's own).
pub const SLOT: u64 = std::mem::size_of::<Value>() as u64;

/// A reply.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value {
    /// A null bulk string or array.
    Nil,
    Int(i64),
    /// A status (`+OK`).
    Simple(String),
    /// An error reply (`-ERR ...`, `-NOAUTH ...`), without its `-`.
    Error(String),
    Bulk(Vec<u8>),
    Array(Vec<Value>),
}

impl Value {
    /// The bytes the value holds in memory, as the budget counts them: a slot for itself, its
    /// text, and its items.
    pub fn size(&self) -> u64 {
        SLOT.saturating_add(match self {
            Value::Nil | Value::Int(_) => 0,
            Value::Simple(s) | Value::Error(s) => s.len() as u64,
            Value::Bulk(b) => b.len() as u64,
            Value::Array(items) => items
                .iter()
                .map(Value::size)
                .fold(0u64, u64::saturating_add),
        })
    }
}

/// Why a reply could not be read.
#[derive(Debug, thiserror::Error)]
pub enum RespError {
    /// The replies of the connection passed its byte budget.
    #[error("the replies passed the budget of {0} bytes")]
    TooLarge(u64),
    /// Bytes that are no RESP2 reply.
    #[error("not a RESP reply: {0}")]
    Protocol(&'static str),
    #[error("{0}")]
    Io(#[from] std::io::Error),
}

/// The bytes the replies of one connection may keep in memory, all together.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Budget {
    total: u64,
    left: u64,
}

impl Budget {
    pub fn new(bytes: u64) -> Self {
        Self {
            total: bytes,
            left: bytes,
        }
    }

    /// The whole of it.
    pub fn total(&self) -> u64 {
        self.total
    }

    /// What is left of it.
    pub fn left(&self) -> u64 {
        self.left
    }

    /// Takes `bytes` from what is left, or fails (leaving nothing) when they are more.
    fn charge(&mut self, bytes: u64) -> Result<(), RespError> {
        match self.left.checked_sub(bytes) {
            Some(left) => {
                self.left = left;
                Ok(())
            }
            None => {
                self.left = 0;
                Err(RespError::TooLarge(self.total))
            }
        }
    }
}

/// A command as RESP: an array of bulk strings.
pub fn encode_command(args: &[&[u8]]) -> Vec<u8> {
    let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for arg in args {
        out.extend_from_slice(format!("${}\r\n", arg.len()).as_bytes());
        out.extend_from_slice(arg);
        out.extend_from_slice(b"\r\n");
    }
    out
}

/// One element as read: a whole value, or the header of an array whose items follow.
enum Element {
    Value(Value),
    Array(usize),
}

/// Reads one reply, charging what it keeps to `budget`. Arrays are read without recursion: a
/// stack of the arrays still open, each with the count it declared.
pub async fn read_value<R>(reader: &mut R, budget: &mut Budget) -> Result<Value, RespError>
where
    R: AsyncBufRead + Unpin,
{
    budget.charge(SLOT)?;
    let mut line = Vec::new();
    read_line(reader, &mut line).await?;
    read_value_from(reader, &mut line, budget).await
}

/// Reads one reply, a bulk string into `bytes` (emptied first, its capacity kept, so that a
/// large reply read again and again finds its memory there): `None` then, else the reply.
/// Charged to `budget` as [`read_value`] charges it.
pub async fn read_bulk_into<R>(
    reader: &mut R,
    budget: &mut Budget,
    bytes: &mut Vec<u8>,
) -> Result<Option<Value>, RespError>
where
    R: AsyncBufRead + Unpin,
{
    budget.charge(SLOT)?;
    let mut line = Vec::new();
    read_line(reader, &mut line).await?;
    if let [b'$', rest @ ..] = line.as_slice()
        && let Some(len) = length(rest)?
    {
        budget.charge(len)?;
        read_bulk(reader, len, bytes).await?;
        return Ok(None);
    }
    read_value_from(reader, &mut line, budget).await.map(Some)
}

/// The reply whose first line is `line`, the slot of the reply itself already charged.
async fn read_value_from<R>(
    reader: &mut R,
    line: &mut Vec<u8>,
    budget: &mut Budget,
) -> Result<Value, RespError>
where
    R: AsyncBufRead + Unpin,
{
    let mut open: Vec<(Vec<Value>, usize)> = Vec::new();
    let mut first = true;
    loop {
        if !std::mem::take(&mut first) {
            read_line(reader, line).await?;
        }
        let mut value = match element(reader, line, budget).await? {
            Element::Value(v) => v,
            Element::Array(0) => Value::Array(Vec::new()),
            Element::Array(count) => {
                if open.len() >= MAX_DEPTH {
                    return Err(RespError::Protocol("arrays nested too deep"));
                }
                open.push((Vec::with_capacity(count), count));
                continue;
            }
        };
        // Closes every array this value completes.
        loop {
            let Some((items, count)) = open.last_mut() else {
                return Ok(value);
            };
            items.push(value);
            if items.len() < *count {
                break;
            }
            let Some((items, _)) = open.pop() else {
                return Err(RespError::Protocol("an array closed twice"));
            };
            value = Value::Array(items);
        }
    }
}

/// The element whose first line is `line`; a bulk string's bytes are read after it.
async fn element<R>(reader: &mut R, line: &[u8], budget: &mut Budget) -> Result<Element, RespError>
where
    R: AsyncBufRead + Unpin,
{
    let Some((&kind, rest)) = line.split_first() else {
        return Err(RespError::Protocol("an empty line"));
    };
    Ok(Element::Value(match kind {
        b'+' | b'-' => {
            let text = into_text(rest.to_vec());
            budget.charge(text.len() as u64)?;
            if kind == b'+' {
                Value::Simple(text)
            } else {
                Value::Error(text)
            }
        }
        b':' => Value::Int(number(rest)?),
        b'$' => match length(rest)? {
            None => Value::Nil,
            Some(len) => {
                budget.charge(len)?;
                let mut bytes = Vec::new();
                read_bulk(reader, len, &mut bytes).await?;
                Value::Bulk(bytes)
            }
        },
        b'*' => match length(rest)? {
            None => Value::Nil,
            Some(count) => {
                // The items' slots, charged before they are allocated: a count past the
                // budget fails here, unread.
                budget.charge(SLOT.saturating_mul(count))?;
                let count = usize::try_from(count)
                    .map_err(|_| RespError::Protocol("an array longer than memory"))?;
                return Ok(Element::Array(count));
            }
        },
        _ => return Err(RespError::Protocol("an unknown type byte")),
    }))
}

/// One line without its CRLF, at most [`MAX_LINE`] bytes.
async fn read_line<R>(reader: &mut R, line: &mut Vec<u8>) -> Result<(), RespError>
where
    R: AsyncBufRead + Unpin,
{
    line.clear();
    loop {
        let buf = reader.fill_buf().await?;
        if buf.is_empty() {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
        let (taken, done) = match buf.iter().position(|&b| b == b'\n') {
            Some(i) => (i + 1, true),
            None => (buf.len(), false),
        };
        line.extend_from_slice(&buf[..taken]);
        reader.consume(taken);
        if line.len() > MAX_LINE + 2 {
            return Err(RespError::Protocol("a line longer than 64 KiB"));
        }
        if done {
            break;
        }
    }
    if !line.ends_with(b"\r\n") {
        return Err(RespError::Protocol("a line not ended by CRLF"));
    }
    line.truncate(line.len() - 2);
    Ok(())
}

/// `len` bytes into `bytes` (emptied first) and the CRLF after them, read as they arrive. What
/// the reader holds is taken first; the rest goes from the stream straight into `bytes`, whose
/// room for exactly `len` is reserved before.
async fn read_bulk<R>(reader: &mut R, len: u64, bytes: &mut Vec<u8>) -> Result<(), RespError>
where
    R: AsyncBufRead + Unpin,
{
    let size =
        usize::try_from(len).map_err(|_| RespError::Protocol("a string longer than memory"))?;
    bytes.clear();
    bytes.reserve_exact(size);
    let mut body = (&mut *reader).take(len);
    while bytes.len() < size {
        if body.read_buf(bytes).await? == 0 {
            return Err(std::io::Error::from(std::io::ErrorKind::UnexpectedEof).into());
        }
    }
    let mut end = [0u8; 2];
    reader.read_exact(&mut end).await?;
    if end != *b"\r\n" {
        return Err(RespError::Protocol("a string not ended by CRLF"));
    }
    Ok(())
}

/// An integer reply's number.
fn number(text: &[u8]) -> Result<i64, RespError> {
    std::str::from_utf8(text)
        .ok()
        .and_then(|t| t.parse().ok())
        .ok_or(RespError::Protocol("an integer that is no number"))
}

/// A declared length or count: `None` for `-1` (null), an error for any other negative.
fn length(text: &[u8]) -> Result<Option<u64>, RespError> {
    match number(text)? {
        -1 => Ok(None),
        n => u64::try_from(n)
            .map(Some)
            .map_err(|_| RespError::Protocol("a negative length")),
    }
}

/// The bytes as text, each byte that is not UTF-8 replaced by `?` in place (no copy, no growth;
/// text that is UTF-8 already is checked once).
pub fn into_text(bytes: Vec<u8>) -> String {
    let mut bytes = match String::from_utf8(bytes) {
        Ok(text) => return text,
        Err(e) => e.into_bytes(),
    };
    let mut start = 0;
    while let Err(e) = std::str::from_utf8(&bytes[start..]) {
        let bad = start + e.valid_up_to();
        let width = e.error_len().unwrap_or(bytes.len() - bad);
        for b in &mut bytes[bad..bad + width] {
            *b = b'?';
        }
        start = bad + width;
    }
    String::from_utf8(bytes).unwrap_or_default()
}

#[cfg(test)]
mod tests;
