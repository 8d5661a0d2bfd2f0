//! What the integration tests share: a server on loopback, an exporter built in this process,
//! and the text exposition parsed.
#![allow(dead_code)]

use std::collections::BTreeMap;
use std::sync::Arc;

use dcs_session_exporter::accounts::{Accounts, CredentialsFn, SharedAccounts};
use dcs_session_exporter::cloud::Credentials;
use dcs_session_exporter::cloud::credentials::{CredentialSource, Provider};
use dcs_session_exporter::collect::Scheduler;
use dcs_session_exporter::config::Config;
use dcs_session_exporter::remediation::Remediator;
use dcs_session_exporter::server::{AppState, router};
use dcs_session_exporter::sim::{SimConfig, Simulator};
use dcs_session_exporter::snapshot::Store;
use prometheus_client::registry::Registry;

/// A client whose every request ends within 10 s.
pub fn http() -> reqwest::Client {
    reqwest::Client::builder()
        .timeout(std::time::Duration::from_secs(10))
        .build()
        .unwrap()
}

/// `GET {base}/metrics`, as text.
pub async fn scrape_text(base: &str) -> String {
    get_text(&format!("{base}/metrics")).await
}

/// The body of `GET url`, whatever its status.
pub async fn get_text(url: &str) -> String {
    http()
        .get(url)
        .send()
        .await
        .unwrap_or_else(|e| panic!("GET {url}: {e}"))
        .text()
        .await
        .unwrap()
}

/// `GET {base}/metrics`, parsed.
pub async fn scrape(base: &str) -> Vec<Sample> {
    parse_exposition(&scrape_text(base).await)
}

/// Waits (at most `limit`) until the last scan of exactly these nodes succeeded.
pub async fn all_scanned(
    base: &str,
    nodes: &std::collections::BTreeSet<String>,
    limit: std::time::Duration,
) {
    wait_for(limit, "every node scanned", || async {
        let ok: std::collections::BTreeSet<String> = scrape(base)
            .await
            .into_iter()
            .filter(|s| s.name == "dcs_scan_success" && s.value == 1.0)
            .map(|s| s.label("node_id").to_string())
            .collect();
        (ok == *nodes).then_some(())
    })
    .await;
}

/// Polls `check` every 100 ms until it gives `Some`, at most `limit`.
pub async fn wait_for<T, F, Fut>(limit: std::time::Duration, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let until = tokio::time::Instant::now() + limit;
    loop {
        if let Some(value) = check().await {
            return value;
        }
        assert!(
            tokio::time::Instant::now() < until,
            "not within {limit:?}: {what}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
}

/// The simulator's demo topology with quick jobs and `sessions` sessions on every node that
/// takes clients.
pub fn demo_topology(
    job: std::time::Duration,
    sessions: u32,
) -> dcs_session_exporter::sim::Topology {
    let mut t = dcs_session_exporter::sim::Topology::demo();
    t.job_duration = job;
    for i in &mut t.instances {
        i.sessions_per_node = sessions;
    }
    t
}

/// The demo topology with quick jobs (50 ms) and 50 sessions a node.
pub fn quick_topology() -> dcs_session_exporter::sim::Topology {
    demo_topology(std::time::Duration::from_millis(50), 50)
}

/// The fixed scrape time of golden and writer tests.
pub fn fixed_now() -> std::time::SystemTime {
    std::time::SystemTime::UNIX_EPOCH + std::time::Duration::from_secs(1_800_000_000)
}

/// A `[[cloud]]` on the simulator at `sim_url`, with a rate no test reaches; what the cloud
/// scans (`[cloud.discovery]`, instances) comes after it.
pub fn cloud_toml(name: &str, project_id: &str, sim_url: &str) -> String {
    format!(
        "[[cloud]]\nname = \"{name}\"\nproject_id = \"{project_id}\"\ndcs_endpoint = \"{sim_url}\"\n\
         dbss_endpoint = \"{sim_url}\"\nrequests_per_second = 1000\n"
    )
}

/// Serves `app` on a free loopback port; its base URL.
pub async fn serve(app: axum::Router) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await });
    format!("http://{addr}")
}

/// A simulator served on loopback: the simulator and its base URL.
pub async fn serve_sim(config: SimConfig) -> (Arc<Simulator>, String) {
    let sim = Simulator::new(config);
    let url = serve(sim.router()).await;
    (sim, url)
}

/// A simulator and an exporter scanning it, both in this process.
pub struct SimAndExporter {
    pub sim: Arc<Simulator>,
    /// The simulator's base URL.
    pub sim_url: String,
    /// The exporter's base URL.
    pub exporter: String,
    /// A client whose every request ends within 10 s.
    pub http: reqwest::Client,
    /// Its scans stop when this is dropped.
    pub in_process: InProcess,
}

impl SimAndExporter {
    pub fn new(sim: Arc<Simulator>, sim_url: String, in_process: InProcess) -> Self {
        Self {
            sim,
            sim_url,
            exporter: in_process.url.clone(),
            http: http(),
            in_process,
        }
    }

    /// `GET` of a path of the exporter: the status and the body.
    pub async fn get(&self, path: &str) -> (u16, String) {
        let r = self
            .http
            .get(format!("{}{path}", self.exporter))
            .send()
            .await
            .unwrap_or_else(|e| panic!("GET {path}: {e}"));
        (r.status().as_u16(), r.text().await.unwrap())
    }

    /// Waits (at most 30 s) until `/readyz` answers 200: every node scanned once.
    pub async fn wait_ready(&self) {
        let until = tokio::time::Instant::now() + std::time::Duration::from_secs(30);
        while self.get("/readyz").await.0 != 200 {
            assert!(tokio::time::Instant::now() < until, "not ready within 30 s");
            tokio::time::sleep(std::time::Duration::from_millis(50)).await;
        }
    }
}

/// An exporter running in this process; its scans stop when it is dropped.
pub struct InProcess {
    /// `http://127.0.0.1:PORT`
    pub url: String,
    pub store: Arc<Store>,
    scheduler: tokio::task::JoinHandle<()>,
}

impl Drop for InProcess {
    fn drop(&mut self) {
        self.scheduler.abort();
    }
}

/// An exporter of `config`, scanning with `credentials`.
pub async fn exporter(config: &Config, credentials: Credentials) -> InProcess {
    exporter_with(config, credentials, |_, _, _| None).await
}

/// As [`exporter`], with a remediation webhook made by `remediation` (given the registry, the
/// store and the accounts the scans use).
pub async fn exporter_with(
    config: &Config,
    credentials: Credentials,
    remediation: impl FnOnce(
        &mut Registry,
        &Arc<Store>,
        &Arc<SharedAccounts>,
    ) -> Option<Arc<Remediator>>,
) -> InProcess {
    let provider = Provider::Static {
        source: CredentialSource::Env,
        credentials,
    };
    exporter_of(config, Arc::new(move |_| Ok(provider.clone())), remediation).await
}

/// An exporter of `config` whose accounts get their credentials from `credentials` (a
/// provider resolved from the configuration, for instance).
pub async fn exporter_of(
    config: &Config,
    credentials: CredentialsFn,
    remediation: impl FnOnce(
        &mut Registry,
        &Arc<Store>,
        &Arc<SharedAccounts>,
    ) -> Option<Arc<Remediator>>,
) -> InProcess {
    let store = Arc::new(Store::new());
    let (targets, mut registry, api) =
        dcs_session_exporter::metrics::registry(Arc::clone(&store), config.exporter.stale_after);
    let accounts = Arc::new(SharedAccounts::new(Accounts::new(
        config,
        &credentials,
        Some(api),
    )));
    registry.register_collector(Box::new(
        dcs_session_exporter::metrics::AccountsCollector::new(Arc::clone(&accounts)),
    ));
    let remediation = remediation(&mut registry, &store, &accounts);
    let scheduler = Scheduler::new(config, Arc::clone(&store), &accounts.load()).unwrap();
    let state = Arc::new(AppState {
        targets,
        registry,
        store: Arc::clone(&store),
        telemetry_path: "/metrics".into(),
        stale_after: config.exporter.stale_after,
        remediation,
        reload: None,
        encoded: Default::default(),
        accounts: Some(Arc::clone(&accounts)),
    });
    InProcess {
        url: serve(router(state)).await,
        store,
        scheduler: tokio::spawn(scheduler.run()),
    }
}

/// One sample of the exposition.
#[derive(Clone, Debug)]
pub struct Sample {
    pub name: String,
    pub labels: BTreeMap<String, String>,
    pub value: f64,
}

impl Sample {
    pub fn label(&self, name: &str) -> &str {
        self.labels.get(name).map_or("", String::as_str)
    }
}

/// Parses the classic text format (labels with escaped quotes and backslashes).
pub fn parse_exposition(text: &str) -> Vec<Sample> {
    let mut samples = Vec::new();
    for line in text
        .lines()
        .filter(|l| !l.starts_with('#') && !l.is_empty())
    {
        let (series, value) = line.rsplit_once(' ').unwrap();
        let value: f64 = match value {
            "+Inf" => f64::INFINITY,
            v => v.parse().unwrap(),
        };
        let (name, labels) = match series.split_once('{') {
            None => (series.to_string(), BTreeMap::new()),
            Some((name, rest)) => {
                let body = rest.strip_suffix('}').unwrap();
                let mut labels = BTreeMap::new();
                let mut chars = body.chars().peekable();
                while chars.peek().is_some() {
                    let key: String = chars.by_ref().take_while(|c| *c != '=').collect();
                    assert_eq!(chars.next(), Some('"'));
                    let mut value = String::new();
                    while let Some(c) = chars.next() {
                        match c {
                            '\\' => match chars.next().unwrap() {
                                'n' => value.push('\n'),
                                other => value.push(other),
                            },
                            '"' => break,
                            c => value.push(c),
                        }
                    }
                    labels.insert(key, value);
                    if chars.peek() == Some(&',') {
                        chars.next();
                    }
                }
                (name.to_string(), labels)
            }
        };
        samples.push(Sample {
            name,
            labels,
            value,
        });
    }
    samples
}
