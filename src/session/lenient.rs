//! Tolerant field decoders: real answers send numbers as strings, strings as numbers, and nulls
//! anywhere. A field of the wrong type becomes absent rather than failing the whole page.

use serde::de::{self, Deserializer, Visitor};
use std::borrow::Cow;
use std::fmt;

/// A string, or a number or bool shown as a string, borrowed from the input where it has no
/// escapes; anything else is absent.
struct OptStr;

impl<'de> Visitor<'de> for OptStr {
    type Value = Option<Cow<'de, str>>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a string, a number or null")
    }
    fn visit_borrowed_str<E: de::Error>(self, v: &'de str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Borrowed(v)))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_string<E: de::Error>(self, v: String) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v)))
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_bool<E: de::Error>(self, v: bool) -> Result<Self::Value, E> {
        Ok(Some(Cow::Owned(v.to_string())))
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map
            .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
            .is_some()
        {}
        Ok(None)
    }
}

/// A string, or a number or bool shown as a string; anything else is absent.
pub fn opt_string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    Ok(opt_str(d)?.map(Cow::into_owned))
}

/// As [`opt_string`], borrowed from the input where it can be.
pub fn opt_str<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Cow<'de, str>>, D::Error> {
    d.deserialize_any(OptStr)
}

struct OptI64;

impl<'de> Visitor<'de> for OptI64 {
    type Value = Option<i64>;
    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("an integer, a numeric string or null")
    }
    fn visit_i64<E: de::Error>(self, v: i64) -> Result<Self::Value, E> {
        Ok(Some(v))
    }
    fn visit_u64<E: de::Error>(self, v: u64) -> Result<Self::Value, E> {
        Ok(Some(i64::try_from(v).unwrap_or(i64::MAX)))
    }
    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Self::Value, E> {
        Ok(v.is_finite().then_some(v as i64))
    }
    fn visit_str<E: de::Error>(self, v: &str) -> Result<Self::Value, E> {
        Ok(v.trim().parse().ok())
    }
    fn visit_bool<E: de::Error>(self, _: bool) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_none<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_unit<E: de::Error>(self) -> Result<Self::Value, E> {
        Ok(None)
    }
    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_any(self)
    }
    fn visit_seq<A: de::SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
        while seq.next_element::<de::IgnoredAny>()?.is_some() {}
        Ok(None)
    }
    fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        while map
            .next_entry::<de::IgnoredAny, de::IgnoredAny>()?
            .is_some()
        {}
        Ok(None)
    }
}

/// An integer, or a string holding one; anything else is absent.
pub fn opt_i64<'de, D: Deserializer<'de>>(d: D) -> Result<Option<i64>, D::Error> {
    d.deserialize_any(OptI64)
}

/// A count or a limit the wire gives as text (`maxclients`, `timeout`): a whole number from 0
/// to `i64::MAX` (the largest a gauge holds), surrounding blanks allowed. Anything else
/// (`-5`, `1e9`, `abc`, `18446744073709551615`) is `None`, for the caller to count as an
/// invalid value.
pub fn limit_value(text: &str) -> Option<u64> {
    text.trim()
        .parse::<u64>()
        .ok()
        .filter(|&v| i64::try_from(v).is_ok())
}

/// A flag whose spelling the service does not document, read permissively: `true`/`false`,
/// `1`/`0` and `yes`/`no`, as JSON bools, numbers or strings, in any case and with blanks
/// around. Anything else (`null`, absent, `"maybe"`, `2`) is unknown: the caller decides
/// what unknown means, and must not take it for `false` in silence.
pub fn opt_bool<'de, D: Deserializer<'de>>(d: D) -> Result<Option<bool>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Bool(b) => Some(b),
        serde_json::Value::Number(n) => match n.as_u64() {
            Some(1) => Some(true),
            Some(0) => Some(false),
            _ => None,
        },
        serde_json::Value::String(s) => flag_text(&s),
        _ => None,
    })
}

/// A flag written as text: `true`/`false`, `1`/`0`, `yes`/`no`, in any case.
fn flag_text(text: &str) -> Option<bool> {
    const TRUE: [&str; 3] = ["true", "1", "yes"];
    const FALSE: [&str; 3] = ["false", "0", "no"];
    let text = text.trim();
    if TRUE.iter().any(|t| text.eq_ignore_ascii_case(t)) {
        Some(true)
    } else if FALSE.iter().any(|f| text.eq_ignore_ascii_case(f)) {
        Some(false)
    } else {
        None
    }
}

/// A flag the service writes as a string (`"true"`, `"false"`), written the same way.
pub fn bool_as_string<S: serde::Serializer>(v: &Option<bool>, s: S) -> Result<S::Ok, S::Error> {
    match v {
        Some(b) => s.serialize_str(if *b { "true" } else { "false" }),
        None => s.serialize_none(),
    }
}

/// A list of anything; anything else is an empty list.
pub fn any_list<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<serde_json::Value>, D::Error> {
    Ok(match serde_json::Value::deserialize(d)? {
        serde_json::Value::Array(items) => items,
        _ => Vec::new(),
    })
}

/// `null` as the type's default (an empty list, say).
pub fn null_as_default<'de, D, T>(d: D) -> Result<T, D::Error>
where
    D: Deserializer<'de>,
    T: Default + serde::Deserialize<'de>,
{
    Ok(Option::<T>::deserialize(d)?.unwrap_or_default())
}

use serde::Deserialize;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limit_values_in_range_only() {
        assert_eq!(limit_value(" 10000 "), Some(10_000));
        assert_eq!(limit_value("0"), Some(0));
        assert_eq!(limit_value("9223372036854775807"), Some(i64::MAX as u64));
        for bad in [
            "18446744073709551615",
            "9223372036854775808",
            "-5",
            "1e9",
            "abc",
            "",
        ] {
            assert_eq!(limit_value(bad), None, "{bad}");
        }
    }

    #[derive(Deserialize)]
    struct T {
        #[serde(default, deserialize_with = "opt_string")]
        s: Option<String>,
        #[serde(default, deserialize_with = "opt_i64")]
        n: Option<i64>,
    }

    #[test]
    fn flags_are_read_permissively_and_unknown_stays_unknown() {
        #[derive(Deserialize)]
        struct F {
            #[serde(default, deserialize_with = "opt_bool")]
            f: Option<bool>,
        }
        let read = |json: &str| serde_json::from_str::<F>(json).unwrap().f;
        let yes = [
            "true",
            "\"true\"",
            "\"TRUE\"",
            "\"1\"",
            "1",
            "\"yes\"",
            "\" Yes \"",
        ];
        for value in yes {
            assert_eq!(read(&format!("{{\"f\":{value}}}")), Some(true), "{value}");
        }
        for value in ["false", "\"False\"", "\"0\"", "0", "\"NO\""] {
            assert_eq!(read(&format!("{{\"f\":{value}}}")), Some(false), "{value}");
        }
        let unknown = [
            "null",
            "\"\"",
            "\"maybe\"",
            "2",
            "-1",
            "0.5",
            "[true]",
            "{}",
        ];
        for value in unknown {
            assert_eq!(read(&format!("{{\"f\":{value}}}")), None, "{value}");
        }
        assert_eq!(read("{}"), None);
    }

    #[test]
    fn tolerates_types() {
        let cases = [
            (r#"{"s":"a","n":5}"#, Some("a"), Some(5)),
            (r#"{"s":7,"n":"12"}"#, Some("7"), Some(12)),
            (r#"{"s":null,"n":null}"#, None, None),
            (r#"{"s":[1],"n":{"x":1}}"#, None, None),
            (r#"{"n":"x"}"#, None, None),
            (r#"{}"#, None, None),
        ];
        for (json, s, n) in cases {
            let t: T = serde_json::from_str(json).unwrap();
            assert_eq!((t.s.as_deref(), t.n), (s, n), "{json}");
        }
    }
}
