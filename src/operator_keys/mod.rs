//! `keys`: the newest of DCS's big-key, hot-key and offline key analyses of an instance, each
//! key named in full (the operator asked for it) beside the hash digits the `hash` naming puts
//! in labels; `--run` starts a big-key or hot-key analysis, with the exporter's guards, and
//! waits for it.

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use tokio::time::Instant;

use crate::accounts::{Accounts, CredentialsFn, provider_from_env};
use crate::cloud::ApiClient;
use crate::cloud::dcs::{AnalysisKind, KeyScan, KeyTaskDetail, KeyTaskRecord};
use crate::config::{Cloud, Config};
use crate::keys::newest_success;
use crate::keys::trigger::{StartFacts, may_start};
use crate::operator::{OutputFormat, Refused, instance_cloud};
use report::{Analysis, Report, key_analysis, prefix_analysis, render};

mod report;

/// How long one call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// The longest pause between two reads of a started analysis.
const MAX_POLL_PAUSE: Duration = Duration::from_secs(10);

#[derive(clap::Args, Debug)]
#[command(group(clap::ArgGroup::new("kind").args(["big", "hot", "prefix"])))]
#[command(group(clap::ArgGroup::new("startable").args(["big", "hot"])))]
pub struct KeysArgs {
    #[arg(long)]
    config: PathBuf,
    /// A DCS instance id.
    #[arg(long)]
    instance: String,
    /// The cloud of the instance, when the configuration cannot tell.
    #[arg(long)]
    cloud: Option<String>,
    /// Big keys only.
    #[arg(long)]
    big: bool,
    /// Hot keys only.
    #[arg(long)]
    hot: bool,
    /// Key prefixes (the newest offline analysis of a backup) only.
    #[arg(long)]
    prefix: bool,
    /// Start a big-key or hot-key analysis (with --big or --hot), wait for it and print it.
    #[arg(long, requires = "startable")]
    run: bool,
    /// How long --run waits for the analysis to finish.
    #[arg(long, value_parser = humantime::parse_duration, default_value = "10m")]
    timeout: Duration,
    #[arg(long, conflicts_with = "csv")]
    json: bool,
    #[arg(long)]
    csv: bool,
}

/// A deadline for one call, within `until`.
fn call_deadline(until: Instant) -> Instant {
    (Instant::now() + CALL_TIMEOUT).min(until)
}

pub async fn keys(args: KeysArgs) -> anyhow::Result<()> {
    let config = Config::from_file(&args.config)?;
    if args.cloud.is_none()
        && crate::collect::direct_targets(&config)
            .iter()
            .any(|t| t.instance_id() == args.instance)
    {
        anyhow::bail!(
            "{} is a [[redis]] target: keys shows DCS's own analyses of a DCS instance",
            args.instance
        );
    }
    let credentials: CredentialsFn = Arc::new(provider_from_env);
    let accounts = Accounts::new(&config, &credentials, None);
    let cloud = instance_cloud(&accounts, &args.instance, args.cloud.as_deref())?;
    let api = accounts.client(&cloud.name)?;
    let format = match (args.json, args.csv) {
        (true, _) => OutputFormat::Json,
        (_, true) => OutputFormat::Csv,
        _ => OutputFormat::Table,
    };
    let id = args.instance.as_str();
    let analyses = if args.run {
        let scan = if args.hot { KeyScan::Hot } else { KeyScan::Big };
        let detail = run(api, cloud, id, scan, args.timeout).await?;
        vec![key_analysis(scan.analysis(), &detail)]
    } else {
        let kinds: Vec<AnalysisKind> = match (args.big, args.hot, args.prefix) {
            (true, _, _) => vec![AnalysisKind::Big],
            (_, true, _) => vec![AnalysisKind::Hot],
            (_, _, true) => vec![AnalysisKind::Prefix],
            _ => AnalysisKind::ALL.to_vec(),
        };
        let mut analyses = Vec::new();
        for kind in kinds {
            analyses.push(newest(api, id, kind).await);
        }
        analyses
    };
    let failed = analyses.iter().filter(|a| a.error.is_some()).count();
    let report = Report {
        instance_id: id.to_string(),
        analyses,
    };
    print!("{}", render(&report, format));
    if failed > 0 {
        anyhow::bail!("{failed} of the analyses could not be read");
    }
    Ok(())
}

/// The newest successful analysis of a kind; a failed read is said in its `error`.
async fn newest(api: &ApiClient, instance_id: &str, kind: AnalysisKind) -> Analysis {
    let until = Instant::now() + CALL_TIMEOUT * 2;
    let read = async {
        let records = api
            .list_key_tasks(instance_id, kind, call_deadline(until))
            .await?;
        let Some(task_id) = newest_success(&records).and_then(|r| r.id.clone()) else {
            return Ok(None);
        };
        let deadline = call_deadline(until);
        Ok::<_, crate::cloud::ApiError>(Some(match kind {
            AnalysisKind::Prefix => prefix_analysis(
                &api.show_offline_analysis(instance_id, &task_id, deadline)
                    .await?,
            ),
            _ => key_analysis(
                kind,
                &api.show_key_task(instance_id, kind, &task_id, deadline)
                    .await?,
            ),
        }))
    };
    match read.await {
        Ok(Some(analysis)) => analysis,
        Ok(None) => Analysis::none(kind),
        Err(e) => Analysis {
            analysis: kind.as_str(),
            error: Some(e.to_string()),
            ..Analysis::default()
        },
    }
}

/// Starts an analysis when the guards allow it, and waits (until `timeout`) for it to finish.
/// A refusal, the exporter's or the service's, is a [`Refused`].
async fn run(
    api: &ApiClient,
    cloud: &Cloud,
    instance_id: &str,
    scan: KeyScan,
    timeout: Duration,
) -> anyhow::Result<KeyTaskDetail> {
    let until = Instant::now() + timeout;
    let kind = scan.analysis().as_str();
    let details = api
        .show_instance(instance_id, call_deadline(until))
        .await
        .context("reading the instance's details")?;
    let architecture = crate::collect::architecture(details.spec_code.as_deref().unwrap_or(""));
    let policy = match scan {
        KeyScan::Big => None,
        KeyScan::Hot => match api
            .list_configurations(instance_id, call_deadline(until))
            .await
        {
            Ok(configs) => configs
                .parameter("maxmemory-policy")
                .map(|p| crate::upstream_text::clean(p, &[])),
            Err(e) => {
                eprintln!("reading the instance's parameters: {e}");
                None
            }
        },
    };
    let tasks: Vec<KeyTaskRecord> = api
        .list_key_tasks(instance_id, scan.analysis(), call_deadline(until))
        .await?;
    let facts = StartFacts {
        architecture,
        maxmemory_policy: policy.as_deref(),
        tasks: &tasks,
        on_single_node: cloud
            .key_analysis
            .as_ref()
            .is_some_and(|k| k.trigger.on_single_node),
    };
    if let Err(refusal) = may_start(scan, &facts) {
        return Err(Refused(format!(
            "no {kind} key analysis started ({}): {refusal}",
            refusal.reason()
        ))
        .into());
    }
    let started = match api
        .start_key_task(instance_id, scan, call_deadline(until))
        .await
    {
        Ok(task) => task,
        Err(e) if e.reason().is_code() => {
            return Err(Refused(format!(
                "the service refused the {kind} key analysis ({}): {e}",
                e.reason()
            ))
            .into());
        }
        Err(e) => return Err(e.into()),
    };
    let task_id = started
        .id
        .filter(|id| !id.trim().is_empty())
        .context("the service started an analysis but answered no task id")?;
    eprintln!(
        "started {kind} key analysis {task_id}; waiting up to {}",
        humantime::format_duration(timeout)
    );
    let mut pause = Duration::from_secs(1);
    loop {
        let detail = api
            .show_key_task(instance_id, scan.analysis(), &task_id, call_deadline(until))
            .await?;
        if detail.record.succeeded() {
            return Ok(detail);
        }
        let status = detail.record.status.as_deref().unwrap_or("").trim();
        if status.eq_ignore_ascii_case("failed") {
            anyhow::bail!("{kind} key analysis {task_id} failed");
        }
        if Instant::now() + pause >= until {
            anyhow::bail!(
                "{kind} key analysis {task_id} did not finish within {} (it is {}); it goes on: keys --{kind} shows it once it has",
                humantime::format_duration(timeout),
                crate::upstream_text::clean(status, &[])
            );
        }
        tokio::time::sleep(pause).await;
        pause = (pause * 2).min(MAX_POLL_PAUSE);
    }
}
