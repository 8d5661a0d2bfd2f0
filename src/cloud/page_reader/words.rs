//! Word-at-a-time scanning of a page's bytes: field names matched, strings' ends and short
//! numbers found eight bytes at a time.

use crate::session::CLIENT_FIELDS;

/// A field name as a page spells it, `"name":`, with its bytes as two little-endian words.
pub(super) struct QuotedName {
    pub(super) len: usize,
    words: [u64; 2],
    masks: [u64; 2],
}

impl QuotedName {
    const fn new(name: &str) -> Self {
        let name = name.as_bytes();
        let mut bytes = [0u8; 16];
        let len = name.len() + 3;
        assert!(len <= 16);
        bytes[0] = b'"';
        let mut i = 0;
        while i < name.len() {
            bytes[i + 1] = name[i];
            i += 1;
        }
        bytes[name.len() + 1] = b'"';
        bytes[name.len() + 2] = b':';
        let (mut words, mut masks) = ([0u64; 2], [0u64; 2]);
        let mut i = 0;
        while i < len {
            words[i / 8] |= (bytes[i] as u64) << (8 * (i % 8));
            masks[i / 8] |= 0xff << (8 * (i % 8));
            i += 1;
        }
        Self { len, words, masks }
    }

    /// Whether `text` starts with this name.
    #[inline]
    pub(super) fn starts(&self, text: &[u8]) -> bool {
        let word = |chunk: &[u8]| u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        match text.get(..16) {
            Some(head) => {
                word(&head[..8]) & self.masks[0] == self.words[0]
                    && word(&head[8..]) & self.masks[1] == self.words[1]
            }
            // The last bytes of a page are never a session's field.
            None => false,
        }
    }
}

pub(super) const QUOTED_FIELDS: [QuotedName; CLIENT_FIELDS.len()] = {
    let mut names = [const { QuotedName::new("") }; CLIENT_FIELDS.len()];
    let mut i = 0;
    while i < CLIENT_FIELDS.len() {
        names[i] = QuotedName::new(CLIENT_FIELDS[i]);
        i += 1;
    }
    names
};

const ONES: u64 = u64::from_ne_bytes([0x01; 8]);
const HIGHS: u64 = u64::from_ne_bytes([0x80; 8]);

/// Bytes of `word` that are zero, flagged by their high bit (the lowest flag is exact).
fn zero_bytes(word: u64) -> u64 {
    word.wrapping_sub(ONES) & !word & HIGHS
}

/// The first `"`, `\` or control character at or after `from`, eight bytes at a time: strings
/// in a page are short, too short for a vectorised search to pay off.
pub(super) fn find_special(bytes: &[u8], from: usize) -> usize {
    let mut i = from;
    while let Some(chunk) = bytes.get(i..i + 8) {
        let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
        let flags = zero_bytes(word ^ (ONES * u64::from(b'"')))
            | zero_bytes(word ^ (ONES * u64::from(b'\\')))
            // Bytes below 0x20; bytes of 0x80 and up keep their high bit and are not flagged.
            | (word.wrapping_sub(ONES * 0x20) & !word & HIGHS);
        if flags != 0 {
            return i + (flags.trailing_zeros() / 8) as usize;
        }
        i += 8;
    }
    while let Some(&b) = bytes.get(i) {
        if b == b'"' || b == b'\\' || b < 0x20 {
            return i;
        }
        i += 1;
    }
    i
}

/// The digits at `from`, read eight bytes at a time: how many there are before the first other
/// byte (8 when all are digits, and then no value), and their value. `None` when fewer than eight
/// bytes remain.
#[inline(always)]
pub(super) fn short_digits(bytes: &[u8], from: usize) -> Option<(usize, u64)> {
    let chunk = bytes.get(from..from + 8)?;
    let word = u64::from_le_bytes(chunk.try_into().unwrap_or_default());
    let less_zero = word.wrapping_sub(ONES * u64::from(b'0'));
    // A byte is no digit when it is below '0' (its high bit set by the subtraction) or its
    // difference is above 9 (adding 0x76 sets it); only the lowest flag matters, and it is exact.
    let other = (less_zero | less_zero.wrapping_add(ONES * 0x76)) & HIGHS;
    let n = (other.trailing_zeros() / 8) as usize;
    if n == 0 || n == 8 {
        return Some((n, 0));
    }
    // The digits to the top of the word (the first one lowest), then pairs, fours, eights.
    let v = (less_zero & (u64::MAX >> (8 * (8 - n)))) << (8 * (8 - n));
    let v = (v.wrapping_mul(10) + (v >> 8)) & 0x00ff_00ff_00ff_00ff;
    let v = (v.wrapping_mul(100) + (v >> 16)) & 0x0000_ffff_0000_ffff;
    let v = (v.wrapping_mul(10_000) + (v >> 32)) & 0xffff_ffff;
    Some((n, v))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_numbers_are_read_a_word_at_a_time() {
        for n in 1..=7 {
            for value in [0u64, 7, 42, 1234567, 9999999, 1000000, 305419896] {
                let text = format!("{value}");
                if text.len() != n {
                    continue;
                }
                for after in [",", "}", "]", "\"", " ", ".", "e", "/", ":"] {
                    let json = format!("{text}{after}00000000");
                    assert_eq!(short_digits(json.as_bytes(), 0), Some((n, value)), "{json}");
                }
            }
        }
        assert_eq!(short_digits(b"12345678,", 0), Some((8, 0)));
        assert_eq!(short_digits(b",1234567", 0), Some((0, 0)));
        assert_eq!(short_digits(b"1234", 0), None);
        for v in 0..100_000u64 {
            let json = format!("{v},0000000");
            let n = v.to_string().len();
            assert_eq!(short_digits(json.as_bytes(), 0), Some((n, v)));
        }
    }

    #[test]
    fn quoted_names_match_their_text() {
        for (quoted, name) in QUOTED_FIELDS.iter().zip(CLIENT_FIELDS) {
            let text = format!("\"{name}\":\"0123456789abcdef\"");
            assert!(quoted.starts(text.as_bytes()), "{name}");
            assert_eq!(quoted.len, name.len() + 3);
            let other = format!("\"{name}x\":\"0123456789abcdef\"");
            assert!(!quoted.starts(other.as_bytes()), "{name}");
        }
    }
}
