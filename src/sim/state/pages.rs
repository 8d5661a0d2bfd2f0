//! Pages of a node's stored session list, checked and served as the service serves them:
//! offset and limit, an address filter, sorting by a field.

use std::time::SystemTime;

use super::model::SimState;
use super::params::{ListQuery, parse_number};
use super::stored::RenderedList;
use crate::cloud::dcs::{ClientPage, MAX_PAGE_SIZE, SortOrder};
use crate::session::{CLIENT_FIELDS, ClientInfo, address_matches, compare_clients};
use crate::sim::clock::{format_time, millis};
use crate::sim::error::{SimError, SimResult, codes};

/// A checked request for a page of sessions.
struct PageRequest<'q> {
    offset: usize,
    limit: usize,
    order: SortOrder,
    sort: Option<&'q str>,
    filter: Option<&'q str>,
}

/// The service's answer when no scan has made a node's stored list.
fn no_stored_list() -> SimError {
    SimError::dcs(
        500,
        codes::INTERNAL,
        "The session list of this node has not been queried. Query it first.",
    )
}

impl SimState {
    /// `GET .../clients`: one page of a node's stored session list.
    pub fn list_clients(
        &mut self,
        instance_id: &str,
        query: &ListQuery,
        now: SystemTime,
    ) -> SimResult<ClientPage> {
        let (instance, node, page) = self.page_request(instance_id, query, now)?;
        let node = &self.instances[instance].nodes[node];
        let stored = node.stored.as_ref().ok_or_else(no_stored_list)?;
        let profile = node.population.profile();
        let (offset, limit) = (page.offset, page.limit);
        let (clients, count) = if page.filter.is_none() && page.sort.is_none() {
            // The common case renders only the page asked for.
            (stored.page(profile, offset, limit), stored.len())
        } else {
            let mut all: Vec<ClientInfo> = stored.all(profile);
            all.retain(|c| page.filter.is_none_or(|f| address_matches(c, f)));
            if let Some(field) = page.sort {
                all.sort_by(|a, b| compare_clients(a, b, field));
                if page.order == SortOrder::Desc {
                    all.reverse();
                }
            }
            let count = all.len();
            (all.into_iter().skip(offset).take(limit).collect(), count)
        };
        Ok(ClientPage {
            time: Some(format_time(stored.time_ms)),
            clients,
            count: Some(count as i64),
        })
    }

    /// As [`SimState::list_clients`], as the JSON body, for pages neither filtered nor
    /// ordered (`None` for the others). The list is rendered once, when its first page is
    /// read; a page is then a slice of it, so that a busy simulator costs little.
    pub fn list_clients_body(
        &mut self,
        instance_id: &str,
        query: &ListQuery,
        now: SystemTime,
    ) -> SimResult<Option<String>> {
        let (instance, node, page) = self.page_request(instance_id, query, now)?;
        if page.filter.is_some() || page.sort.is_some() {
            return Ok(None);
        }
        let node = &mut self.instances[instance].nodes[node];
        let profile = node.population.profile();
        let stored = node.stored.as_mut().ok_or_else(no_stored_list)?;
        if stored.rendered.is_none() {
            stored.rendered = Some(RenderedList::new(stored.all(profile).into_iter()));
        }
        let rendered = stored
            .rendered
            .as_ref()
            .map_or("", |r| r.page(page.offset, page.limit));
        let time = serde_json::Value::String(format_time(stored.time_ms));
        Ok(Some(format!(
            r#"{{"time":{time},"clients":[{rendered}],"count":{}}}"#,
            stored.len()
        )))
    }

    /// The node and page a session-list call asks for, checked as the service checks them.
    fn page_request<'q>(
        &mut self,
        instance_id: &str,
        query: &'q ListQuery,
        now: SystemTime,
    ) -> SimResult<(usize, usize, PageRequest<'q>)> {
        self.advance(millis(now));
        let instance = self.instance(instance_id)?;
        let node = self.client_node(instance, query.node_id.as_deref())?;
        let offset = parse_number(query.offset.as_deref(), "offset", 0)?;
        if offset < 0 {
            return Err(SimError::invalid("offset must be at least 0."));
        }
        let limit = parse_number(query.limit.as_deref(), "limit", 10)?;
        if !(1..=i64::from(MAX_PAGE_SIZE)).contains(&limit) {
            return Err(SimError::invalid(format!(
                "limit must be between 1 and {MAX_PAGE_SIZE}."
            )));
        }
        let order = match query.order.as_deref() {
            None | Some("") | Some("asc") => SortOrder::Asc,
            Some("desc") => SortOrder::Desc,
            Some(other) => {
                return Err(SimError::invalid(format!(
                    "order {other:?} must be asc or desc."
                )));
            }
        };
        let sort = match query.sort.as_deref().filter(|s| !s.is_empty()) {
            Some(field) if CLIENT_FIELDS.contains(&field) => Some(field),
            Some(field) => {
                return Err(SimError::invalid(format!(
                    "sort {field:?} is not a session field."
                )));
            }
            None => None,
        };
        let page = PageRequest {
            offset: offset as usize,
            limit: limit as usize,
            order,
            sort,
            filter: query.addr.as_deref().filter(|a| !a.is_empty()),
        };
        Ok((instance, node, page))
    }

    /// A node's stored session list (what the next pages will show), with its time.
    pub fn stored_sessions(
        &mut self,
        instance_id: &str,
        node_id: &str,
        now: SystemTime,
    ) -> SimResult<Option<(String, Vec<ClientInfo>)>> {
        self.advance(millis(now));
        let instance = self.instance(instance_id)?;
        let node = &self.instances[instance].nodes[self.client_node(instance, Some(node_id))?];
        Ok(node.stored.as_ref().map(|stored| {
            let profile = node.population.profile();
            (format_time(stored.time_ms), stored.all(profile))
        }))
    }
}
