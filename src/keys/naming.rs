//! Key names are user data: how much of them reaches a label is the operator's choice.

use sha2::{Digest, Sha256};

/// The most characters of a key name a label keeps.
pub const MAX_KEY_CHARS: usize = 128;

/// How a key's name becomes its `key` label value.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, strum::EnumString, strum::IntoStaticStr)]
#[strum(serialize_all = "snake_case")]
pub enum KeyNames {
    /// The name, cut to [`MAX_KEY_CHARS`] characters.
    #[default]
    Full,
    /// The name up to the first delimiter (`user:1234` is `user`).
    Prefix,
    /// The first 16 hex digits of the name's SHA-256, which `keys` prints beside the name.
    Hash,
}

/// The naming in force for a cloud.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct KeyNaming {
    pub names: KeyNames,
    /// Where a prefix ends (the first of them found in the name); default `[":"]`.
    pub delimiters: Vec<String>,
}

impl Default for KeyNaming {
    fn default() -> Self {
        KeyNaming {
            names: KeyNames::Full,
            delimiters: vec![":".to_string()],
        }
    }
}

impl KeyNaming {
    /// The label value of a key name.
    pub fn label(&self, name: &str) -> String {
        match self.names {
            KeyNames::Full => cut(name),
            KeyNames::Prefix => cut(prefix(name, &self.delimiters)),
            KeyNames::Hash => key_hash(name),
        }
    }

    /// The label value of a key name read as bytes from a server: the hash is of the bytes as
    /// they are; text keeps at most what a label shows, each byte that is not UTF-8 as `?`.
    pub fn label_bytes(&self, name: &[u8]) -> String {
        // Enough bytes for MAX_KEY_CHARS characters of any width: a 1 MB name is not copied.
        let shown = |bytes: &[u8]| {
            let bytes = &bytes[..bytes.len().min(MAX_KEY_CHARS * 4)];
            cut(&String::from_utf8_lossy(bytes).replace('\u{FFFD}', "?"))
        };
        match self.names {
            KeyNames::Full => shown(name),
            KeyNames::Prefix => {
                let end = self
                    .delimiters
                    .iter()
                    .filter(|d| !d.is_empty())
                    .filter_map(|d| name.windows(d.len()).position(|w| w == d.as_bytes()))
                    .min()
                    .unwrap_or(name.len());
                shown(&name[..end])
            }
            KeyNames::Hash => key_hash(name),
        }
    }
}

/// The first 16 hex digits of the name's SHA-256.
pub fn key_hash(name: impl AsRef<[u8]>) -> String {
    let digest = Sha256::digest(name.as_ref());
    hex::encode(&digest[..8])
}

/// The name up to the first of the delimiters found in it (the whole name when none is).
pub fn prefix<'a>(name: &'a str, delimiters: &[String]) -> &'a str {
    let end = delimiters
        .iter()
        .filter(|d| !d.is_empty())
        .filter_map(|d| name.find(d.as_str()))
        .min()
        .unwrap_or(name.len());
    &name[..end]
}

/// At most [`MAX_KEY_CHARS`] characters, control characters replaced by `?` (a label value
/// may hold them, but a dashboard's table should not break its lines on them).
fn cut(name: &str) -> String {
    name.chars()
        .take(MAX_KEY_CHARS)
        .map(|c| if c.is_control() { '?' } else { c })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_as_chosen() {
        let full = KeyNaming::default();
        assert_eq!(full.label("user:1:profile"), "user:1:profile");
        assert_eq!(full.label(&"k".repeat(1 << 20)).len(), MAX_KEY_CHARS);
        assert_eq!(full.label("a\nb"), "a?b");
        let by_prefix = KeyNaming {
            names: KeyNames::Prefix,
            delimiters: vec![":".into(), "/".into()],
        };
        assert_eq!(by_prefix.label("user:1:profile"), "user");
        assert_eq!(by_prefix.label("img/2/x:y"), "img");
        assert_eq!(by_prefix.label("plain"), "plain");
        let hashed = KeyNaming {
            names: KeyNames::Hash,
            ..KeyNaming::default()
        };
        // SHA-256("foo") = 2c26b46b68ffc68f...
        assert_eq!(hashed.label("foo"), "2c26b46b68ffc68f");
        assert_eq!(key_hash("foo").len(), 16);
        assert_eq!(hashed.label_bytes(b"foo"), "2c26b46b68ffc68f");
        assert_eq!(full.label_bytes(b"bin\xff\xfe\nx"), "bin???x");
        assert_eq!(full.label_bytes(&vec![b'k'; 1 << 20]).len(), MAX_KEY_CHARS);
        assert_eq!(by_prefix.label_bytes(b"img/2\xff:y"), "img");
        assert_eq!(by_prefix.label_bytes("user:é".as_bytes()), "user");
    }
}
