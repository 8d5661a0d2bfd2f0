//! Label pairs as the exposition formats encode them, for rows whose labels are encoded once,
//! when their node's aggregate is made, rather than at every scrape: at fleet scale a scrape
//! spends most of its time reading, checking and escaping label values scattered over the
//! snapshot. The exposition writers encode every other label set with the same functions.

use std::ops::Range;

/// Label values are cut to this many characters: names from API answers and Redis (a client
/// name may be any length) must not inflate every scrape.
pub const MAX_LABEL_VALUE_CHARS: usize = 256;

/// `value`, cut to [`MAX_LABEL_VALUE_CHARS`].
pub fn capped(value: &str) -> &str {
    // No more bytes than the cap, no more characters: the common case, without a walk.
    if value.len() <= MAX_LABEL_VALUE_CHARS {
        return value;
    }
    match value.char_indices().nth(MAX_LABEL_VALUE_CHARS) {
        Some((end, _)) => &value[..end],
        None => value,
    }
}

/// Appends `name="value"` (the text formats), after a comma unless `out` is empty.
pub fn text_pair(out: &mut Vec<u8>, name: &str, value: &str) {
    if !out.is_empty() {
        out.push(b',');
    }
    text_pair_alone(out, name, value);
}

/// Appends `name="value"`.
fn text_pair_alone(out: &mut Vec<u8>, name: &str, value: &str) {
    out.extend_from_slice(name.as_bytes());
    out.extend_from_slice(b"=\"");
    escape_into(out, value);
    out.push(b'"');
}

/// Appends `value` with `\`, `"` and newline escaped.
pub fn escape_into(out: &mut Vec<u8>, value: &str) {
    // Most values need nothing: one pass that the compiler can widen, then a copy.
    let special = value
        .bytes()
        .fold(false, |found, b| found | matches!(b, b'\\' | b'"' | b'\n'));
    if !special {
        out.extend_from_slice(value.as_bytes());
        return;
    }
    for b in value.bytes() {
        match b {
            b'\\' => out.extend_from_slice(b"\\\\"),
            b'"' => out.extend_from_slice(b"\\\""),
            b'\n' => out.extend_from_slice(b"\\n"),
            _ => out.push(b),
        }
    }
}

/// Appends a metric's `LabelPair { name = 1; value = 2 }` (field 1 of `Metric`), an empty value
/// left out, as prost writes it.
pub fn protobuf_pair(out: &mut Vec<u8>, name: &str, value: &str) {
    const PAIR: u8 = (1 << 3) | 2;
    const VALUE: u8 = (2 << 3) | 2;
    let mut length = 1 + varint_len(name.len() as u64) + name.len();
    if !value.is_empty() {
        length += 1 + varint_len(value.len() as u64) + value.len();
    }
    out.push(PAIR);
    varint(out, length as u64);
    out.push(PAIR);
    varint(out, name.len() as u64);
    out.extend_from_slice(name.as_bytes());
    if !value.is_empty() {
        out.push(VALUE);
        varint(out, value.len() as u64);
        out.extend_from_slice(value.as_bytes());
    }
}

/// Appends `v` as a protobuf varint.
pub fn varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

/// The bytes of `v` as a varint.
pub fn varint_len(v: u64) -> usize {
    // 7 bits a byte; 0 takes one.
    (64 - (v | 1).leading_zeros() as usize).div_ceil(7)
}

/// A row's labels after its node's, encoded in both forms.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct LabelBlock<'a> {
    /// `name="value"` pairs joined by commas.
    pub text: &'a [u8],
    /// `LabelPair` fields, one after another.
    pub protobuf: &'a [u8],
}

/// Encodes `pairs` (values capped) in both forms, one after the other; returns where the text
/// form ends, and where each value lies in the protobuf form (unescaped, as given but capped).
pub fn encode_block<const N: usize>(
    out: &mut Vec<u8>,
    pairs: &[(&str, &str); N],
) -> (usize, [Range<usize>; N]) {
    let start = out.len();
    for (i, (name, value)) in pairs.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        text_pair_alone(out, name, capped(value));
    }
    let text_end = out.len() - start;
    let values = pairs.map(|(name, value)| {
        let value = capped(value);
        protobuf_pair(out, name, value);
        let end = out.len() - start;
        end - value.len()..end
    });
    (text_end, values)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn label_values_are_escaped() {
        let mut out = Vec::new();
        escape_into(&mut out, "a\\b\"c\nd λ");
        assert_eq!(String::from_utf8(out).unwrap(), "a\\\\b\\\"c\\nd λ");
    }

    #[test]
    fn long_values_are_cut_by_characters() {
        let long = "λ".repeat(MAX_LABEL_VALUE_CHARS + 1);
        assert_eq!(capped(&long).chars().count(), MAX_LABEL_VALUE_CHARS);
        assert_eq!(capped("short"), "short");
    }

    #[test]
    fn a_block_holds_both_forms() {
        let mut out = b"kept".to_vec();
        let (text_end, values) = encode_block(&mut out, &[("db", "0"), ("user", "")]);
        assert_eq!(&out[4..4 + text_end], b"db=\"0\",user=\"\"");
        assert_eq!(&out[4 + values[0].start..4 + values[0].end], b"0");
        assert!(values[1].is_empty());
        assert_eq!(
            &out[4 + text_end..],
            b"\x0a\x07\x0a\x02db\x12\x010\x0a\x06\x0a\x04user"
        );
    }
}
