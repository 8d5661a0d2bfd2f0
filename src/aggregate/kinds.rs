//! What a session is, from its flags.

/// What a session is, from its flags: a closed set, a metric label. The first five are
/// exclusive (each session is exactly one of them, so they sum to the node's sessions); the
/// last four are states that overlap them (a blocked normal session counts under `normal`
/// and under `blocked`).
#[derive(
    Clone,
    Copy,
    Debug,
    PartialEq,
    Eq,
    Hash,
    PartialOrd,
    Ord,
    strum::IntoStaticStr,
    strum::VariantArray,
)]
#[strum(serialize_all = "snake_case")]
pub enum SessionKind {
    /// None of the others: an ordinary client.
    Normal,
    /// Subscribed to channels or patterns (flag `P`, or `sub`/`psub` above 0).
    #[strum(serialize = "pubsub")]
    PubSub,
    /// A replica connected to this node (flag `S`).
    Replica,
    /// This node's master, on a replica (flag `M`).
    Master,
    /// In `MONITOR` (flag `O`).
    Monitor,
    /// Blocked in a command (`BLPOP`, `XREAD BLOCK`, `WAIT`, ...; flag `b`).
    Blocked,
    /// Inside `MULTI` (flag `x`, or `multi` at 0 or more).
    Transaction,
    /// With client-side caching on (flag `t`).
    Tracking,
    /// Connected through a unix socket (flag `U`).
    UnixSocket,
}

impl SessionKind {
    /// Every one, in the order they are declared (and exposed).
    pub const ALL: &'static [SessionKind] = <Self as strum::VariantArray>::VARIANTS;

    pub fn as_str(self) -> &'static str {
        self.into()
    }

    /// Whether each session is exactly one of the exclusive kinds.
    pub fn is_exclusive(self) -> bool {
        (self as usize) < 5
    }

    /// The exclusive kind of a session, and the states it is in, by their flags.
    #[inline]
    pub fn of(
        flags: &str,
        sub: Option<i64>,
        psub: Option<i64>,
        multi: Option<i64>,
    ) -> (Self, [bool; 4]) {
        // The flags in one pass, as a set of letters.
        let letters = flags.bytes().fold(0u64, |set, b| set | letter_bit(b));
        let has = |f: u8| letters & letter_bit(f) != 0;
        let exclusive = if has(b'S') {
            SessionKind::Replica
        } else if has(b'M') {
            SessionKind::Master
        } else if has(b'O') {
            SessionKind::Monitor
        } else if has(b'P') || sub.unwrap_or(0) > 0 || psub.unwrap_or(0) > 0 {
            SessionKind::PubSub
        } else {
            SessionKind::Normal
        };
        let states = [
            has(b'b'),
            has(b'x') || multi.is_some_and(|m| m >= 0),
            has(b't'),
            has(b'U'),
        ];
        (exclusive, states)
    }
}

/// A bit for each ASCII letter (flags are letters); nothing for other bytes.
#[inline]
fn letter_bit(b: u8) -> u64 {
    match b {
        b'A'..=b'Z' => 1 << (b - b'A'),
        b'a'..=b'z' => 1 << (26 + b - b'a'),
        _ => 0,
    }
}
