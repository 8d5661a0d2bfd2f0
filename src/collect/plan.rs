//! A cloud's API plan for `check-config`: from its configuration, or after one look-up of
//! its instances and nodes (what the scheduler would scan, before any scan).

use std::fmt::Write;
use std::time::Duration;

use tokio::time::Instant;

use super::discovery::{self, Known};
use crate::accounts::{Accounts, CredentialsFn, provider_from_env};
use crate::capacity::{CloudPlan, Fleet, Schedule};
use crate::cloud::ApiClient;
use crate::cloud::dcs::ListClientsQuery;
use crate::config::{Cloud, Config, ExporterSettings};

/// How long `--discover` may take to look one cloud up.
const LOOK_UP_TIMEOUT: Duration = Duration::from_secs(120);
/// How long the nodes' session counts may take, all together; a node not read by then counts
/// one page.
const COUNT_READ_TIMEOUT: Duration = Duration::from_secs(15);

/// The API calls a scan interval of `cloud` costs, from its configuration or, with
/// `discover`, from one look-up of its instances and nodes, as lines to print; with a warning
/// when its rate cannot carry them.
pub async fn budget_report(config: &Config, cloud: &Cloud, discover: bool) -> String {
    let mut out = String::new();
    let plan = if discover {
        let credentials: CredentialsFn = std::sync::Arc::new(provider_from_env);
        let accounts = Accounts::new(config, &credentials, None);
        let api = match accounts.client(&cloud.name) {
            Ok(api) => api,
            Err(e) => return format!("  cannot look the fleet up: {e}\n"),
        };
        let deadline = Instant::now() + LOOK_UP_TIMEOUT;
        let (plan, errors) = discovered_plan(api, &config.exporter, cloud, deadline).await;
        for error in errors {
            let _ = writeln!(out, "  look-up: {error}");
        }
        out.push_str(
            "  looked up: each node's pages from its stored list's count (one page where none is stored yet)\n",
        );
        plan
    } else {
        let plan = CloudPlan::configured(&config.exporter, cloud);
        let discovered = match cloud.discovery {
            Some(_) => ", plus what discovery finds",
            None => "",
        };
        let _ = writeln!(
            out,
            "  from the configuration: an instance without nodes listed counted as one node, one page of sessions a node{discovered} (--discover looks them up)"
        );
        plan
    };
    out.push_str(&plan.report());
    let budget = plan.budget();
    if !plan.schedule.fits(&budget) {
        let _ = writeln!(
            out,
            "  warning: cloud {} needs {:.2} requests/s, more than its requests_per_second ({}): scans will fall behind their interval; raise requests_per_second or scan_interval, turn features off, or split the fleet between replicas (--shard.count)",
            cloud.name,
            plan.schedule.needed_rate(&budget),
            cloud.requests_per_second
        );
    }
    out
}

/// The plan of `cloud` with the instances and nodes one look-up finds, each node's pages
/// from the count of its stored list, and the look-up's errors.
pub async fn discovered_plan(
    api: &ApiClient,
    settings: &ExporterSettings,
    cloud: &Cloud,
    deadline: Instant,
) -> (CloudPlan, Vec<String>) {
    let found = discovery::discover(api, cloud, &mut Known::default(), deadline).await;
    let schedule = Schedule::of(settings, cloud);
    let read = found.instances.len() as u64;
    let mut fleet = Fleet {
        instances: found.looked_up as u64,
        listed_instances: found.listed as u64,
        slow_log_instances: found.instances.iter().filter(|(_, c)| c.slow_log).count() as u64,
        analysed_instances: if cloud.key_analysis.is_some() {
            read
        } else {
            0
        },
        dbss_resources: cloud.dbss_resources.len() as u64,
        ..Fleet::default()
    };
    // All at once, within the account's rate: a node without a stored list answers 500, and
    // its retries would otherwise add up node after node.
    let counted_by = deadline.min(Instant::now() + COUNT_READ_TIMEOUT);
    let mut reads = tokio::task::JoinSet::new();
    for node in &found.nodes {
        let (api, key) = (api.clone(), node.key.clone());
        reads.spawn(async move {
            stored_sessions(&api, &key.instance_id, &key.node_id, counted_by).await
        });
    }
    while let Some(read) = reads.join_next().await {
        fleet.add_node(read.ok().flatten(), schedule.page_size);
    }
    let errors = found
        .errors
        .into_iter()
        .map(|(_, message)| message)
        .chain(
            found
                .context_errors
                .into_iter()
                .map(|(id, operation, reason)| {
                    format!("instance {id}: {} failed ({reason})", operation.as_str())
                }),
        )
        .collect();
    (CloudPlan { schedule, fleet }, errors)
}

/// The sessions of a node's stored list, from one page of one session (no scan is started);
/// `None` when none is stored yet or the read fails: the node counts one page.
async fn stored_sessions(
    api: &ApiClient,
    instance_id: &str,
    node_id: &str,
    deadline: Instant,
) -> Option<u64> {
    let query = ListClientsQuery {
        node_id: node_id.to_string(),
        limit: Some(1),
        ..ListClientsQuery::default()
    };
    let page = api.list_clients(instance_id, &query, deadline).await.ok()?;
    page.count.and_then(|c| u64::try_from(c).ok())
}
