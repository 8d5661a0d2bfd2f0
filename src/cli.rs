//! The command line: `simulate` serves the simulated APIs.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use anyhow::Context;
use clap::{Parser, Subcommand, ValueEnum};

use crate::accounts::{Accounts, CredentialsFn, provider_from_env};
use crate::cloud::Credentials;
use crate::cloud::dcs::SortOrder;
use crate::collect::Shard;
use crate::config::Config;
use crate::logging::LogFormat;
use crate::operator::{self, OutputFormat, Refused};
use crate::server::{DEFAULT_LISTEN_ADDRESS, DEFAULT_TELEMETRY_PATH};
use crate::sim::{SimConfig, Simulator, Topology};

#[derive(Parser, Debug)]
#[command(
    name = "dcs-session-exporter",
    version,
    about = "Prometheus exporter of Huawei Cloud DCS client sessions and DBSS jobs"
)]
pub struct Cli {
    /// Log level: error, warn, info, debug or trace (or a tracing filter).
    #[arg(long = "log.level", default_value = "info", global = true)]
    log_level: String,
    /// Log format: logfmt (ts=... level=... msg="..." key=value) or json.
    #[arg(long = "log.format", value_enum, default_value_t = LogFormat::Logfmt, global = true)]
    log_format: LogFormat,
    #[command(flatten)]
    run: RunArgs,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(clap::Args, Debug)]
struct RunArgs {
    /// The configuration file (TOML).
    #[arg(long, conflicts_with = "demo")]
    config: Option<PathBuf>,
    /// Run against a built-in simulator: no cloud account needed.
    #[arg(long)]
    demo: bool,
    /// Address to serve the metrics on.
    #[arg(long = "web.listen-address", default_value = DEFAULT_LISTEN_ADDRESS)]
    listen_address: SocketAddr,
    /// Path of the metrics.
    #[arg(long = "web.telemetry-path", default_value = DEFAULT_TELEMETRY_PATH)]
    telemetry_path: String,
    /// TLS and basic auth, in the Prometheus exporter-toolkit's web config format.
    #[arg(long = "web.config.file")]
    web_config: Option<PathBuf>,
    /// Serve POST /-/reload (off by default, as in Prometheus: anyone who can reach the port
    /// could make the exporter start over; SIGHUP always reloads).
    #[arg(long = "web.enable-lifecycle")]
    enable_lifecycle: bool,
    /// Split the targets between this many replicas (by a stable hash of instance and node).
    #[arg(long = "shard.count", value_parser = clap::value_parser!(u32).range(1..))]
    shard_count: Option<u32>,
    /// This replica's shard, from 0; by default the ordinal at the end of $HOSTNAME (a
    /// StatefulSet's pod name).
    #[arg(long = "shard.index")]
    shard_index: Option<u32>,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the simulated DCS and DBSS APIs (signed with CLOUD_SDK_AK / CLOUD_SDK_SK).
    Simulate(SimulateArgs),
    /// Validate a configuration file and print what would be scanned, with the API calls it
    /// costs against each account's requests_per_second.
    CheckConfig {
        #[arg(long)]
        config: PathBuf,
        /// Look the instances and nodes up (a few API calls an instance) and plan for them.
        #[arg(long)]
        discover: bool,
    },
    /// List a node's sessions (a fresh scan unless --cached).
    Clients(ClientsArgs),
    /// End every session of a node, or of every node of an instance.
    KillAll(KillAllArgs),
    /// Show an instance's newest big-key, hot-key and key-prefix analyses, or start one (--run).
    Keys(crate::operator_keys::KeysArgs),
}

#[derive(clap::Args, Debug)]
struct TargetArgs {
    #[arg(long)]
    config: PathBuf,
    /// A DCS instance id, or the name of a [[redis]] target.
    #[arg(long)]
    instance: String,
    /// The cloud of the instance, when the configuration cannot tell.
    #[arg(long)]
    cloud: Option<String>,
}

#[derive(clap::Args, Debug)]
struct ClientsArgs {
    #[command(flatten)]
    target: TargetArgs,
    /// The node (needed when the instance has several that take clients).
    #[arg(long)]
    node: Option<String>,
    /// Sort by a session field (idle, age, omem, addr, ...).
    #[arg(long)]
    sort: Option<String>,
    #[arg(long, value_enum)]
    order: Option<Order>,
    /// Only sessions from this IP (or ip:port).
    #[arg(long)]
    addr: Option<String>,
    /// One page of at most this many sessions (1 to 1000); all sessions when neither
    /// --limit nor --offset is given.
    #[arg(long, value_parser = clap::value_parser!(u32).range(1..=1000))]
    limit: Option<u32>,
    #[arg(long)]
    offset: Option<u64>,
    /// Read the stored list as it is instead of scanning first.
    #[arg(long)]
    cached: bool,
    #[arg(long, value_enum, default_value_t = OutputFormat::Table)]
    output: OutputFormat,
}

#[derive(Clone, Copy, Debug, ValueEnum)]
enum Order {
    Asc,
    Desc,
}

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("which").required(true).args(["node", "all_nodes"])))]
struct KillAllArgs {
    #[command(flatten)]
    target: TargetArgs,
    #[arg(long)]
    node: Option<String>,
    /// Every node of the instance that takes clients.
    #[arg(long)]
    all_nodes: bool,
    /// Do not ask for confirmation.
    #[arg(long)]
    yes: bool,
    /// Show what would be ended, and end nothing.
    #[arg(long)]
    dry_run: bool,
}

/// Exit status of a kill that was declined (a failure is 1, a usage error 2).
const EXIT_REFUSED: u8 = 3;

#[derive(clap::Args, Debug)]
struct SimulateArgs {
    /// Address to listen on.
    #[arg(long, default_value = "127.0.0.1:18080")]
    listen: SocketAddr,
    /// Only this project id is served; any project id when not given.
    #[arg(long = "project-id")]
    project_id: Option<String>,
    /// Topology file (TOML); the built-in demo topology when not given.
    #[arg(long)]
    topology: Option<PathBuf>,
    /// Overrides the topology's seed.
    #[arg(long)]
    seed: Option<u64>,
    /// Overrides how long scan and kill jobs take (e.g. "2s", "500ms").
    #[arg(long = "job-duration", value_parser = humantime::parse_duration)]
    job_duration: Option<Duration>,
    /// Overrides the sessions on every node that takes clients.
    #[arg(long = "sessions-per-node")]
    sessions_per_node: Option<u32>,
    /// Requests a second before answering 429 APIG.0308; unlimited when not given.
    #[arg(long = "rate-limit")]
    rate_limit: Option<u32>,
    /// Accepted difference between a request's X-Sdk-Date and this clock.
    #[arg(long = "max-clock-skew", value_parser = humantime::parse_duration, default_value = "15m")]
    max_clock_skew: Duration,
    /// Runs the service's clock this far from this machine's ("-20s" is behind, "5m" ahead):
    /// stored lists, jobs and the Date of answers follow it.
    #[arg(long = "clock-offset", value_parser = parse_signed_duration, allow_hyphen_values = true, default_value = "0s")]
    clock_offset_ms: i64,
    /// How long the temporary credentials it issues last (metadata service, pod identity, STS,
    /// IAM); the topology's credential_lifetime, else the duration each request asks for.
    #[arg(long = "credential-lifetime", value_parser = humantime::parse_duration)]
    credential_lifetime: Option<Duration>,
    /// Serves the metadata service without session tokens, as older ones do (404 on the token
    /// call).
    #[arg(long = "metadata-without-tokens")]
    metadata_without_tokens: bool,
    /// The simulated node has no agency: the metadata service refuses with its 401.
    #[arg(long = "no-agency")]
    no_agency: bool,
}

/// `-20s` or `5m`, in milliseconds.
fn parse_signed_duration(text: &str) -> Result<i64, SignedDurationError> {
    let (sign, magnitude) = match text.strip_prefix('-') {
        Some(rest) => (-1, rest),
        None => (1, text.strip_prefix('+').unwrap_or(text)),
    };
    let d = humantime::parse_duration(magnitude)?;
    i64::try_from(d.as_millis())
        .map(|ms| sign * ms)
        .map_err(|_| SignedDurationError::TooLarge)
}

/// A `--clock-offset` that is no duration.
#[derive(Debug, thiserror::Error)]
enum SignedDurationError {
    #[error(transparent)]
    Duration(#[from] humantime::DurationError),
    #[error("too large")]
    TooLarge,
}

pub fn main() -> ExitCode {
    let cli = Cli::parse();
    if let Err(e) = crate::logging::init(&cli.log_level, cli.log_format) {
        eprintln!("error: {e:#}");
        return ExitCode::from(2);
    }
    let runtime = match tokio::runtime::Runtime::new() {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("error: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let result = runtime.block_on(async {
        // Before anything else: SIGHUP's default action would end the exporter.
        let hangups = match cli.command {
            None => crate::daemon::catch_hangups(),
            Some(_) => None,
        };
        match cli.command {
            Some(Command::Simulate(args)) => simulate(args).await,
            Some(Command::CheckConfig { config, discover }) => {
                check_config(&config, discover).await
            }
            Some(Command::Clients(args)) => clients(args).await,
            Some(Command::KillAll(args)) => kill_all(args).await,
            Some(Command::Keys(args)) => crate::operator_keys::keys(args).await,
            None => run(cli.run, hangups).await,
        }
    });
    // Work still running on the blocking pool (a password check) does not hold the exit.
    runtime.shutdown_timeout(Duration::from_secs(1));
    match result {
        Ok(()) => ExitCode::SUCCESS,
        // An invalid configuration is a usage error, as clap's own.
        Err(e) if e.downcast_ref::<crate::config::ConfigError>().is_some() => {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
        Err(e) if e.downcast_ref::<Refused>().is_some() => {
            eprintln!("{e}");
            ExitCode::from(EXIT_REFUSED)
        }
        Err(e)
            if e.downcast_ref::<crate::collect::TargetError>()
                .is_some_and(crate::collect::TargetError::is_usage) =>
        {
            eprintln!("error: {e:#}");
            ExitCode::from(2)
        }
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(args: RunArgs, hangups: Option<crate::daemon::Hangups>) -> anyhow::Result<()> {
    let shard = match (args.shard_count, args.shard_index) {
        (None, None) => None,
        (None, Some(_)) => anyhow::bail!("--shard.index needs --shard.count"),
        (Some(count), index) => {
            let index = match index {
                Some(i) => i,
                None => {
                    let host = std::env::var("HOSTNAME").unwrap_or_default();
                    Shard::ordinal_from_hostname(&host).with_context(|| {
                        format!("--shard.index is not given and the host name {host:?} ends in no pod ordinal")
                    })?
                }
            };
            Some(Shard::new(index, count)?)
        }
    };
    crate::daemon::run(crate::daemon::DaemonOptions {
        config: args.config,
        demo: args.demo,
        listen_address: args.listen_address,
        telemetry_path: args.telemetry_path,
        shard,
        web_config: args.web_config,
        enable_lifecycle: args.enable_lifecycle,
        hangups,
    })
    .await
}

fn resolve_target(args: &TargetArgs) -> anyhow::Result<crate::collect::Target> {
    let config = Config::from_file(&args.config)?;
    let credentials: CredentialsFn = std::sync::Arc::new(provider_from_env);
    let accounts = Accounts::new(&config, &credentials, None);
    Ok(operator::resolve(
        &accounts,
        &args.instance,
        args.cloud.as_deref(),
    )?)
}

async fn clients(args: ClientsArgs) -> anyhow::Result<()> {
    let target = resolve_target(&args.target)?;
    let options = crate::collect::ListOptions {
        node: args.node,
        sort: args.sort,
        order: args.order.map(|o| match o {
            Order::Asc => SortOrder::Asc,
            Order::Desc => SortOrder::Desc,
        }),
        addr: args.addr,
        limit: args.limit,
        offset: args.offset,
        cached: args.cached,
    };
    let listing = target.list(&options).await?;
    print!("{}", operator::render(&listing, args.output));
    Ok(())
}

async fn kill_all(args: KillAllArgs) -> anyhow::Result<()> {
    use std::io::{BufRead, IsTerminal, Write};
    let target = resolve_target(&args.target)?;
    let plan = target
        .plan_kill_all(args.node.as_deref(), args.all_nodes)
        .await?;
    println!(
        "{} session(s) on {} will be ended.",
        plan.sessions, plan.description
    );
    if args.dry_run {
        println!("dry run: nothing was ended.");
        return Ok(());
    }
    if !args.yes {
        if !std::io::stdin().is_terminal() {
            return Err(Refused(
                "not asking on a non-terminal: pass --yes to end the sessions".into(),
            )
            .into());
        }
        print!("Type yes to end them: ");
        std::io::stdout().flush()?;
        let mut answer = String::new();
        std::io::stdin().lock().read_line(&mut answer)?;
        if answer.trim() != "yes" {
            return Err(Refused("declined: nothing was ended".into()).into());
        }
    }
    let outcome = target.kill_all(&plan).await?;
    println!("{outcome}");
    Ok(())
}

/// Obtains a temporary source's credentials once and prints when they expire (never a value);
/// a failure is returned as a problem.
async fn credential_expiry(
    cloud: &str,
    proxy: Option<&str>,
    provider: crate::cloud::credentials::Provider,
) -> Vec<String> {
    let obtained = async {
        let fetcher =
            crate::cloud::credentials::providers::Fetcher::new(proxy).map_err(|e| e.to_string())?;
        fetcher.fetch(&provider).await.map_err(|e| e.to_string())
    }
    .await;
    match obtained {
        Ok(credentials) => {
            if let Some(end) = credentials.expires_at {
                let left = end
                    .duration_since(std::time::SystemTime::now())
                    .unwrap_or_default();
                println!(
                    "  obtained temporary credentials: they expire at {} (in {}), renewed before",
                    humantime::format_rfc3339_seconds(end),
                    humantime::format_duration(std::time::Duration::from_secs(left.as_secs()))
                );
            }
            Vec::new()
        }
        Err(e) => vec![format!("cloud {cloud}: cannot obtain credentials now: {e}")],
    }
}

async fn check_config(path: &std::path::Path, discover: bool) -> anyhow::Result<()> {
    let config = Config::from_file(path)?;
    let mut unobtainable = Vec::new();
    let e = &config.exporter;
    println!("{}: valid", path.display());
    println!(
        "every {} (timeout {}, stale after {}), {} scans at once, top {} clients, {} client addresses a node",
        humantime::format_duration(e.scan_interval),
        humantime::format_duration(e.scan_timeout),
        humantime::format_duration(e.stale_after),
        e.max_concurrent_scans,
        e.top_clients,
        e.max_client_addrs
    );
    for cloud in &config.clouds {
        println!(
            "cloud {} (project {}, {} requests/s): DCS {} DBSS {}",
            cloud.name,
            cloud.project_id,
            cloud.requests_per_second,
            cloud.endpoints.dcs,
            cloud.endpoints.dbss
        );
        match provider_from_env(cloud) {
            Ok(provider) => {
                println!("  credentials: {}", provider.describe());
                if provider.is_temporary() {
                    let mut fetch_problems =
                        credential_expiry(&cloud.name, cloud.proxy.as_deref(), provider).await;
                    unobtainable.append(&mut fetch_problems);
                }
            }
            Err(e) => println!(
                "  credentials: {} (not usable here: {e})",
                cloud.credential_source.as_str()
            ),
        }
        if let Some(keys) = &cloud.key_analysis {
            println!("  {}", keys.describe());
        }
        if let Some(d) = &cloud.discovery {
            match &d.name_pattern {
                Some(p) => println!("  every DCS instance whose name matches /{p}/"),
                None => println!("  every DCS instance of the project"),
            }
        }
        for i in &cloud.dcs_instances {
            if i.nodes.is_empty() {
                println!("  DCS instance {}: the nodes that take clients", i.id);
            } else {
                println!("  DCS instance {}: nodes {}", i.id, i.nodes.join(", "));
            }
        }
        for r in &cloud.dbss_resources {
            println!("  DBSS resource {r}");
        }
        print!(
            "{}",
            crate::collect::budget_report(&config, cloud, discover).await
        );
    }
    for target in crate::collect::direct_targets(&config) {
        println!("{}", target.describe());
    }
    if let Some(r) = &config.remediation {
        let token = match &r.token {
            crate::config::TokenSource::Env(var) => format!("variable {var}"),
            crate::config::TokenSource::File(path) => format!("file {}", path.display()),
        };
        println!(
            "remediation webhook at {}: {}, cooldown {} a node, at most {} actions an hour, token from {token}",
            crate::remediation::WEBHOOK_PATH,
            if r.dry_run {
                "dry run (acts on nothing)"
            } else {
                "acting"
            },
            humantime::format_duration(r.cooldown),
            r.max_actions_per_hour
        );
        for a in &r.allow {
            println!("  may act on instance {} node {}", a.instance_id, a.node_id);
        }
    }
    let credentials: CredentialsFn = std::sync::Arc::new(provider_from_env);
    let problems = crate::daemon::preflight(&config, &credentials);
    if !problems.is_empty() {
        return Err(anyhow::Error::from(crate::daemon::Unrunnable(problems))
            .context("valid, but the exporter cannot start here"));
    }
    if !unobtainable.is_empty() {
        return Err(anyhow::Error::from(crate::daemon::Unrunnable(unobtainable))
            .context("valid, but its credentials cannot be obtained now"));
    }
    Ok(())
}

async fn simulate(args: SimulateArgs) -> anyhow::Result<()> {
    let credentials =
        Credentials::from_env().context("the simulator needs credentials to verify")?;
    let mut topology = match &args.topology {
        Some(path) => Topology::from_file(path)?,
        None => Topology::demo(),
    };
    if let Some(seed) = args.seed {
        topology.seed = seed;
    }
    if let Some(d) = args.job_duration {
        topology.job_duration = d;
    }
    if let Some(lifetime) = args.credential_lifetime {
        topology.credential_lifetime = Some(lifetime);
    }
    if let Some(n) = args.sessions_per_node {
        for instance in &mut topology.instances {
            instance.sessions_per_node = n;
        }
    }
    topology.validate()?;
    let mut config = SimConfig::new(credentials, topology);
    config.project_id = args.project_id;
    config.rate_limit = args.rate_limit;
    config.max_clock_skew = args.max_clock_skew;
    config.clock_offset_ms = args.clock_offset_ms;
    config.credential_services.metadata_tokens = !args.metadata_without_tokens;
    config.credential_services.agency_attached = !args.no_agency;
    let sim = Simulator::new(config);
    let listener = tokio::net::TcpListener::bind(args.listen)
        .await
        .with_context(|| format!("cannot listen on {}", args.listen))?;
    let local = listener.local_addr()?;
    tracing::info!(address = %local, "simulator listening");
    for id in sim.with_state(|s| s.instance_ids()) {
        tracing::info!(instance_id = %id, "simulated instance");
    }
    println!("simulator listening on http://{local}");
    sim.serve(listener, crate::daemon::shutdown_signal())
        .await?;
    Ok(())
}
