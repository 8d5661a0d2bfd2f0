//! What one scan of one node aggregates to: the record the metrics are encoded from.

use super::histogram::Histogram;

/// Sessions with one client address, db and user.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCount {
    /// The address, db and user in one allocation, so that a scrape, which reads them together
    /// for tens of thousands of rows, reaches memory once a row. Laid out as the text formats
    /// write these labels, `client_addr="…",db="…",user="…"`, when no value needs escaping
    /// (nearly always): the text writers copy the block as it is. Otherwise the three values
    /// one after another.
    labels: Box<str>,
    /// Where the address and the db end in `labels`; [`TEXT_LAYOUT`] marks the text layout.
    addr_end: u32,
    db_end: u32,
    pub sessions: u64,
}

/// The bit of `ClientCount::db_end` set when `labels` is in the text layout.
const TEXT_LAYOUT: u32 = 1 << 31;

/// What goes before and between the values in the text layout.
const ADDR_OPEN: &str = "client_addr=\"";
const DB_OPEN: &str = "\",db=\"";
const USER_OPEN: &str = "\",user=\"";
const CLOSE: &str = "\"";

/// Whether a label value is written as it is in the text formats (no `\`, `"` or newline).
fn text_as_is(value: &str) -> bool {
    !value
        .bytes()
        .fold(false, |found, b| found | matches!(b, b'\\' | b'"' | b'\n'))
}

impl ClientCount {
    pub fn new(client_addr: &str, db: &str, user: &str, sessions: u64) -> Self {
        let values = client_addr.len() + db.len() + user.len();
        let text = [client_addr, db, user].into_iter().all(text_as_is)
            && values + ADDR_OPEN.len() + DB_OPEN.len() + USER_OPEN.len() + CLOSE.len()
                < TEXT_LAYOUT as usize;
        let mut labels;
        let (addr_end, db_end);
        if text {
            labels = String::with_capacity(
                values + ADDR_OPEN.len() + DB_OPEN.len() + USER_OPEN.len() + CLOSE.len(),
            );
            for (open, value) in [(ADDR_OPEN, client_addr), (DB_OPEN, db), (USER_OPEN, user)] {
                labels.push_str(open);
                labels.push_str(value);
            }
            labels.push_str(CLOSE);
            addr_end = (ADDR_OPEN.len() + client_addr.len()) as u32;
            db_end = (addr_end as usize + DB_OPEN.len() + db.len()) as u32 | TEXT_LAYOUT;
        } else {
            labels = String::with_capacity(values);
            labels.push_str(client_addr);
            labels.push_str(db);
            labels.push_str(user);
            addr_end = client_addr.len() as u32;
            db_end = (client_addr.len() + db.len()) as u32;
        }
        Self {
            labels: labels.into_boxed_str(),
            addr_end,
            db_end,
            sessions,
        }
    }

    fn text_layout(&self) -> bool {
        self.db_end & TEXT_LAYOUT != 0
    }

    /// The address, db and user in `labels`.
    fn ranges(&self) -> [std::ops::Range<usize>; 3] {
        let (addr_end, db_end) = (
            self.addr_end as usize,
            (self.db_end & !TEXT_LAYOUT) as usize,
        );
        if self.text_layout() {
            [
                ADDR_OPEN.len()..addr_end,
                addr_end + DB_OPEN.len()..db_end,
                db_end + USER_OPEN.len()..self.labels.len() - CLOSE.len(),
            ]
        } else {
            [0..addr_end, addr_end..db_end, db_end..self.labels.len()]
        }
    }

    pub fn client_addr(&self) -> &str {
        self.values()[0]
    }

    pub fn db(&self) -> &str {
        self.values()[1]
    }

    pub fn user(&self) -> &str {
        self.values()[2]
    }

    /// The address, db and user.
    pub fn values(&self) -> [&str; 3] {
        let [addr, db, user] = self.ranges();
        [&self.labels[addr], &self.labels[db], &self.labels[user]]
    }

    /// The labels as the text formats write them, `client_addr="…",db="…",user="…"`, when
    /// no value needs escaping.
    pub fn text_labels(&self) -> Option<&str> {
        self.text_layout().then_some(&*self.labels)
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rows_keep_their_labels_as_text_unless_a_value_needs_escaping() {
        let row = ClientCount::new("10.0.0.1", "0", "app", 3);
        assert_eq!(
            row.text_labels(),
            Some("client_addr=\"10.0.0.1\",db=\"0\",user=\"app\"")
        );
        assert_eq!(
            (row.client_addr(), row.db(), row.user()),
            ("10.0.0.1", "0", "app")
        );
        let empty = ClientCount::new("", "", "", 1);
        assert_eq!(
            (empty.client_addr(), empty.db(), empty.user()),
            ("", "", "")
        );
        for user in ["a\"b", "a\\b", "a\nb"] {
            let row = ClientCount::new("10.0.0.1", "12", user, 1);
            assert_eq!(row.text_labels(), None, "{user:?}");
            assert_eq!(
                (row.client_addr(), row.db(), row.user()),
                ("10.0.0.1", "12", user)
            );
        }
        assert!(ClientCount::new("a", "0", "u", 1) < ClientCount::new("a\"", "0", "u", 1));
    }
}
