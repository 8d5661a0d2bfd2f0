//! The exporter process: builds the scheduler, the metrics and the HTTP server from a
//! configuration, serves until asked to stop, and reloads the configuration on SIGHUP and
//! `POST /-/reload` (an invalid new configuration keeps the old one running).

use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::SystemTime;

use anyhow::Context;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::registry::Registry;
use tokio::sync::mpsc;

use crate::accounts::{Accounts, CredentialsFn, SharedAccounts, provider_from_env};
use crate::cloud::RequestObserver;
use crate::collect::{Scheduler, Shard};
use crate::config::Config;
use crate::server::{AppState, ReloadFailed, ReloadRequest};
use crate::snapshot::{Source, Store};

pub struct DaemonOptions {
    pub config: Option<PathBuf>,
    pub demo: bool,
    pub listen_address: SocketAddr,
    pub telemetry_path: String,
    pub shard: Option<Shard>,
    pub web_config: Option<PathBuf>,
    /// Serve `POST /-/reload` (SIGHUP always reloads).
    pub enable_lifecycle: bool,
    /// SIGHUP, caught from the process's first moments (its default action ends the process).
    pub hangups: Option<Hangups>,
}

/// SIGHUP as a stream of signals.
#[cfg(unix)]
pub type Hangups = tokio::signal::unix::Signal;
#[cfg(not(unix))]
pub type Hangups = ();

/// Catches SIGHUP; to be called before anything else, so an early signal cannot end the
/// process.
pub fn catch_hangups() -> Option<Hangups> {
    #[cfg(unix)]
    return tokio::signal::unix::signal(tokio::signal::unix::SignalKind::hangup()).ok();
    #[cfg(not(unix))]
    None
}

/// `dcs_exporter_config_last_reload_*`, as Prometheus itself names them.
#[derive(Clone, Default)]
struct ReloadMetrics {
    successful: Gauge,
    success_time: Gauge<f64, AtomicU64>,
}

impl ReloadMetrics {
    fn register(registry: &mut Registry) -> Self {
        let m = Self::default();
        registry.register(
            "dcs_exporter_config_last_reload_successful",
            "Whether the last configuration reload succeeded (1) or failed (0)",
            m.successful.clone(),
        );
        registry.register(
            "dcs_exporter_config_last_reload_success_timestamp_seconds",
            "When the configuration was last loaded successfully",
            m.success_time.clone(),
        );
        m.succeeded();
        m
    }

    fn succeeded(&self) {
        self.successful.set(1);
        let now = SystemTime::now()
            .duration_since(SystemTime::UNIX_EPOCH)
            .map_or(0.0, |d| d.as_secs_f64());
        self.success_time.set(now);
    }
}

/// Drops what a new configuration no longer names, so removed targets take their series
/// with them (the new scheduler's own loops keep their clouds tidy from then on).
fn prune(store: &Store, config: &Config) {
    store.update(|s| {
        crate::snapshot::retain(&mut s.nodes, |key, n| match &n.info.source {
            Source::Cloud(cloud) => config.clouds.iter().any(|c| &c.name == cloud),
            Source::Direct => crate::collect::direct_targets(config).iter().any(|t| {
                t.instance_id() == &*key.instance_id && t.direct_node() == Some(&*key.node_id)
            }),
        });
        s.last_discovery
            .retain(|cloud, _| config.clouds.iter().any(|c| &c.name == cloud));
        s.clock_offsets
            .retain(|cloud, _| config.clouds.iter().any(|c| &c.name == cloud));
        crate::snapshot::retain(&mut s.dbss, |id, _| {
            config.clouds.iter().any(|c| c.dbss_resources.contains(id))
        });
        crate::snapshot::retain(&mut s.instances, |_, i| {
            config.clouds.iter().any(|c| c.name == i.cloud)
        });
        crate::snapshot::retain(&mut s.slow_log_refused, |id, _| {
            s.instances.contains_key(id)
        });
        let direct = crate::collect::direct_targets(config);
        // Key series of direct targets that no longer walk their keys go; a cloud's own loop
        // keeps its instances'.
        crate::snapshot::retain(&mut s.keys, |id, _| {
            s.instances.contains_key(id)
                || config
                    .redis
                    .iter()
                    .any(|t| &t.name == id && t.key_scan.is_some())
        });
        crate::snapshot::retain(&mut s.slow_commands, |id, _| {
            direct
                .iter()
                .any(|t| t.reads_slow_log() && t.instance_id() == id)
                || s.instances.get(id).is_some_and(|i| i.slow_log)
        });
    });
}

/// What the exporter needs from its environment beyond the configuration file: every cloud's
/// credentials, the webhook's token, every Redis password. One check for the daemon's start and
/// `check-config`, so that both refuse the same things; each problem is a line.
pub fn preflight(config: &Config, credentials: &CredentialsFn) -> Vec<String> {
    let mut problems = Vec::new();
    for cloud in &config.clouds {
        if let Err(e) = credentials(cloud) {
            problems.push(format!("cloud {}: {e}", cloud.name));
        }
    }
    if let Some(settings) = &config.remediation
        && let Err(e) = crate::remediation::read_token(&settings.token)
    {
        problems.push(e.to_string());
    }
    for target in crate::collect::direct_targets(config) {
        if let Err(e) = target.preflight() {
            problems.push(e.to_string());
        }
    }
    problems
}

/// The configuration cannot run here (credentials, token or password missing).
#[derive(Debug, thiserror::Error)]
#[error("{}", .0.join("; "))]
pub struct Unrunnable(pub Vec<String>);

pub async fn run(options: DaemonOptions) -> anyhow::Result<()> {
    check_telemetry_path(&options.telemetry_path)?;
    let web = match &options.web_config {
        Some(path) => Some(crate::web_config::WebConfig::from_file(path)?),
        None => None,
    };
    let demo = if options.demo {
        let demo = crate::demo::start(crate::demo::topology()).await?;
        println!(
            "demo: simulated DCS and DBSS APIs on {}",
            demo.simulator_url
        );
        Some(demo)
    } else {
        None
    };
    let config = match (&demo, &options.config) {
        (Some(demo), _) => demo.config.clone(),
        (None, Some(path)) => Config::from_file(path)?,
        (None, None) => anyhow::bail!("--config or --demo is required"),
    };
    // The demo's account takes its credentials from the simulator's metadata service.
    let credentials: CredentialsFn = Arc::new(provider_from_env);
    let problems = preflight(&config, &credentials);
    if !problems.is_empty() {
        return Err(Unrunnable(problems).into());
    }
    let store = Arc::new(Store::new());
    let (targets, mut registry, api_metrics) =
        crate::metrics::registry(Arc::clone(&store), config.exporter.stale_after);
    let observer: Arc<dyn RequestObserver> = api_metrics;
    let accounts = Arc::new(SharedAccounts::new(Accounts::new(
        &config,
        &credentials,
        Some(Arc::clone(&observer)),
    )));
    registry.register_collector(Box::new(crate::metrics::AccountsCollector::new(
        Arc::clone(&accounts),
    )));
    let reload_metrics = ReloadMetrics::register(&mut registry);
    let remediation = start_remediation(&config, &accounts, &store, &mut registry)?;
    let mut running = Running {
        config,
        store: Arc::clone(&store),
        accounts: Arc::clone(&accounts),
        credentials,
        observer,
        shard: options.shard,
        metrics: reload_metrics,
    };
    let scheduler = running.scheduler(&running.config, &accounts.load())?;
    // The demo's configuration is built in: nothing to reload.
    let (reload_tx, mut reload_rx) = mpsc::channel::<ReloadRequest>(4);
    let reloadable = options.config.is_some() && demo.is_none();
    let state = Arc::new(AppState {
        targets,
        registry,
        store: Arc::clone(&store),
        telemetry_path: options.telemetry_path.clone(),
        stale_after: running.config.exporter.stale_after,
        remediation,
        reload: (reloadable && options.enable_lifecycle).then(|| reload_tx.clone()),
        encoded: Default::default(),
        accounts: Some(Arc::clone(&accounts)),
    });
    spawn_sighup_listener(options.hangups, reloadable.then_some(reload_tx));
    if let Some(shard) = options.shard {
        tracing::info!(
            index = shard.index,
            count = shard.count,
            "scanning one shard of the targets"
        );
    }
    let server = serve(
        options.listen_address,
        &options.telemetry_path,
        web.as_ref(),
        state,
    )?;
    tokio::pin!(server);
    spawn_memory_release();
    let mut scheduler_task = tokio::spawn(scheduler.run());
    loop {
        tokio::select! {
            served = &mut server => {
                scheduler_task.abort();
                return served.context("serving the metrics");
            }
            Some(reply) = reload_rx.recv() => {
                let path = options.config.as_ref().expect("only a file configuration is reloaded");
                let outcome = running.reload(path, &mut scheduler_task).await;
                let _ = reply.send(outcome);
            }
        }
    }
}

/// The telemetry path must be a plain path that no other endpoint takes.
fn check_telemetry_path(path: &str) -> anyhow::Result<()> {
    let reserved = [
        "/",
        "/healthz",
        "/readyz",
        "/-/reload",
        crate::remediation::WEBHOOK_PATH,
    ];
    if !path.starts_with('/')
        || path.contains(['{', '}', '*', '?', '#'])
        || reserved.contains(&path)
    {
        anyhow::bail!(
            "--web.telemetry-path {path:?} must be a plain path starting with / and not one of {}",
            reserved.join(", ")
        );
    }
    Ok(())
}

/// The remediation webhook, when the configuration turns it on.
fn start_remediation(
    config: &Config,
    accounts: &Arc<SharedAccounts>,
    store: &Arc<Store>,
    registry: &mut Registry,
) -> anyhow::Result<Option<Arc<crate::remediation::Remediator>>> {
    let Some(settings) = &config.remediation else {
        return Ok(None);
    };
    let token = crate::remediation::read_token(&settings.token)?;
    tracing::warn!(
        dry_run = settings.dry_run,
        allowed = settings.allow.len(),
        "the remediation webhook is on at {}",
        crate::remediation::WEBHOOK_PATH
    );
    Ok(crate::remediation::Remediator::new(
        config,
        token,
        Arc::clone(accounts),
        Arc::clone(store),
        registry,
    ))
}

/// Binds the listener and returns the server, which runs until SIGINT or SIGTERM.
fn serve(
    listen_address: SocketAddr,
    telemetry_path: &str,
    web: Option<&crate::web_config::WebConfig>,
    state: Arc<AppState>,
) -> anyhow::Result<impl std::future::Future<Output = std::io::Result<()>>> {
    let router = match web {
        Some(web) => web.protect(crate::server::router(state))?,
        None => crate::server::router(state),
    };
    let listener = crate::server::listener::bind(listen_address)?;
    let tls = web.and_then(crate::web_config::WebConfig::tls);
    let shown = crate::server::listener::shown_url(&listener, tls.is_some())?;
    tracing::info!(address = %listener.local_addr()?, tls = tls.is_some(), "exporter listening");
    println!("exporter listening on {shown}{telemetry_path} (landing page {shown}/)");
    Ok(crate::server::listener::serve(
        listener,
        router,
        tls,
        crate::server::listener::Limits::default(),
        shutdown_signal(),
    ))
}

/// What scans free (page bodies, aggregations) goes back to the system between them.
fn spawn_memory_release() {
    tokio::spawn(async {
        let mut every = tokio::time::interval(RELEASE_MEMORY_EVERY);
        loop {
            every.tick().await;
            let _ = tokio::task::spawn_blocking(crate::memory::release_free_memory).await;
        }
    });
}

/// What a reload replaces or keeps.
struct Running {
    config: Config,
    store: Arc<Store>,
    accounts: Arc<SharedAccounts>,
    credentials: CredentialsFn,
    observer: Arc<dyn RequestObserver>,
    shard: Option<Shard>,
    metrics: ReloadMetrics,
}

impl Running {
    fn scheduler(&self, config: &Config, accounts: &Accounts) -> anyhow::Result<Scheduler> {
        Ok(Scheduler::new(config, Arc::clone(&self.store), accounts)?.with_shard(self.shard))
    }

    /// Reads the file again and, when it is valid, swaps in its accounts and scheduler; an
    /// invalid file keeps everything as it was.
    async fn reload(
        &mut self,
        path: &std::path::Path,
        scheduler_task: &mut tokio::task::JoinHandle<()>,
    ) -> Result<(), ReloadFailed> {
        let outcome = Config::from_file(path)
            .map_err(anyhow::Error::from)
            .and_then(|new| {
                if new.remediation != self.config.remediation {
                    tracing::warn!("changes to [remediation] take effect at the next restart");
                }
                // Accounts whose settings and credentials did not change keep their
                // client, and so their rate and throttling state.
                let renewed = self.accounts.load().renew(
                    &new,
                    &self.credentials,
                    Some(Arc::clone(&self.observer)),
                );
                self.scheduler(&new, &renewed).map(|s| (new, s, renewed))
            });
        match outcome {
            Ok((new, scheduler, renewed)) => {
                self.accounts.store(Arc::new(renewed));
                scheduler_task.abort();
                // Let it end, so no scan of the old configuration writes after the prune.
                let _ = (&mut *scheduler_task).await;
                prune(&self.store, &new);
                if new.exporter.stale_after != self.config.exporter.stale_after {
                    tracing::warn!("a new stale_after takes effect at the next restart");
                }
                self.config = new;
                *scheduler_task = tokio::spawn(scheduler.run());
                self.metrics.succeeded();
                self.store.touch();
                tracing::info!(path = %path.display(), "configuration reloaded");
                Ok(())
            }
            Err(e) => {
                self.metrics.successful.set(0);
                self.store.touch();
                tracing::error!(path = %path.display(), "reload failed, keeping the previous configuration: {e:#}");
                Err(ReloadFailed(format!("{e:#}")))
            }
        }
    }
}

/// Turns SIGHUP into reload requests; without a file to reload, it is logged and ignored.
fn spawn_sighup_listener(hangups: Option<Hangups>, requests: Option<mpsc::Sender<ReloadRequest>>) {
    #[cfg(unix)]
    tokio::spawn(async move {
        let Some(mut hangups) = hangups else {
            return;
        };
        while hangups.recv().await.is_some() {
            let Some(requests) = &requests else {
                tracing::info!("SIGHUP ignored: there is no configuration file to reload");
                continue;
            };
            let (reply, _outcome) = tokio::sync::oneshot::channel();
            if requests.send(reply).await.is_err() {
                return;
            }
        }
    });
    #[cfg(not(unix))]
    drop((hangups, requests));
}

/// Completes on SIGINT or SIGTERM.
pub async fn shutdown_signal() {
    let interrupt = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = interrupt => {},
        _ = terminate => {},
    }
    tracing::info!("shutting down");
}

/// How often free memory is handed back to the system.
const RELEASE_MEMORY_EVERY: std::time::Duration = std::time::Duration::from_secs(10);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reload_drops_the_slow_commands_of_targets_it_no_longer_reads() {
        let config = Config::from_toml(
            r#"
            [[redis]]
            name = "kept"
            url = "redis://127.0.0.1:6379"
            [[redis]]
            name = "quiet"
            url = "redis://127.0.0.1:6380"
            slow_log = false
            "#,
        )
        .unwrap();
        let store = Store::default();
        store.update(|s| {
            for id in ["kept", "quiet", "removed"] {
                s.slow_commands.insert(id.into(), Default::default());
            }
        });
        prune(&store, &config);
        let left: Vec<String> = store.load().slow_commands.keys().cloned().collect();
        assert_eq!(left, ["kept"]);
    }
}
