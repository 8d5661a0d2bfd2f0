//! The built-in demo: the simulator in-process, and an exporter configuration that scans it.

use std::sync::Arc;

use rand::RngExt;

use crate::cloud::Credentials;
use crate::config::Config;
use crate::sim::{SimConfig, Simulator, Topology};

pub const DEMO_PROJECT: &str = "demo-project";
pub const DEMO_DBSS_RESOURCE: &str = "dbss-audit-demo";

/// A running demo simulator and the configuration that scans it.
pub struct Demo {
    pub config: Config,
    pub credentials: Credentials,
    pub simulator_url: String,
    pub simulator: Arc<Simulator>,
    _server: tokio::task::JoinHandle<()>,
}

impl Drop for Demo {
    fn drop(&mut self) {
        self._server.abort();
    }
}

/// The demo's topology: the simulator's default one, with a node that fails now and then, as
/// real ones do (a scan in four refused with `DCS.5000`), so that dashboards and alerts show
/// scan errors.
pub fn topology() -> Topology {
    let mut topology = Topology::demo();
    topology.faults.push(crate::sim::topology::FaultSpec {
        instance: Some("sessions-proxy".into()),
        node: Some(2),
        operation: "scan_clients".into(),
        kind: "error".into(),
        status: Some(500),
        code: Some("DCS.5000".into()),
        delay: None,
        bytes: None,
        times: 0,
        every: Some(4),
    });
    topology
}

/// The exporter configuration of the demo, as a user would write it.
pub fn config_toml(simulator_url: &str) -> String {
    format!(
        r#"[exporter]
scan_interval = "15s"
first_scan_spread = "1s"

[[cloud]]
name = "demo"
project_id = "{DEMO_PROJECT}"
dcs_endpoint = "{simulator_url}"
dbss_endpoint = "{simulator_url}"
requests_per_second = 50
export_tags = ["env", "team"]
# Temporary credentials from the simulator's metadata service, renewed before they expire.
credentials = "metadata"
metadata_endpoint = "{simulator_url}"

[cloud.discovery]
enabled = true

[[cloud.dbss_resource]]
id = "{DEMO_DBSS_RESOURCE}"
"#
    )
}

/// Starts the simulator on a free loopback port with credentials made up for this run.
pub async fn start(topology: Topology) -> anyhow::Result<Demo> {
    let mut rng = rand::rng();
    let credentials = Credentials::new(
        format!("DEMO{:016X}", rng.random::<u64>()),
        format!("{:032x}", rng.random::<u128>()),
    );
    let mut sim_config = SimConfig::new(credentials.clone(), topology);
    sim_config.project_id = Some(DEMO_PROJECT.into());
    let simulator = Simulator::new(sim_config);
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let simulator_url = format!("http://{}", listener.local_addr()?);
    let router = simulator.router();
    let server = tokio::spawn(async move {
        if let Err(e) = axum::serve(listener, router).await {
            tracing::error!(error = %e, "the demo simulator stopped");
        }
    });
    let config = Config::from_toml(&config_toml(&simulator_url))?;
    Ok(Demo {
        config,
        credentials,
        simulator_url,
        simulator,
        _server: server,
    })
}
