//! One scan of one node (start the job, poll it, read every page) and one poll of one DBSS
//! resource.

use std::sync::Arc;
use std::time::SystemTime;

use tokio::time::Instant;

use super::discovery::client_nodes;
use super::operations::{KillPlan, ListOptions, Listing, TargetError};
use super::settings::ScanSettings;
use crate::aggregate::Aggregator;
use crate::cloud::dcs::{
    JobStatus, KillTarget, ListClientsQuery, ListRead, PagingOptions, PollOptions, parse_list_time,
};
use crate::cloud::{ApiClient, ErrorKind};
use crate::snapshot::{Failure, NodeData, Reason, Stage};
use crate::upstream_text::clean;

/// The DCS code of "a scan is already running": the stored list can still be read.
pub const TASK_STATE_CODE: &str = "DCS.4957";

/// Scans a node and aggregates its sessions page by page. `pending` is the node's scan job
/// that was still running when an earlier scan gave up on it: while it runs, the service
/// refuses a new one (`DCS.4957`), and this scan waits on it again rather than reading a list
/// that may not exist yet. `previous` is the node's data published last: when the stored list
/// is still the one it was read from, its sessions are not read again and its aggregate stays.
pub async fn scan_node(
    api: &ApiClient,
    instance_id: &str,
    node_id: &str,
    settings: &ScanSettings,
    pending: &mut Option<String>,
    previous: Option<&NodeData>,
    deadline: Instant,
) -> Result<NodeData, Failure> {
    let job_id = match api
        .start_scan(instance_id, node_id, settings.clean_cache, deadline)
        .await
    {
        Ok(job_id) => Some(job_id),
        Err(e) if e.code.as_deref() == Some(TASK_STATE_CODE) => {
            if pending.is_none() {
                // Someone else's scan runs: read what is stored, as the service allows.
                tracing::debug!(
                    instance_id,
                    node_id,
                    "a scan is already running; reading the stored list"
                );
            }
            pending.clone()
        }
        Err(e) => return Err(e.into()),
    };
    // A job of this scan that cleaned the cache made a new list; else it may be the known one.
    let fresh_list = job_id.is_some() && settings.clean_cache;
    if let Some(job_id) = job_id {
        *pending = Some(job_id.clone());
        let job = match api.wait_for_job(&job_id, &settings.poll, deadline).await {
            Ok(job) => job,
            Err(e) => {
                // A job that no longer answers (unknown, refused) is not waited on again.
                if e.kind != ErrorKind::Timeout {
                    *pending = None;
                }
                return Err(e.into());
            }
        };
        *pending = None;
        if job.status == JobStatus::Fail {
            return Err(Failure::new(
                Stage::Job,
                Reason::JobFailed,
                format!(
                    "scan job {job_id} failed: {}",
                    job.fail_reason
                        .as_deref()
                        .map_or_else(|| "no reason given".into(), |r| clean(r, &[]))
                ),
            ));
        }
    }
    let known = previous.filter(|p| !fresh_list && p.data_time.is_some());
    let mut aggregator = Aggregator::new(Arc::clone(&settings.aggregate));
    let read = api
        .read_stored_list_if_changed(
            instance_id,
            node_id,
            &settings.paging,
            known.and_then(|p| p.data_time),
            &mut aggregator,
            deadline,
        )
        .await
        .map_err(Failure::from)?;
    let (data_time, aggregate) = match (read, known) {
        (ListRead::Read(list), _) => (
            list.time.as_deref().and_then(parse_list_time),
            aggregator.finish(),
        ),
        (ListRead::Unchanged, Some(known)) => {
            tracing::debug!(
                instance_id,
                node_id,
                "the stored list is the one read before: its data is kept"
            );
            (known.data_time, known.aggregate.clone())
        }
        (ListRead::Unchanged, None) => unreachable!("a list is unchanged only from a known one"),
    };
    // A stored list older than the staleness limit (a scan stuck on the service's side, or
    // clean_cache = false) is no fresh data, whatever the scan says. Its age is measured on
    // the service's clock, which wrote its time: the local clock may be minutes off.
    let service_now = api.service_clock().now();
    if let Some(age) = data_time.and_then(|t| service_now.duration_since(t).ok())
        && age > settings.stale_after
    {
        return Err(Failure::new(
            Stage::List,
            Reason::StaleList,
            format!(
                "the stored list is {} old, older than stale_after",
                humantime::format_duration(std::time::Duration::from_secs(age.as_secs()))
            ),
        ));
    }
    Ok(NodeData {
        data_time,
        aggregate,
        scanned: SystemTime::now(),
    })
}

// What operators and the webhook do to a DCS instance's sessions.

/// The nodes of a DCS instance that take clients.
async fn client_node_ids(
    api: &ApiClient,
    instance_id: &str,
    deadline: Instant,
) -> Result<Vec<String>, TargetError> {
    let nodes = api.list_logical_nodes(instance_id, deadline).await?;
    Ok(client_nodes(&nodes.nodes)
        .into_iter()
        .filter_map(|n| n.node_id.clone())
        .collect())
}

/// The node to work on: the one named (checked), or the only one.
async fn chosen_node(
    api: &ApiClient,
    instance_id: &str,
    node: Option<&str>,
    deadline: Instant,
) -> Result<String, TargetError> {
    let nodes = client_node_ids(api, instance_id, deadline).await?;
    match node {
        Some(n) if nodes.iter().any(|x| x == n) => Ok(n.to_string()),
        Some(n) => Err(TargetError::UnknownNode {
            instance: instance_id.to_string(),
            node: n.to_string(),
            known: nodes.join(", "),
        }),
        None if nodes.len() == 1 => Ok(nodes[0].clone()),
        None => Err(TargetError::NodeRequired {
            instance: instance_id.to_string(),
            known: nodes.join(", "),
        }),
    }
}

/// Runs a fresh scan of a node and waits for it (a scan already running is waited for by
/// reading the stored list afterwards).
async fn fresh_scan(
    api: &ApiClient,
    instance_id: &str,
    node: &str,
    deadline: Instant,
) -> Result<(), TargetError> {
    match api.start_scan(instance_id, node, true, deadline).await {
        Ok(job_id) => {
            let job = api
                .wait_for_job(&job_id, &PollOptions::default(), deadline)
                .await?;
            if job.status.is_finished() && job.status != crate::cloud::dcs::JobStatus::Success {
                return Err(TargetError::JobFailed {
                    job_id,
                    status: job.status.as_str().to_string(),
                    reason: job.fail_reason.map(|r| clean(&r, &[])).unwrap_or_default(),
                });
            }
            Ok(())
        }
        Err(e) if e.code.as_deref() == Some(TASK_STATE_CODE) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

/// A node's sessions: a fresh scan first unless `opts.cached`; one page with `limit` or
/// `offset`, else every page.
pub(super) async fn list(
    api: &ApiClient,
    instance_id: &str,
    opts: &ListOptions,
    deadline: Instant,
) -> Result<Listing, TargetError> {
    let node = chosen_node(api, instance_id, opts.node.as_deref(), deadline).await?;
    if !opts.cached {
        fresh_scan(api, instance_id, &node, deadline).await?;
    }
    let query = ListClientsQuery {
        node_id: node.clone(),
        offset: opts.offset,
        limit: opts.limit,
        addr: opts.addr.clone(),
        sort: opts.sort.clone(),
        order: opts.order,
    };
    let (time, count, clients) = if opts.limit.is_some() || opts.offset.is_some() {
        let page = api.list_clients(instance_id, &query, deadline).await?;
        (
            page.time,
            page.count.unwrap_or_default().max(0) as u64,
            page.clients,
        )
    } else {
        let mut clients = Vec::new();
        let list = api
            .read_stored_list_with(
                instance_id,
                &query,
                &PagingOptions::default(),
                &mut clients,
                deadline,
            )
            .await?;
        (list.time, list.sessions, clients)
    };
    Ok(Listing {
        instance_id: instance_id.to_string(),
        node_id: node,
        time,
        count,
        clients,
    })
}

/// Counts the sessions a kill-all would end, after a fresh scan of each node.
pub(super) async fn plan_kill_all(
    api: &ApiClient,
    instance_id: &str,
    node: Option<&str>,
    all_nodes: bool,
    deadline: Instant,
) -> Result<KillPlan, TargetError> {
    let nodes = if all_nodes {
        client_node_ids(api, instance_id, deadline).await?
    } else {
        vec![chosen_node(api, instance_id, node, deadline).await?]
    };
    let mut sessions = 0;
    for n in &nodes {
        fresh_scan(api, instance_id, n, deadline).await?;
        let page = api
            .list_clients(
                instance_id,
                &ListClientsQuery {
                    node_id: n.clone(),
                    limit: Some(1),
                    ..Default::default()
                },
                deadline,
            )
            .await?;
        sessions += page.count.unwrap_or_default().max(0) as u64;
    }
    Ok(KillPlan {
        description: format!("instance {instance_id}, node(s) {}", nodes.join(", ")),
        sessions,
        nodes,
        all_nodes,
    })
}

/// Ends the sessions of the plan's node (or of every node) and polls the job to its end.
pub(super) async fn kill_all(
    api: &ApiClient,
    instance_id: &str,
    plan: &KillPlan,
    deadline: Instant,
) -> Result<String, TargetError> {
    let kill = if plan.all_nodes {
        KillTarget::AllNodes
    } else {
        KillTarget::Node(plan.nodes[0].clone())
    };
    let started = Instant::now();
    let job_id = api.kill_all_clients(instance_id, &kill, deadline).await?;
    let job = api
        .wait_for_job(&job_id, &PollOptions::default(), deadline)
        .await?;
    if job.status != JobStatus::Success {
        return Err(TargetError::JobFailed {
            job_id,
            status: job.status.as_str().to_string(),
            reason: job.fail_reason.map(|r| clean(&r, &[])).unwrap_or_default(),
        });
    }
    Ok(format!(
        "job {job_id} ended SUCCESS after {:.1} s",
        started.elapsed().as_secs_f64()
    ))
}
