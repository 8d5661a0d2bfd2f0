//! What operators do by hand: list a node's sessions, end them all. For DCS nodes through the
//! API, for direct Redis targets over a connection.

use std::fmt::Write as _;
use std::time::Duration;

use tokio::time::Instant;

use crate::accounts::Accounts;
use crate::cloud::dcs::{KillTarget, ListClientsQuery, PagingOptions, PollOptions, SortOrder};
use crate::cloud::{ApiClient, ApiError};
use crate::collect::{Target, client_nodes};
use crate::config::RedisTarget;
use crate::redis::{RedisEndpoint, RedisFailure};
use crate::session::{CLIENT_FIELDS, ClientInfo, address_matches, compare_clients};

impl OperatorError {
    /// The command was given wrong arguments (exit status 2), rather than failing.
    pub fn is_usage(&self) -> bool {
        matches!(
            self,
            OperatorError::UnknownInstance(_)
                | OperatorError::UnknownCloud(_)
                | OperatorError::UnknownNode { .. }
                | OperatorError::NodeRequired { .. }
                | OperatorError::Usage(_)
        )
    }
}

impl From<RedisFailure> for OperatorError {
    fn from(f: RedisFailure) -> Self {
        OperatorError::Redis(f)
    }
}

#[derive(Debug, thiserror::Error)]
pub enum OperatorError {
    #[error(
        "instance {0:?} is in no [[cloud]] or [[redis]] of the configuration; with several clouds and discovery, name the cloud with --cloud"
    )]
    UnknownInstance(String),
    #[error("cloud {0:?} is not in the configuration")]
    UnknownCloud(String),
    #[error(
        "node {node:?} is not a node of instance {instance} that takes clients (nodes: {known})"
    )]
    UnknownNode {
        instance: String,
        node: String,
        known: String,
    },
    #[error("--node is required: instance {instance} has the nodes {known}")]
    NodeRequired { instance: String, known: String },
    #[error(transparent)]
    Api(#[from] ApiError),
    #[error("redis: {0}")]
    Redis(RedisFailure),
    #[error("{0}")]
    Setup(String),
    #[error("{0}")]
    Usage(String),
    #[error("the job {job_id} ended {status}: {reason}")]
    JobFailed {
        job_id: String,
        status: String,
        reason: String,
    },
}

/// How long one command may take in all.
pub const COMMAND_TIMEOUT: Duration = Duration::from_secs(300);

/// Finds the instance among the accounts: a `[[redis]]` name, a listed DCS instance, or
/// (with discovery) an instance of the named or only cloud. Its calls go through the account's
/// shared client.
pub fn resolve(
    accounts: &Accounts,
    instance: &str,
    cloud: Option<&str>,
) -> Result<Target, OperatorError> {
    // A named cloud is asked for: a direct target of the same name is not meant.
    if let Some(target) = accounts
        .redis()
        .iter()
        .find(|r| r.name == instance && cloud.is_none())
    {
        return Ok(Target::Redis(target.clone()));
    }
    let chosen = match cloud {
        Some(name) => Some(
            accounts
                .clouds()
                .find(|c| c.name == name)
                .ok_or_else(|| OperatorError::UnknownCloud(name.to_string()))?,
        ),
        None => accounts
            .clouds()
            .find(|c| c.dcs_instances.iter().any(|i| i.id == instance))
            .or_else(|| {
                let mut clouds = accounts.clouds();
                match (clouds.next(), clouds.next()) {
                    (Some(only), None) if only.discovery.is_some() => Some(only),
                    _ => None,
                }
            }),
    };
    let cloud = chosen.ok_or_else(|| OperatorError::UnknownInstance(instance.to_string()))?;
    Ok(Target::Dcs {
        api: accounts
            .client(&cloud.name)
            .map_err(|e| OperatorError::Setup(e.to_string()))?
            .clone(),
        instance_id: instance.to_string(),
    })
}

/// The Redis endpoint of a direct target, with its current password.
fn endpoint(target: &RedisTarget) -> Result<RedisEndpoint, OperatorError> {
    target.endpoint().map_err(OperatorError::Setup)
}

/// Ends the sessions of one node with these `ip:port` addresses (for DCS, their `peer`).
pub async fn kill_clients(
    target: &Target,
    node_id: &str,
    addrs: &[String],
) -> Result<(), OperatorError> {
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    match target {
        Target::Dcs { api, instance_id } => {
            api.kill_clients(instance_id, node_id, addrs, deadline)
                .await?;
        }
        Target::Redis(target) => {
            crate::redis::kill_addrs(&endpoint(target)?, addrs, deadline).await?;
        }
    }
    Ok(())
}

/// The nodes of a DCS instance that take clients.
async fn dcs_client_nodes(
    api: &ApiClient,
    instance_id: &str,
    deadline: Instant,
) -> Result<Vec<String>, OperatorError> {
    let nodes = api.list_logical_nodes(instance_id, deadline).await?;
    Ok(client_nodes(&nodes.nodes)
        .into_iter()
        .filter_map(|n| n.node_id.clone())
        .collect())
}

/// The node to work on: the one named (checked), or the only one.
async fn dcs_node(
    api: &ApiClient,
    instance_id: &str,
    node: Option<&str>,
    deadline: Instant,
) -> Result<String, OperatorError> {
    let nodes = dcs_client_nodes(api, instance_id, deadline).await?;
    match node {
        Some(n) if nodes.iter().any(|x| x == n) => Ok(n.to_string()),
        Some(n) => Err(OperatorError::UnknownNode {
            instance: instance_id.to_string(),
            node: n.to_string(),
            known: nodes.join(", "),
        }),
        None if nodes.len() == 1 => Ok(nodes[0].clone()),
        None => Err(OperatorError::NodeRequired {
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
) -> Result<(), OperatorError> {
    match api.start_scan(instance_id, node, true, deadline).await {
        Ok(job_id) => {
            let job = api
                .wait_for_job(&job_id, &PollOptions::default(), deadline)
                .await?;
            if job.status.is_finished() && job.status != crate::cloud::dcs::JobStatus::Success {
                return Err(OperatorError::JobFailed {
                    job_id,
                    status: job.status.as_str().to_string(),
                    reason: job.fail_reason.unwrap_or_default(),
                });
            }
            Ok(())
        }
        Err(e) if e.code.as_deref() == Some(crate::collect::TASK_STATE_CODE) => Ok(()),
        Err(e) => Err(e.into()),
    }
}

#[derive(Clone, Debug, Default)]
pub struct ListOptions {
    pub node: Option<String>,
    pub sort: Option<String>,
    pub order: Option<SortOrder>,
    pub addr: Option<String>,
    /// One page from `offset`; every session when neither is given.
    pub limit: Option<u32>,
    pub offset: Option<u64>,
    /// Read the stored list as it is, without a fresh scan.
    pub cached: bool,
}

/// The sessions listed, and what the list says of itself.
#[derive(Clone, Debug, serde::Serialize)]
pub struct Listing {
    pub instance_id: String,
    pub node_id: String,
    /// When the list was produced.
    pub time: Option<String>,
    /// Sessions matching, across all pages.
    pub count: u64,
    pub clients: Vec<ClientInfo>,
}

pub async fn list(target: &Target, opts: &ListOptions) -> Result<Listing, OperatorError> {
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    if let Some(field) = &opts.sort
        && !CLIENT_FIELDS.contains(&field.as_str())
    {
        return Err(OperatorError::Usage(format!(
            "--sort {field:?} is not a session field ({})",
            CLIENT_FIELDS.join(", ")
        )));
    }
    match target {
        Target::Dcs { api, instance_id } => {
            let node = dcs_node(api, instance_id, opts.node.as_deref(), deadline).await?;
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
                instance_id: instance_id.clone(),
                node_id: node,
                time,
                count,
                clients,
            })
        }
        Target::Redis(target) => {
            let endpoint = &endpoint(target)?;
            if let Some(node) = &opts.node
                && node != &target.node_id
            {
                return Err(OperatorError::UnknownNode {
                    instance: target.name.clone(),
                    node: node.clone(),
                    known: target.node_id.clone(),
                });
            }
            let mut conn = crate::redis::connect(endpoint, deadline).await?;
            let mut clients = crate::redis::client_list(&mut conn, deadline)
                .await?
                .to_vec();
            let time = humantime::format_rfc3339_millis(std::time::SystemTime::now()).to_string();
            // The same filter and order the API applies.
            clients.retain(|c| opts.addr.as_deref().is_none_or(|a| address_matches(c, a)));
            if let Some(field) = &opts.sort {
                clients.sort_by(|a, b| compare_clients(a, b, field));
                if opts.order == Some(SortOrder::Desc) {
                    clients.reverse();
                }
            }
            let count = clients.len() as u64;
            let offset = opts.offset.unwrap_or(0) as usize;
            let limit = opts.limit.map_or(usize::MAX, |l| l as usize);
            let clients = clients.into_iter().skip(offset).take(limit).collect();
            Ok(Listing {
                instance_id: target.name.clone(),
                node_id: target.node_id.clone(),
                time: Some(time),
                count,
                clients,
            })
        }
    }
}

/// Output formats of `clients`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, clap::ValueEnum)]
pub enum OutputFormat {
    Table,
    Json,
    Csv,
}

/// A field as text; empty when the session does not have it.
fn field(c: &ClientInfo, name: &str) -> String {
    c.value(name)
        .map(|v| v.to_text().into_owned())
        .unwrap_or_default()
}

/// The columns of the table: what an operator looks at first.
const TABLE_COLUMNS: [&str; 12] = [
    "id", "addr", "peer", "name", "user", "db", "age", "idle", "cmd", "flags", "sub", "omem",
];

/// A CSV cell. Text a spreadsheet would take for a formula (`=`, `+`, `-`, `@`, tab or CR
/// first) is prefixed with `'`: client names come from whoever connects.
fn csv_cell(value: &str) -> String {
    let formula =
        value.starts_with(['=', '+', '-', '@', '\t', '\r']) && value.parse::<f64>().is_err();
    let value = if formula {
        format!("'{value}")
    } else {
        value.to_string()
    };
    if value.contains([',', '"', '\n', '\r']) {
        format!("\"{}\"", value.replace('"', "\"\""))
    } else {
        value
    }
}

/// A table cell with control characters shown as `?`: an escape sequence in a client name
/// must not drive the operator's terminal.
fn table_cell(value: String) -> String {
    if value.chars().any(char::is_control) {
        value
            .chars()
            .map(|c| if c.is_control() { '?' } else { c })
            .collect()
    } else {
        value
    }
}

pub fn render(listing: &Listing, format: OutputFormat) -> String {
    match format {
        OutputFormat::Json => serde_json::to_string_pretty(listing).unwrap_or_default() + "\n",
        OutputFormat::Csv => {
            let mut out = CLIENT_FIELDS.join(",") + "\n";
            for c in &listing.clients {
                let row: Vec<String> = CLIENT_FIELDS
                    .iter()
                    .map(|f| csv_cell(&field(c, f)))
                    .collect();
                out.push_str(&row.join(","));
                out.push('\n');
            }
            out
        }
        OutputFormat::Table => {
            let rows: Vec<Vec<String>> = listing
                .clients
                .iter()
                .map(|c| {
                    TABLE_COLUMNS
                        .iter()
                        .map(|f| table_cell(field(c, f)))
                        .collect()
                })
                .collect();
            let widths: Vec<usize> = TABLE_COLUMNS
                .iter()
                .enumerate()
                .map(|(i, h)| {
                    rows.iter()
                        .map(|r| r[i].chars().count())
                        .chain([h.len()])
                        .max()
                        .unwrap_or(0)
                })
                .collect();
            let mut out = String::new();
            let line = |cells: &[String], out: &mut String| {
                let padded: Vec<String> = cells
                    .iter()
                    .zip(&widths)
                    .map(|(c, w)| format!("{c:<w$}"))
                    .collect();
                out.push_str(padded.join("  ").trim_end());
                out.push('\n');
            };
            let header: Vec<String> = TABLE_COLUMNS.iter().map(|h| h.to_uppercase()).collect();
            line(&header, &mut out);
            for row in &rows {
                line(row, &mut out);
            }
            let _ = writeln!(
                out,
                "{} of {} sessions, instance {} node {}, listed {}",
                listing.clients.len(),
                listing.count,
                listing.instance_id,
                listing.node_id,
                listing.time.as_deref().unwrap_or("at an unknown time")
            );
            out
        }
    }
}

/// What kill-all will end.
pub struct KillPlan {
    pub description: String,
    pub sessions: u64,
    nodes: Vec<String>,
    all_nodes: bool,
}

impl KillPlan {
    /// A kill-all of one node, without counting its sessions first.
    pub fn node(instance_id: &str, node_id: &str) -> Self {
        Self {
            description: format!("instance {instance_id}, node {node_id}"),
            sessions: 0,
            nodes: vec![node_id.to_string()],
            all_nodes: false,
        }
    }
}

/// Counts the sessions a kill-all would end (after a fresh scan).
pub async fn plan_kill_all(
    target: &Target,
    node: Option<&str>,
    all_nodes: bool,
) -> Result<KillPlan, OperatorError> {
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    match target {
        Target::Dcs { api, instance_id } => {
            let nodes = if all_nodes {
                dcs_client_nodes(api, instance_id, deadline).await?
            } else {
                vec![dcs_node(api, instance_id, node, deadline).await?]
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
        Target::Redis(target) => {
            let endpoint = &endpoint(target)?;
            if let Some(node) = node
                && node != target.node_id
            {
                return Err(OperatorError::UnknownNode {
                    instance: target.name.clone(),
                    node: node.to_string(),
                    known: target.node_id.clone(),
                });
            }
            let mut conn = crate::redis::connect(endpoint, deadline).await?;
            let sessions = crate::redis::client_list(&mut conn, deadline)
                .await?
                .sessions()
                .count() as u64;
            Ok(KillPlan {
                description: format!("redis {} ({})", target.name, target.node_id),
                sessions,
                nodes: vec![target.node_id.clone()],
                all_nodes,
            })
        }
    }
}

/// Ends the sessions; for DCS, polls the job to its end. Returns what happened, for people.
pub async fn kill_all(target: &Target, plan: &KillPlan) -> Result<String, OperatorError> {
    let deadline = Instant::now() + COMMAND_TIMEOUT;
    match target {
        Target::Dcs { api, instance_id } => {
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
            if job.status != crate::cloud::dcs::JobStatus::Success {
                return Err(OperatorError::JobFailed {
                    job_id,
                    status: job.status.as_str().to_string(),
                    reason: job.fail_reason.unwrap_or_default(),
                });
            }
            Ok(format!(
                "job {job_id} ended SUCCESS after {:.1} s",
                started.elapsed().as_secs_f64()
            ))
        }
        Target::Redis(target) => {
            let killed = crate::redis::kill_all(&endpoint(target)?, deadline).await?;
            Ok(format!("{killed} sessions ended"))
        }
    }
}
