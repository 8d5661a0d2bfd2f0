//! A node's stored session list: what the last scan found, kept until the next one, read a
//! page at a time (rendered to JSON once, so that pages of a large list cost little).

use crate::session::ClientInfo;
use crate::sim::population::{ClientProfile, Session, render};

/// A node's stored session list: the sessions as a scan found them.
pub(super) struct StoredList {
    pub(super) time_ms: i64,
    sessions: StoredSessions,
    /// The list as JSON, rendered the first time a plain page is read.
    pub(super) rendered: Option<RenderedList>,
}

/// Every session of a list as JSON, comma-separated, so that any page is one slice.
pub(super) struct RenderedList {
    json: String,
    /// Where each session's JSON starts; one more entry for the end.
    starts: Vec<usize>,
}

impl RenderedList {
    pub(super) fn new(sessions: impl Iterator<Item = ClientInfo>) -> Self {
        let mut json = String::new();
        let mut starts = Vec::new();
        for session in sessions {
            if !starts.is_empty() {
                json.push(',');
            }
            starts.push(json.len());
            // A ClientInfo always serializes.
            json.push_str(&serde_json::to_string(&session).unwrap_or_else(|_| "{}".into()));
        }
        starts.push(json.len());
        Self { json, starts }
    }

    /// Sessions `offset..offset + limit`, comma-separated.
    pub(super) fn page(&self, offset: usize, limit: usize) -> &str {
        let sessions = self.starts.len() - 1;
        let (first, end) = (
            offset.min(sessions),
            offset.saturating_add(limit).min(sessions),
        );
        if first == end {
            return "";
        }
        self.json[self.starts[first]..self.starts[end]].trim_end_matches(',')
    }
}

pub(super) enum StoredSessions {
    /// From the node's simulated population, rendered when read.
    Generated(Vec<Session>),
    /// From a real Redis server's `CLIENT LIST`.
    Real(Vec<ClientInfo>),
}

impl StoredList {
    pub(super) fn new(time_ms: i64, sessions: StoredSessions) -> Self {
        Self {
            time_ms,
            sessions,
            rendered: None,
        }
    }

    pub(super) fn len(&self) -> usize {
        match &self.sessions {
            StoredSessions::Generated(s) => s.len(),
            StoredSessions::Real(c) => c.len(),
        }
    }

    /// Sessions `offset..offset + limit`, as the list shows them.
    pub(super) fn page(
        &self,
        profile: &ClientProfile,
        offset: usize,
        limit: usize,
    ) -> Vec<ClientInfo> {
        match &self.sessions {
            StoredSessions::Generated(s) => s
                .iter()
                .skip(offset)
                .take(limit)
                .map(|s| render(profile, s, self.time_ms))
                .collect(),
            StoredSessions::Real(c) => c.iter().skip(offset).take(limit).cloned().collect(),
        }
    }

    pub(super) fn all(&self, profile: &ClientProfile) -> Vec<ClientInfo> {
        self.page(profile, 0, usize::MAX)
    }
}
