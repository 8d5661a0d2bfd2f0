//! What one scan of one node aggregates to: the record the metrics are encoded from.

use super::histogram::Histogram;
use super::label_text::{LabelBlock, encode_block};

/// The labels of a [`ClientCount`] row after its node's, in the order of the exposition.
pub const CLIENT_LABELS: [&str; 3] = ["client_addr", "db", "user"];

/// Sessions with one client address, db and user.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCount {
    /// The labels as every scrape writes them ([`CLIENT_LABELS`]), text then protobuf, in one
    /// allocation: a scrape reads tens of thousands of rows, each from one place, and copies
    /// them instead of escaping and framing each value again. The values are read back from the
    /// protobuf form, where they stand unescaped, so they are not kept twice.
    encoded: Box<[u8]>,
    /// Offsets in `encoded`, which holds at most three capped values, escaped, and their framing:
    /// well within 16 bits.
    text_end: u16,
    /// Where the address, db and user lie in `encoded`.
    values: [(u16, u16); 3],
    /// The values as given, when one is longer than the exposition's cap (and `encoded` holds
    /// it cut).
    uncut: Option<Box<[Box<str>; 3]>>,
    pub sessions: u64,
}

impl ClientCount {
    pub fn new(client_addr: &str, db: &str, user: &str, sessions: u64) -> Self {
        let given = [client_addr, db, user];
        let mut encoded = Vec::with_capacity(3 * (client_addr.len() + db.len() + user.len()) + 48);
        let [addr_name, db_name, user_name] = CLIENT_LABELS;
        let (text_end, values) = encode_block(
            &mut encoded,
            &[(addr_name, client_addr), (db_name, db), (user_name, user)],
        );
        let cut = values.iter().zip(given).any(|(v, g)| v.len() != g.len());
        Self {
            encoded: encoded.into_boxed_slice(),
            text_end: text_end as u16,
            values: values.map(|v| (v.start as u16, v.end as u16)),
            uncut: cut.then(|| Box::new(given.map(Box::from))),
            sessions,
        }
    }

    /// The labels encoded for the exposition.
    pub fn encoded(&self) -> LabelBlock<'_> {
        let (text, protobuf) = self.encoded.split_at(self.text_end as usize);
        LabelBlock { text, protobuf }
    }

    fn value(&self, i: usize) -> &str {
        if let Some(uncut) = &self.uncut {
            return &uncut[i];
        }
        let (start, end) = self.values[i];
        // Written from a `&str` and never changed: always UTF-8.
        std::str::from_utf8(&self.encoded[start as usize..end as usize]).unwrap_or_default()
    }

    pub fn client_addr(&self) -> &str {
        self.value(0)
    }

    pub fn db(&self) -> &str {
        self.value(1)
    }

    pub fn user(&self) -> &str {
        self.value(2)
    }

    fn key(&self) -> (&str, &str, &str, u64) {
        (self.client_addr(), self.db(), self.user(), self.sessions)
    }
}

/// By address, db, user, then sessions.
impl Ord for ClientCount {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        self.key().cmp(&other.key())
    }
}

impl PartialOrd for ClientCount {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl std::fmt::Debug for ClientCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ClientCount")
            .field("client_addr", &self.client_addr())
            .field("db", &self.db())
            .field("user", &self.user())
            .field("sessions", &self.sessions)
            .finish()
    }
}

/// One of a node's worst sessions.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct TopClient {
    /// The session's id: the last tie-break, as addresses may repeat (unix sockets).
    pub id: String,
    /// `ip:port` of the configured address field.
    pub client_addr: String,
    pub client_name: String,
    pub user: String,
    pub db: String,
    pub cmd: String,
    pub value: i64,
}

/// Everything the metrics need from one scan of one node.
#[derive(Clone, Debug, PartialEq)]
pub struct NodeAggregate {
    pub sessions: u64,
    /// Sorted by address, db, user; `other` holds the addresses past `max_client_addrs`.
    pub clients: Vec<ClientCount>,
    pub idle: Histogram,
    /// Idle time of the sessions that wait by design (blocked in a command, or subscribed):
    /// their idleness is no leak.
    pub idle_waiting: Histogram,
    pub age: Histogram,
    pub output_memory: Histogram,
    pub query_buffer: Histogram,
    pub output_memory_max: u64,
    pub channel_subscriptions: u64,
    pub pattern_subscriptions: u64,
    /// Most idle first.
    pub top_idle: Vec<TopClient>,
    /// Largest output buffer first; only sessions with one.
    pub top_output_memory: Vec<TopClient>,
    /// Sessions by client name, most first: the `max_client_names` names, then
    /// [`OTHER_NAME`]; sessions without a name under [`UNNAMED`].
    pub by_name: Vec<(String, u64)>,
    /// Sessions by last command, most first: the `max_client_commands` commands, then `other`.
    pub by_command: Vec<(String, u64)>,
    /// Sessions of each kind, in [`SessionKind::ALL`] order.
    pub by_kind: [u64; 9],
    /// Sessions idle past the threshold and not waiting by design, by client address (folded
    /// as in `clients`), addresses that have some only, sorted by address.
    pub idle_clients: Vec<(String, u64)>,
}
