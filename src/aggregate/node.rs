//! What one scan of one node aggregates to: the record the metrics are encoded from.

use super::histogram::Histogram;

/// Sessions with one client address, db and user.
#[derive(Clone, PartialEq, Eq)]
pub struct ClientCount {
    /// The address, db and user one after another: one allocation, so that a scrape, which
    /// reads them together for tens of thousands of rows, reaches memory once a row.
    labels: Box<str>,
    addr_end: u32,
    db_end: u32,
    pub sessions: u64,
}

impl ClientCount {
    pub fn new(client_addr: &str, db: &str, user: &str, sessions: u64) -> Self {
        let mut labels = String::with_capacity(client_addr.len() + db.len() + user.len());
        labels.push_str(client_addr);
        labels.push_str(db);
        labels.push_str(user);
        Self {
            labels: labels.into_boxed_str(),
            addr_end: client_addr.len() as u32,
            db_end: (client_addr.len() + db.len()) as u32,
            sessions,
        }
    }

    pub fn client_addr(&self) -> &str {
        &self.labels[..self.addr_end as usize]
    }

    pub fn db(&self) -> &str {
        &self.labels[self.addr_end as usize..self.db_end as usize]
    }

    pub fn user(&self) -> &str {
        &self.labels[self.db_end as usize..]
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
