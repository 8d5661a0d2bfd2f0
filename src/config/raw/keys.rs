//! Every key the configuration file accepts, read from the file's own types: the derived
//! deserializers are walked one path at a time by a deserializer that answers nothing but
//! records the fields each table declares. The reference documentation and the example file are
//! checked against this list, so neither can name a key the exporter refuses or miss one it
//! takes.

use std::fmt;

use serde::Deserialize;
use serde::de::{self, DeserializeSeed, IntoDeserializer, MapAccess, SeqAccess, Visitor};

use super::RawConfig;

/// Every key, as its dotted path from the top of the file: `exporter.scan_interval`,
/// `cloud.discovery.name_pattern`, `cloud.assume_agency.domain_name`. Tables (sections and
/// inline tables) are not listed themselves, only the keys inside them; sorted.
pub fn accepted_keys() -> Vec<String> {
    let mut keys = Vec::new();
    walk(&mut Vec::new(), &mut keys);
    keys.sort();
    keys
}

/// Lists the keys below `path`, depth first.
fn walk(path: &mut Vec<&'static str>, keys: &mut Vec<String>) {
    match table_fields(path) {
        Some(fields) => {
            for field in fields {
                path.push(field);
                walk(path, keys);
                path.pop();
            }
        }
        None => keys.push(path.join(".")),
    }
}

/// The fields of the table at `path`, or `None` when the value there is no table (a key).
fn table_fields(path: &[&'static str]) -> Option<&'static [&'static str]> {
    match RawConfig::deserialize(Probe { path, depth: 0 }) {
        Err(Found::Table(fields)) => Some(fields),
        Err(Found::Key | Found::Other) | Ok(_) => None,
    }
}

/// How a walk down one path ended: the table's fields, or a value that is no table.
#[derive(Debug)]
enum Found {
    Table(&'static [&'static str]),
    Key,
    Other,
}

impl fmt::Display for Found {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("configuration key probe")
    }
}

impl std::error::Error for Found {}

impl de::Error for Found {
    fn custom<T: fmt::Display>(_: T) -> Self {
        Found::Other
    }
}

/// Answers a deserializer's questions along `path`: each table holds only the next field of
/// the path, each array one element, each option a value.
struct Probe<'p> {
    path: &'p [&'static str],
    depth: usize,
}

impl<'de> de::Deserializer<'de> for Probe<'_> {
    type Error = Found;

    fn deserialize_any<V: Visitor<'de>>(self, _: V) -> Result<V::Value, Found> {
        Err(Found::Key)
    }

    fn deserialize_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        fields: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, Found> {
        match self.path.get(self.depth) {
            None => Err(Found::Table(fields)),
            Some(field) => visitor.visit_map(OneField {
                field: Some(field),
                value: Some(Probe {
                    path: self.path,
                    depth: self.depth + 1,
                }),
            }),
        }
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Found> {
        visitor.visit_some(self)
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, Found> {
        visitor.visit_newtype_struct(self)
    }

    fn deserialize_seq<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, Found> {
        visitor.visit_seq(OneElement(Some(self)))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string bytes byte_buf
        unit unit_struct tuple tuple_struct map enum identifier ignored_any
    }
}

/// A table holding one field.
struct OneField<'p> {
    field: Option<&'static str>,
    value: Option<Probe<'p>>,
}

impl<'de> MapAccess<'de> for OneField<'_> {
    type Error = Found;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, Found> {
        self.field
            .take()
            .map(|field| seed.deserialize(field.into_deserializer()))
            .transpose()
    }

    fn next_value_seed<S: DeserializeSeed<'de>>(&mut self, seed: S) -> Result<S::Value, Found> {
        seed.deserialize(self.value.take().ok_or(Found::Other)?)
    }
}

/// An array holding one element.
struct OneElement<'p>(Option<Probe<'p>>);

impl<'de> SeqAccess<'de> for OneElement<'_> {
    type Error = Found;

    fn next_element_seed<S: DeserializeSeed<'de>>(
        &mut self,
        seed: S,
    ) -> Result<Option<S::Value>, Found> {
        self.0
            .take()
            .map(|probe| seed.deserialize(probe))
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::accepted_keys;

    #[test]
    fn lists_the_keys_of_every_table_and_nothing_else() {
        let keys = accepted_keys();
        for key in [
            "exporter.scan_interval",
            "cloud.name",
            "cloud.key_analysis_interval",
            "cloud.discovery.name_pattern",
            "cloud.dcs_instance.nodes",
            "cloud.dbss_resource.id",
            "cloud.assume_agency.agency_name",
            "redis.url",
            "remediation.allow.instance_id",
        ] {
            assert!(
                keys.contains(&key.to_string()),
                "{key} missing from {keys:?}"
            );
        }
        for table in ["exporter", "cloud", "cloud.discovery", "remediation.allow"] {
            assert!(
                !keys.contains(&table.to_string()),
                "{table} is a table, not a key"
            );
        }
        assert!(keys.len() > 60, "{} keys", keys.len());
    }
}
