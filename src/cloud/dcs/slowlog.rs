//! Reading an instance's slow log: every page of a window, within a byte budget for the whole
//! read and a number of pages that a service announcing more than it holds cannot stretch.

use std::fmt;
use std::time::SystemTime;

use serde::de::{self, DeserializeSeed, Deserializer, MapAccess, SeqAccess, Visitor};
use tokio::time::Instant;

use super::wire::{SlowlogItem, SlowlogPage};
use crate::cloud::client::{ApiClient, Call};
use crate::cloud::error::{ApiError, ErrorKind, Operation};
use crate::reason::Reason;
use crate::session::lenient;

/// The most slow-log pages one read takes (100,000 entries): a log that keeps growing while
/// it is paged, or a window of more entries than that, cannot keep the reader. The oldest are
/// read first; entries past them are not counted.
pub const MAX_SLOWLOG_PAGES: usize = 100;

/// Entries asked for a page: the most the API serves.
const PAGE_LIMIT: u32 = 1000;

/// What one read keeps at most by default, all its pages together: a window of 10,000
/// entries with 2 KiB of command text each (the log truncates long arguments; real entries
/// hold far less) fits well within it.
pub const DEFAULT_SLOWLOG_READ_BYTES: u64 = 32 << 20;

/// The entries of one read of a slow log's window, oldest first.
#[derive(Debug, Default)]
pub struct SlowlogRead {
    pub items: Vec<SlowlogItem>,
    /// The entries the service announced for the window (`total_num`, else `count`), when
    /// more than were read: the read stopped at [`MAX_SLOWLOG_PAGES`], or at a page that
    /// came short, empty or repeated the one before.
    pub missing: Option<u64>,
}

/// Why a read of a slow log failed.
#[derive(Debug, thiserror::Error)]
pub enum SlowlogError {
    #[error(transparent)]
    Api(#[from] ApiError),
    /// The entries passed the read's byte budget: what was read is dropped.
    #[error(
        "list_slowlog: the window's entries take more than {budget} bytes (max_slow_log_read_bytes): the read is dropped"
    )]
    OverBudget { budget: u64 },
}

impl SlowlogError {
    pub fn reason(&self) -> Reason {
        match self {
            SlowlogError::Api(e) => e.reason(),
            SlowlogError::OverBudget { .. } => Reason::ReplyTooLarge,
        }
    }
}

impl ApiClient {
    /// One page of an instance's slow log between two times (milliseconds since the epoch),
    /// oldest first.
    pub async fn list_slowlog(
        &self,
        instance_id: &str,
        window: (u128, u128),
        offset: usize,
        limit: u32,
        deadline: Instant,
    ) -> Result<SlowlogPage, ApiError> {
        let call = slowlog_call(self.project_id(), instance_id, window, offset, limit);
        self.call_json(&call, deadline).await
    }

    /// The entries of an instance's slow log between two times, oldest first: every page
    /// while the pages are full, each adds entries and the count the first announced is not
    /// reached, at most [`MAX_SLOWLOG_PAGES`]. Past `budget` bytes (the entries' texts and
    /// records) the read fails and what it read is dropped.
    pub async fn read_slowlog(
        &self,
        instance_id: &str,
        (start, end): (SystemTime, SystemTime),
        budget: u64,
        deadline: Instant,
    ) -> Result<SlowlogRead, SlowlogError> {
        let ms = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap_or_default()
                .as_millis()
        };
        let window = (ms(start), ms(end));
        let mut left = budget;
        let mut items: Vec<SlowlogItem> = Vec::new();
        // The first page's count: later pages cannot raise it.
        let mut announced: Option<u64> = None;
        let mut last_page: Option<(Key, Key)> = None;
        for page in 0..MAX_SLOWLOG_PAGES {
            let call = slowlog_call(
                self.project_id(),
                instance_id,
                window,
                items.len(),
                PAGE_LIMIT,
            );
            let answer = self.call(&call, deadline).await?;
            let before = items.len();
            let total = decode_page(&answer.body, &mut items, &mut left)
                .map_err(|e| e.into_error(budget))?;
            drop(answer);
            if page == 0 {
                announced = total.and_then(|t| u64::try_from(t).ok());
            }
            let received = items.len() - before;
            let bounds =
                (received > 0).then(|| (key(&items[before]), key(&items[items.len() - 1])));
            if bounds.is_some() && bounds == last_page {
                // The same page again: the service ignores the offset.
                items.truncate(before);
                break;
            }
            last_page = bounds;
            let read = u64::try_from(items.len()).unwrap_or(u64::MAX);
            let complete = announced.is_some_and(|a| read >= a);
            if received < PAGE_LIMIT as usize || complete {
                break;
            }
        }
        let read = u64::try_from(items.len()).unwrap_or(u64::MAX);
        let missing = match announced {
            Some(a) if a > read => Some(a),
            // Without a count, full pages up to the last allowed may have left some.
            None if items.len() >= MAX_SLOWLOG_PAGES * PAGE_LIMIT as usize => Some(read),
            _ => None,
        };
        Ok(SlowlogRead { items, missing })
    }
}

fn slowlog_call(
    project_id: &str,
    instance_id: &str,
    (start_ms, end_ms): (u128, u128),
    offset: usize,
    limit: u32,
) -> Call {
    Call::of(Operation::ListSlowlog, &[project_id, instance_id])
        .query("start_time", start_ms)
        .query("end_time", end_ms)
        .query("offset", offset)
        .query("limit", limit.clamp(1, 1000))
        .query("sort_key", "start_time")
        .query("sort_dir", "asc")
}

/// What tells entries apart: the log's id on its shard and role, and the time.
type Key = (Option<i64>, Option<String>, Option<String>, Option<String>);

fn key(item: &SlowlogItem) -> Key {
    (
        item.id,
        item.start_time.clone(),
        item.shard_name.clone(),
        item.node_role.clone(),
    )
}

/// The bytes an entry takes while it is kept: its record and its texts.
fn footprint(item: &SlowlogItem) -> u64 {
    let texts = [
        &item.command,
        &item.start_time,
        &item.duration,
        &item.shard_name,
        &item.username,
        &item.node_role,
        &item.client_ip,
    ]
    .iter()
    .map(|t| t.as_ref().map_or(0, String::len))
    .sum::<usize>();
    u64::try_from(std::mem::size_of::<SlowlogItem>() + texts).unwrap_or(u64::MAX)
}

/// Why a page could not be taken.
#[derive(Debug)]
enum PageError {
    OverBudget,
    Decode(serde_json::Error),
}

impl PageError {
    fn into_error(self, budget: u64) -> SlowlogError {
        match self {
            PageError::OverBudget => SlowlogError::OverBudget { budget },
            PageError::Decode(e) => SlowlogError::Api(ApiError::new(
                Operation::ListSlowlog,
                ErrorKind::Decode,
                format!("undecodable answer: {e}"),
            )),
        }
    }
}

/// Decodes a page as [`SlowlogPage`] reads it, its entries appended to `items` one by one,
/// each charged to `left`: a page cannot hold more than the budget, even for a moment. The
/// page's count (`total_num`, else `count`).
fn decode_page(
    body: &[u8],
    items: &mut Vec<SlowlogItem>,
    left: &mut u64,
) -> Result<Option<i64>, PageError> {
    let mut over = false;
    let mut de = serde_json::Deserializer::from_slice(body);
    let page = PageSeed {
        items,
        left,
        over: &mut over,
    };
    let decoded = page
        .deserialize(&mut de)
        .and_then(|total| de.end().map(|()| total));
    match decoded {
        _ if over => Err(PageError::OverBudget),
        Ok(total) => Ok(total),
        Err(e) => Err(PageError::Decode(e)),
    }
}

struct PageSeed<'a> {
    items: &'a mut Vec<SlowlogItem>,
    left: &'a mut u64,
    over: &'a mut bool,
}

/// Said by a seed that stops at the budget; the caller looks at `over`, not at this text.
const OVER_BUDGET: &str = "over the read's budget";

impl<'de> DeserializeSeed<'de> for PageSeed<'_> {
    type Value = Option<i64>;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Self::Value, D::Error> {
        d.deserialize_map(self)
    }
}

impl<'de> Visitor<'de> for PageSeed<'_> {
    type Value = Option<i64>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a slow-log page")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let (mut total_num, mut count, mut seen_items) = (None, None, false);
        while let Some(field) = map.next_key::<std::borrow::Cow<'de, str>>()? {
            match field.as_ref() {
                "total_num" => total_num = map.next_value::<Lenient>()?.0,
                "count" => count = map.next_value::<Lenient>()?.0,
                "slowlogs" => {
                    // serde refuses a repeated field.
                    if std::mem::replace(&mut seen_items, true) {
                        return Err(de::Error::duplicate_field("slowlogs"));
                    }
                    map.next_value_seed(ItemsSeed {
                        items: self.items,
                        left: self.left,
                        over: self.over,
                    })?;
                }
                _ => {
                    map.next_value::<de::IgnoredAny>()?;
                }
            }
        }
        Ok(total_num.or(count))
    }
}

/// A count as [`lenient::opt_i64`] reads it.
struct Lenient(Option<i64>);

impl<'de> serde::Deserialize<'de> for Lenient {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        lenient::opt_i64(d).map(Lenient)
    }
}

struct ItemsSeed<'a> {
    items: &'a mut Vec<SlowlogItem>,
    left: &'a mut u64,
    over: &'a mut bool,
}

impl<'de> DeserializeSeed<'de> for ItemsSeed<'_> {
    type Value = ();

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_option(self)
    }
}

impl<'de> Visitor<'de> for ItemsSeed<'_> {
    type Value = ();

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a list of slow-log entries or null")
    }

    fn visit_none<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_unit<E: de::Error>(self) -> Result<(), E> {
        Ok(())
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<(), D::Error> {
        d.deserialize_seq(self)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<(), A::Error> {
        while let Some(item) = seq.next_element::<SlowlogItem>()? {
            let cost = footprint(&item);
            if cost > *self.left {
                *self.over = true;
                return Err(de::Error::custom(OVER_BUDGET));
            }
            *self.left -= cost;
            self.items.push(item);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn page(n: usize, command: &str) -> String {
        let items: Vec<String> = (0..n)
            .map(|i| {
                format!(
                    r#"{{"id":{i},"command":"{command}","start_time":"2026-12-06T10:00:00Z","duration":"12"}}"#
                )
            })
            .collect();
        format!(
            r#"{{"total_num":"{n}","slowlogs":[{}],"extra":{{"a":[1]}}}}"#,
            items.join(",")
        )
    }

    #[test]
    fn a_page_decodes_as_serde_reads_it() {
        let body = page(3, "KEYS *");
        let mut items = Vec::new();
        let mut left = u64::MAX;
        assert_eq!(
            decode_page(body.as_bytes(), &mut items, &mut left).unwrap(),
            Some(3)
        );
        let serde: SlowlogPage = serde_json::from_str(&body).unwrap();
        assert_eq!(items, serde.slowlogs);
        for (body, total) in [
            (r#"{"slowlogs":null,"count":2}"#, Some(2)),
            (r#"{"total_num":null,"count":"7"}"#, Some(7)),
            (r#"{}"#, None),
        ] {
            let mut items = Vec::new();
            assert_eq!(
                decode_page(body.as_bytes(), &mut items, &mut left).unwrap(),
                total,
                "{body}"
            );
            assert!(items.is_empty());
        }
        for bad in [
            r#"[]"#,
            r#"{"slowlogs":"x"}"#,
            r#"{"slowlogs":[],"slowlogs":[]}"#,
            r#"{"slowlogs":[]} x"#,
        ] {
            let mut items = Vec::new();
            assert!(
                matches!(
                    decode_page(bad.as_bytes(), &mut items, &mut left),
                    Err(PageError::Decode(_))
                ),
                "{bad}"
            );
        }
    }

    #[test]
    fn a_page_stops_at_the_budget_however_small_its_entries() {
        // 10,000 empty entries: a few bytes each on the wire, a whole record each in memory.
        let body = format!(r#"{{"slowlogs":[{}]}}"#, vec!["{}"; 10_000].join(","));
        let mut items = Vec::new();
        let record = std::mem::size_of::<SlowlogItem>() as u64;
        let mut left = 100 * record;
        assert!(matches!(
            decode_page(body.as_bytes(), &mut items, &mut left),
            Err(PageError::OverBudget)
        ));
        assert_eq!(items.len(), 100);
        assert_eq!(footprint(&SlowlogItem::default()), record);
    }
}
