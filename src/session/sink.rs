//! Where the sessions of a stored list go as they are read: the record's consumers (the
//! aggregation, the operator's listing) implement [`PageSink`], the readers feed it.

use super::{ClientInfo, ClientRef};

/// Receives the sessions of one stored session list as they are read, so that neither a list
/// nor a page is ever held in memory.
pub trait PageSink {
    /// The list changed while it was paged: forget what was received and expect page one again.
    fn restart(&mut self);
    /// The next session of the list.
    fn accept(&mut self, client: &ClientRef<'_>);
    /// A page was read whole and passed the checks of a list.
    fn end_page(&mut self) {}
}

impl PageSink for Vec<ClientInfo> {
    fn restart(&mut self) {
        self.clear();
    }
    fn accept(&mut self, client: &ClientRef<'_>) {
        // Borrowed text is cloned by reference; only `into_owned` copies it.
        self.push(client.clone().into_owned());
    }
}
