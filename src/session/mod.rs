//! The client session record, one home for its fields. [`session_fields!`] lists every field
//! once, with its kind; from that list come the owned record ([`ClientInfo`]), the borrowed
//! one ([`ClientRef`]) and their conversions, the field names ([`CLIENT_FIELDS`]), reading a
//! field by name ([`ClientInfo::value`], for sorting and output), writing one in place by
//! position ([`ClientRef::text_slot`], [`ClientRef::int_slot`], for parsers), and serde. A new
//! field is one line here, plus the code that reads it.

use std::borrow::Cow;
use std::fmt;

use serde::de::{self, Deserializer, MapAccess, SeqAccess, Visitor};
use serde::ser::{SerializeMap, Serializer};
use serde::{Deserialize, Serialize};

mod address;
pub mod lenient;
mod sink;

pub use address::strip_port;
pub use sink::PageSink;

/// How a field is held and compared.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Kind {
    /// Text.
    Text,
    /// Text that holds a number (`id`, `fd`, `db`): sorted as a number when it is one.
    Number,
    /// An integer.
    Int,
}

/// A field's value, borrowed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Value<'a> {
    Text(Cow<'a, str>),
    Int(i64),
}

impl Value<'_> {
    /// As text (numbers in decimal).
    pub fn to_text(&self) -> Cow<'_, str> {
        match self {
            Value::Text(t) => Cow::Borrowed(t.as_ref()),
            Value::Int(n) => Cow::Owned(n.to_string()),
        }
    }
}

macro_rules! owned_type {
    (Int) => {
        i64
    };
    ($other:ident) => {
        String
    };
}

macro_rules! borrowed_type {
    ($a:lifetime, Int) => { i64 };
    ($a:lifetime, $other:ident) => { Cow<$a, str> };
}

/// Converts between the owned and borrowed forms and reads a field by kind.
macro_rules! field_ops {
    (to_owned Int, $v:expr) => {
        $v
    };
    (to_owned $other:ident, $v:expr) => {
        $v.map(Cow::into_owned)
    };
    (view Int, $v:expr) => {
        $v
    };
    (view $other:ident, $v:expr) => {
        $v.as_deref().map(Cow::Borrowed)
    };
    (value Int, $v:expr) => {
        $v.map(Value::Int)
    };
    (value $other:ident, $v:expr) => {
        $v.as_deref().map(|t| Value::Text(Cow::Borrowed(t)))
    };
    (text_slot Int, $slot:expr) => {
        None
    };
    (text_slot $other:ident, $slot:expr) => {
        Some(&mut $slot)
    };
    (int_slot Int, $slot:expr) => {
        Some(&mut $slot)
    };
    (int_slot $other:ident, $slot:expr) => {
        None
    };
    (from_text Int, $text:expr) => {
        $text.parse::<i64>().ok()
    };
    (from_text $other:ident, $text:expr) => {
        Some(Cow::Borrowed($text))
    };
    (read Int, $map:expr) => {
        $map.next_value::<LenientInt>()?.0
    };
    (read $other:ident, $map:expr) => {
        $map.next_value::<LenientText<'de>>()?.0
    };
    (element Int, $seq:expr) => {
        $seq.next_element::<LenientInt>()?.map(|v| v.0)
    };
    (element $other:ident, $seq:expr) => {
        $seq.next_element::<LenientText<'de>>()?.map(|v| v.0)
    };
}

/// The session's fields, once: name, kind, and what it means.
macro_rules! session_fields {
    ($( $(#[doc = $doc:literal])* $field:ident: $kind:ident, )+) => {
        /// One client session as a node lists it. Any field may be missing.
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct ClientInfo {
            $( $(#[doc = $doc])* pub $field: Option<owned_type!($kind)>, )+
        }

        /// A session as [`ClientInfo`] has it, borrowing its text from what it was read from
        /// (a page's JSON, a `CLIENT LIST` reply): the scan path reads sessions this way,
        /// without an allocation per field.
        #[derive(Clone, Debug, Default, PartialEq, Eq)]
        pub struct ClientRef<'a> {
            $( $(#[doc = $doc])* pub $field: Option<borrowed_type!('a, $kind)>, )+
        }

        /// Every field's name, in the order the service sends them.
        pub const CLIENT_FIELDS: &[&str] = &[$( stringify!($field) ),+];

        /// Every field's kind, in the order of [`CLIENT_FIELDS`].
        pub const FIELD_KINDS: &[Kind] = &[$( Kind::$kind ),+];

        /// Positions in [`CLIENT_FIELDS`], by name.
        #[allow(non_camel_case_types, clippy::upper_case_acronyms)]
        #[repr(usize)]
        enum Position { $( $field ),+ }

        #[allow(non_upper_case_globals)]
        mod position {
            $( pub const $field: usize = super::Position::$field as usize; )+
        }

        /// The position of a field in [`CLIENT_FIELDS`].
        pub fn position(name: &str) -> Option<usize> {
            match name {
                $( stringify!($field) => Some(position::$field), )+
                _ => None,
            }
        }

        impl ClientRef<'_> {
            pub fn into_owned(self) -> ClientInfo {
                ClientInfo { $( $field: field_ops!(to_owned $kind, self.$field), )+ }
            }
        }

        impl ClientInfo {
            /// This session, borrowed.
            pub fn view(&self) -> ClientRef<'_> {
                ClientRef { $( $field: field_ops!(view $kind, self.$field), )+ }
            }

            /// The field named `name`, when the session has it.
            pub fn value(&self, name: &str) -> Option<Value<'_>> {
                match name {
                    $( stringify!($field) => field_ops!(value $kind, self.$field), )+
                    _ => None,
                }
            }
        }

        impl<'a> ClientRef<'a> {
            /// The text field at `position` (of [`CLIENT_FIELDS`]), for parsers that write it in
            /// place; `None` for a number field.
            #[inline]
            pub fn text_slot(&mut self, position: usize) -> Option<&mut Option<Cow<'a, str>>> {
                match position {
                    $( position::$field => field_ops!(text_slot $kind, self.$field), )+
                    _ => None,
                }
            }

            /// The integer field at `position` (of [`CLIENT_FIELDS`]); `None` for a text field.
            #[inline]
            pub fn int_slot(&mut self, position: usize) -> Option<&mut Option<i64>> {
                match position {
                    $( position::$field => field_ops!(int_slot $kind, self.$field), )+
                    _ => None,
                }
            }

            /// Sets the field named `name` from its text, as `CLIENT LIST` writes it: a number
            /// that does not parse loses only that field. `false` for a name that is no field.
            pub fn set_from_text(&mut self, name: &str, text: &'a str) -> bool {
                match name {
                    $( stringify!($field) => {
                        self.$field = field_ops!(from_text $kind, text);
                        true
                    } )+
                    _ => false,
                }
            }
        }

        impl Serialize for ClientInfo {
            /// The fields it has, in order; missing ones are left out.
            fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
                let mut map = serializer.serialize_map(None)?;
                $( if let Some(v) = &self.$field { map.serialize_entry(stringify!($field), v)?; } )+
                map.end()
            }
        }

        struct ClientVisitor;

        impl<'de> Visitor<'de> for ClientVisitor {
            type Value = ClientRef<'de>;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a client session")
            }

            fn visit_map<M: MapAccess<'de>>(self, mut map: M) -> Result<Self::Value, M::Error> {
                let mut client = ClientRef::default();
                let mut seen = [false; CLIENT_FIELDS.len()];
                while let Some(FieldKey(key)) = map.next_key::<FieldKey>()? {
                    match key {
                        $( Some(position::$field) => {
                            if std::mem::replace(&mut seen[position::$field], true) {
                                return Err(de::Error::duplicate_field(stringify!($field)));
                            }
                            client.$field = field_ops!(read $kind, map);
                        } )+
                        _ => {
                            map.next_value::<de::IgnoredAny>()?;
                        }
                    }
                }
                Ok(client)
            }

            /// Fields by position, as serde reads a struct from an array.
            fn visit_seq<S: SeqAccess<'de>>(self, mut seq: S) -> Result<Self::Value, S::Error> {
                let mut client = ClientRef::default();
                $( client.$field = match field_ops!(element $kind, seq) {
                    Some(v) => v,
                    None => return Ok(client),
                }; )+
                Ok(client)
            }
        }
    };
}

session_fields! {
    id: Number,
    /// `ip:port` as the node sees it (an internal 198.19.x.x address without IP pass-through).
    addr: Text,
    fd: Number,
    name: Text,
    cmd: Text,
    /// Seconds since the connection was made.
    age: Int,
    /// Seconds since the last command.
    idle: Int,
    db: Number,
    flags: Text,
    sub: Int,
    psub: Int,
    multi: Int,
    qbuf: Int,
    qbuf_free: Int,
    obl: Int,
    oll: Int,
    /// Bytes held by the output buffer and list.
    omem: Int,
    events: Text,
    network: Text,
    /// The client's own `ip:port`; what the kill-sessions call takes.
    peer: Text,
    user: Text,
}

/// A key of a session object: a field's position, or `None` for a name that is no field.
/// Read as an identifier, so that it is never copied.
struct FieldKey(Option<usize>);

impl<'de> Deserialize<'de> for FieldKey {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct KeyVisitor;
        impl Visitor<'_> for KeyVisitor {
            type Value = FieldKey;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a field name")
            }

            fn visit_str<E: de::Error>(self, name: &str) -> Result<FieldKey, E> {
                Ok(FieldKey(position(name)))
            }

            fn visit_bytes<E: de::Error>(self, name: &[u8]) -> Result<FieldKey, E> {
                Ok(FieldKey(std::str::from_utf8(name).ok().and_then(position)))
            }

            fn visit_u64<E: de::Error>(self, _: u64) -> Result<FieldKey, E> {
                Ok(FieldKey(None))
            }
        }
        d.deserialize_identifier(KeyVisitor)
    }
}

/// A text field as the service may send it: a string, a number, or null.
struct LenientText<'a>(Option<Cow<'a, str>>);

impl<'de> Deserialize<'de> for LenientText<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        lenient::opt_str(d).map(LenientText)
    }
}

/// A number field as the service may send it: a number, a numeric string, or null.
struct LenientInt(Option<i64>);

impl<'de> Deserialize<'de> for LenientInt {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        lenient::opt_i64(d).map(LenientInt)
    }
}

impl<'de> Deserialize<'de> for ClientRef<'de> {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_struct("ClientRef", CLIENT_FIELDS, ClientVisitor)
    }
}

impl<'de> Deserialize<'de> for ClientInfo {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        ClientRef::deserialize(d).map(ClientRef::into_owned)
    }
}

/// The filter matches a whole `ip:port` or just the IP, of `addr` or `peer`.
pub fn address_matches(c: &ClientInfo, filter: &str) -> bool {
    [c.addr.as_deref(), c.peer.as_deref()]
        .into_iter()
        .flatten()
        .any(|a| a == filter || a.rsplit_once(':').is_some_and(|(ip, _)| ip == filter))
}

/// Orders sessions by one field: numbers (and numeric strings) as numbers, the rest as text;
/// a missing value sorts first. A total order, as sorting needs.
pub fn compare_clients(a: &ClientInfo, b: &ClientInfo, field: &str) -> std::cmp::Ordering {
    let kind = position(field).map(|p| FIELD_KINDS[p]);
    let number = |c: &ClientInfo| -> Option<i64> {
        match (kind, c.value(field)?) {
            (_, Value::Int(n)) => Some(n),
            (Some(Kind::Number), Value::Text(t)) => t.parse().ok(),
            _ => None,
        }
    };
    // A numeric string that does not parse still sorts, as text, after the numbers.
    let text = |c: &ClientInfo| -> Option<String> {
        match c.value(field)? {
            Value::Text(t) => Some(t.into_owned()),
            Value::Int(_) => None,
        }
    };
    number(a)
        .cmp(&number(b))
        .then_with(|| text(a).cmp(&text(b)))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_field_is_listed_once_with_its_kind() {
        assert_eq!(CLIENT_FIELDS.len(), FIELD_KINDS.len());
        for (i, name) in CLIENT_FIELDS.iter().enumerate() {
            assert_eq!(position(name), Some(i));
        }
        let mut c = ClientRef::default();
        *c.int_slot(position("idle").unwrap()).unwrap() = Some(7);
        *c.text_slot(position("name").unwrap()).unwrap() = Some("api".into());
        // A field has a slot of its own kind only.
        assert!(c.text_slot(position("age").unwrap()).is_none());
        assert!(c.int_slot(position("name").unwrap()).is_none());
        assert!(c.int_slot(CLIENT_FIELDS.len()).is_none());
        assert!(c.set_from_text("omem", "1024"));
        assert!(c.set_from_text("qbuf", "lots"));
        assert!(!c.set_from_text("laddr", "10.0.0.1:6379"));
        let owned = c.clone().into_owned();
        assert_eq!(owned.idle, Some(7));
        assert_eq!(owned.name.as_deref(), Some("api"));
        assert_eq!(
            (owned.age, owned.omem, owned.qbuf),
            (None, Some(1024), None)
        );
        assert_eq!(owned.view(), c);
        assert_eq!(owned.value("omem"), Some(Value::Int(1024)));
        assert_eq!(owned.value("name").unwrap().to_text(), "api");
        assert_eq!(owned.value("user"), None);
        assert_eq!(owned.value("nonsense"), None);
    }

    #[test]
    fn serde_leaves_missing_fields_out_and_refuses_repeated_ones() {
        let c: ClientInfo =
            serde_json::from_str(r#"{"id":12,"idle":"5","name":null,"extra":[1,{"a":2}]}"#)
                .unwrap();
        assert_eq!(c.id.as_deref(), Some("12"));
        assert_eq!(c.idle, Some(5));
        assert_eq!(c.name, None);
        assert_eq!(
            serde_json::to_string(&c).unwrap(),
            r#"{"id":"12","idle":5}"#
        );
        let twice = serde_json::from_str::<ClientRef>(r#"{"idle":1,"idle":2}"#);
        assert!(twice.unwrap_err().to_string().contains("duplicate field"));
        // A struct may come as an array, fields by position.
        let positional: ClientInfo = serde_json::from_str(r#"["1","10.0.0.1:5"]"#).unwrap();
        assert_eq!(positional.addr.as_deref(), Some("10.0.0.1:5"));
    }

    #[test]
    fn sorting_is_a_total_order_with_missing_values() {
        // Sorting panics or misorders with a comparator that is not a total order.
        let mut clients: Vec<ClientInfo> = (0..500)
            .map(|i| ClientInfo {
                idle: (i % 5 != 0).then_some((i * 7919) % 101),
                db: Some(if i % 7 == 0 {
                    "x".to_string()
                } else {
                    (i % 16).to_string()
                }),
                ..Default::default()
            })
            .collect();
        for field in ["idle", "db", "addr", "omem"] {
            clients.sort_by(|a, b| compare_clients(a, b, field));
            assert!(
                clients
                    .windows(2)
                    .all(|w| compare_clients(&w[0], &w[1], field).is_le()),
                "{field}"
            );
        }
        clients.sort_by(|a, b| compare_clients(a, b, "idle"));
        assert!(clients[0].idle.is_none() && clients[499].idle == Some(100));
    }
}
