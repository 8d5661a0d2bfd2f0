//! A node's stored session list: one page, or every page handed to a sink as it is read.

use std::borrow::Cow;
use std::time::SystemTime;

use tokio::time::Instant;

use super::wire::{ClientPage, ListClientsQuery, parse_list_time};
use super::{MAX_LIST_SESSIONS, MAX_PAGE_SIZE};
use crate::cloud::client::{ApiClient, Call, decode};
use crate::cloud::error::{ApiError, ErrorKind, Operation};
use crate::cloud::page_reader::{self, ClientPageRef, PageHead};
use crate::session::{ClientRef, PageSink};

/// Reads a page of sessions in place from an answer's body, handing each to `each` as soon as
/// it is read: their text is never copied, and a page is never held as records. The one-pass
/// reader takes what it can; where it gives up, the serde decoder reads the page and hands
/// over the sessions the reader had not.
pub fn decode_client_page_with<'a>(
    body: &'a [u8],
    each: &mut dyn FnMut(&ClientRef<'a>),
) -> Result<PageHead<'a>, ApiError> {
    match page_reader::read_page_with(body, each) {
        Ok(head) => Ok(head),
        Err(handed_over) => {
            let page: ClientPageRef<'a> = decode(Operation::ListClients, body)?;
            let head = PageHead {
                time: page.time,
                count: page.count,
                sessions: page.clients.len(),
                first_id: page.clients.first().and_then(|c| c.id.clone()),
            };
            page.clients.iter().skip(handed_over).for_each(each);
            Ok(head)
        }
    }
}

/// How a whole stored list is read.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct PagingOptions {
    pub page_size: u32,
    /// Starts over allowed when the list's `time` changes mid-way.
    pub max_restarts: u32,
}

impl Default for PagingOptions {
    fn default() -> Self {
        Self {
            page_size: MAX_PAGE_SIZE,
            max_restarts: 3,
        }
    }
}

/// What reading a whole stored list found.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct StoredList {
    /// The list's `time`, shared by every page.
    pub time: Option<String>,
    /// Sessions delivered (equal to the announced `count`).
    pub sessions: u64,
    pub pages: u32,
    pub restarts: u32,
}

/// How a read of a stored list that may be the one read before ended.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum ListRead {
    /// A list other than the one known: read whole, every session handed to the sink.
    Read(StoredList),
    /// Page one carried the known list's `time`: nothing was handed to the sink, and no other
    /// page was read.
    Unchanged,
}

impl ApiClient {
    /// One page of a node's stored session list.
    pub async fn list_clients(
        &self,
        instance_id: &str,
        query: &ListClientsQuery,
        deadline: Instant,
    ) -> Result<ClientPage, ApiError> {
        self.call_json(&self.list_clients_call(instance_id, query), deadline)
            .await
    }

    fn list_clients_call(&self, instance_id: &str, query: &ListClientsQuery) -> Call {
        let mut call = Call::of(Operation::ListClients, &[self.project_id(), instance_id])
            .query("node_id", &query.node_id);
        if let Some(offset) = query.offset {
            call = call.query("offset", offset);
        }
        if let Some(limit) = query.limit {
            call = call.query("limit", limit);
        }
        if let Some(addr) = &query.addr {
            call = call.query("addr", addr);
        }
        if let Some(sort) = &query.sort {
            call = call.query("sort", sort);
        }
        if let Some(order) = query.order {
            call = call.query("order", order.as_str());
        }
        call
    }

    /// Every page of one stored list, handed to `sink` page by page. All pages must carry the
    /// same `time`; when it changes the list is read again from the start, a bounded number of
    /// times.
    pub async fn read_stored_list(
        &self,
        instance_id: &str,
        node_id: &str,
        paging: &PagingOptions,
        sink: &mut impl PageSink,
        deadline: Instant,
    ) -> Result<StoredList, ApiError> {
        self.read_stored_list_with(
            instance_id,
            &ListClientsQuery::of_node(node_id),
            paging,
            sink,
            deadline,
        )
        .await
    }

    /// As [`ApiClient::read_stored_list`], unless page one carries `known_time`: the list read
    /// before, whose sessions are not read nor aggregated again.
    pub async fn read_stored_list_if_changed(
        &self,
        instance_id: &str,
        node_id: &str,
        paging: &PagingOptions,
        known_time: Option<SystemTime>,
        sink: &mut impl PageSink,
        deadline: Instant,
    ) -> Result<ListRead, ApiError> {
        let query = ListClientsQuery::of_node(node_id);
        self.read_list(instance_id, &query, paging, known_time, sink, deadline)
            .await
    }

    /// As [`ApiClient::read_stored_list`], with the filter and order of `base` (its offset and
    /// limit are set page by page).
    pub async fn read_stored_list_with(
        &self,
        instance_id: &str,
        base: &ListClientsQuery,
        paging: &PagingOptions,
        sink: &mut impl PageSink,
        deadline: Instant,
    ) -> Result<StoredList, ApiError> {
        match self
            .read_list(instance_id, base, paging, None, sink, deadline)
            .await?
        {
            ListRead::Read(list) => Ok(list),
            ListRead::Unchanged => unreachable!("no known time, so no list is the known one"),
        }
    }

    async fn read_list(
        &self,
        instance_id: &str,
        base: &ListClientsQuery,
        paging: &PagingOptions,
        known_time: Option<SystemTime>,
        sink: &mut impl PageSink,
        deadline: Instant,
    ) -> Result<ListRead, ApiError> {
        let limit = paging.page_size.clamp(1, MAX_PAGE_SIZE);
        let inconsistent = |message: String| {
            ApiError::new(Operation::ListClients, ErrorKind::Inconsistent, message)
        };
        let mut restarts = 0;
        'list: loop {
            let mut offset: u64 = 0;
            let mut pages: u32 = 0;
            let mut time: Option<String> = None;
            let mut previous_first_id: Option<String> = None;
            loop {
                let query = ListClientsQuery {
                    offset: Some(offset),
                    limit: Some(limit),
                    ..base.clone()
                };
                let call = self.list_clients_call(instance_id, &query);
                let body = self.call(&call, deadline).await?.body;
                // Page one of what may be the known list is read once for its time alone; a
                // changed list's page is then read again for its sessions.
                if let (0, Some(known)) = (pages, known_time) {
                    let head = decode_client_page_with(&body, &mut |_| {})?;
                    if head.time.as_deref().and_then(parse_list_time) == Some(known) {
                        return Ok(ListRead::Unchanged);
                    }
                }
                // Sessions go to the sink as they are read, before the page is checked: a page
                // that fails a check fails the read or restarts it, and either way the sink's
                // sessions are dropped.
                let page = decode_client_page_with(&body, &mut |c| sink.accept(c))?;
                if pages > 0 && page.time.as_deref() != time.as_deref() {
                    if restarts >= paging.max_restarts {
                        return Err(inconsistent(format!(
                            "the stored list changed {} times while it was read",
                            restarts + 1
                        )));
                    }
                    restarts += 1;
                    sink.restart();
                    continue 'list;
                }
                if pages == 0 {
                    time = page.time.map(Cow::into_owned);
                }
                pages += 1;
                let received = page.sessions as u64;
                let count = page.count.map(|c| c.max(0) as u64);
                // A page may not hold more than asked: a list that keeps growing past its count
                // would otherwise never end.
                if received > u64::from(limit) {
                    return Err(inconsistent(format!(
                        "a page held {received} sessions, more than the {limit} asked for"
                    )));
                }
                if count.is_some_and(|c| c > MAX_LIST_SESSIONS) {
                    return Err(inconsistent(format!(
                        "the list announced {} sessions, more than any node holds",
                        count.unwrap_or_default()
                    )));
                }
                // A service that ignores `offset` serves page one again and again.
                let first_id = page.first_id.as_deref();
                if pages > 1 && first_id.is_some() && first_id == previous_first_id.as_deref() {
                    return Err(inconsistent(
                        "a page repeated the one before (offset ignored)".to_string(),
                    ));
                }
                previous_first_id = first_id.map(str::to_string);
                sink.end_page();
                offset += received;
                let done = match count {
                    Some(count) if offset >= count => true,
                    Some(count) if received < u64::from(limit) => {
                        return Err(inconsistent(format!(
                            "the list announced {count} sessions but its pages ended at {offset}"
                        )));
                    }
                    Some(_) => false,
                    None if offset > MAX_LIST_SESSIONS => {
                        return Err(inconsistent(format!(
                            "the pages did not end after {offset} sessions"
                        )));
                    }
                    None => received < u64::from(limit),
                };
                if done {
                    return Ok(ListRead::Read(StoredList {
                        time,
                        sessions: offset,
                        pages,
                        restarts,
                    }));
                }
            }
        }
    }
}
