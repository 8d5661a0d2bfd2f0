//! DBSS resources: their job records and polls.

use super::*;
use crate::snapshot::{Attempt, DbssState};

label_set! {
    struct ResourceLabels<'a> {
    resource_id: &'a str,
}
}

label_set! {
    struct DbssStatusLabels<'a> {
    resource_id: &'a str,
    status: &'a str,
}
}

label_set! {
    struct DbssJobLabels<'a> {
    resource_id: &'a str,
    job_id: &'a str,
    job_type: &'a str,
    status: &'a str,
}
}

label_set! {
    struct DbssFailureLabels<'a> {
    resource_id: &'a str,
    job_type: &'a str,
    error_code: &'a str,
}
}

pub(super) fn encode(view: &View, encoder: &mut impl Exposition) -> std::fmt::Result {
    let (snap, now, stale_after) = (view.snap, view.now, view.stale_after);
    // Job records are shown while the last poll is within `stale_after`, and go stale with
    // it; the failure counters and the polls' own results are shown for every resource.
    let polled: Vec<(&String, &DbssState)> = snap
        .dbss
        .iter()
        .map(|(k, v)| (k, v.as_ref()))
        .filter(|(_, d)| {
            d.polled
                .is_some_and(|t| now.duration_since(t).unwrap_or_default() <= stale_after)
        })
        .collect();
    jobs_by_status(encoder, &polled)?;
    job_durations(encoder, &polled, now)?;
    job_failures(encoder, snap)?;
    polls(encoder, snap)
}

/// `dbss_jobs`: each freshly polled resource's job records, counted by status.
fn jobs_by_status(
    encoder: &mut impl Exposition,
    polled: &[(&String, &DbssState)],
) -> std::fmt::Result {
    family(
        encoder,
        "dbss_jobs",
        &format!("DBSS instance-creation job records by status; {BACKGROUND}."),
        Kind::Gauge,
        polled,
        |m, (resource, d)| {
            let mut by_status: std::collections::BTreeMap<&str, u64> =
                std::collections::BTreeMap::new();
            for job in &d.jobs {
                *by_status.entry(job.status.as_str()).or_insert(0) += 1;
            }
            for (status, n) in by_status {
                m.gauge(
                    &DbssStatusLabels {
                        resource_id: resource,
                        status,
                    },
                    n,
                )?;
            }
            Ok(())
        },
    )
}

/// `dbss_job_duration_seconds`: each job's duration, running ones as of `now`.
fn job_durations(
    encoder: &mut impl Exposition,
    polled: &[(&String, &DbssState)],
    now: SystemTime,
) -> std::fmt::Result {
    family(
        encoder,
        "dbss_job_duration_seconds",
        &format!(
            "Duration of each DBSS job: end minus begin, or now minus begin while unfinished; {BACKGROUND}."
        ),
        Kind::Gauge,
        polled,
        |m, (resource, d)| {
            let mut jobs: Vec<_> = d
                .jobs
                .iter()
                .filter(|j| j.job_id.is_some() && j.began().is_some())
                .collect();
            jobs.sort_by(|a, b| a.job_id.cmp(&b.job_id));
            for job in jobs {
                let (Some(id), Some(began)) = (job.job_id.as_deref(), job.began()) else {
                    continue;
                };
                let end = if job.status.is_finished() {
                    job.ended().unwrap_or(now)
                } else {
                    now
                };
                let duration = end.duration_since(began).unwrap_or_default().as_secs_f64();
                let labels = DbssJobLabels {
                    resource_id: resource,
                    job_id: id,
                    job_type: job.job_type.as_deref().unwrap_or(crate::aggregate::UNKNOWN),
                    status: job.status.as_str(),
                };
                m.gauge(&labels, duration)?;
            }
            Ok(())
        },
    )
}

/// `dbss_job_failures`: failed jobs by type and error code, since the exporter started.
fn job_failures(encoder: &mut impl Exposition, snap: &Snapshot) -> std::fmt::Result {
    family(
        encoder,
        "dbss_job_failures",
        "Failed DBSS jobs seen since the exporter started, each job counted once.",
        Kind::Counter,
        snap.dbss.iter(),
        |m, (resource, d)| {
            for ((job_type, error_code), n) in &d.failures {
                let labels = DbssFailureLabels {
                    resource_id: resource,
                    job_type,
                    error_code,
                };
                m.counter(&labels, n)?;
            }
            Ok(())
        },
    )
}

/// `dbss_scan_success` and `dbss_scan_duration_seconds`: how each resource's last poll went.
fn polls(encoder: &mut impl Exposition, snap: &Snapshot) -> std::fmt::Result {
    let dbss_attempts: Vec<(&String, &Attempt)> = snap
        .dbss
        .iter()
        .filter_map(|(k, d)| Some((k, d.last_attempt.as_ref()?)))
        .collect();
    family(
        encoder,
        "dbss_scan_success",
        "Whether the last poll of the DBSS resource's jobs succeeded (1) or failed (0).",
        Kind::Gauge,
        &dbss_attempts,
        |m, (resource, a)| {
            m.gauge(
                &ResourceLabels {
                    resource_id: resource,
                },
                i64::from(a.failure.is_none()),
            )
        },
    )?;
    family(
        encoder,
        "dbss_scan_duration_seconds",
        "Wall time of the last poll of the DBSS resource's jobs.",
        Kind::Gauge,
        &dbss_attempts,
        |m, (resource, a)| {
            m.gauge(
                &ResourceLabels {
                    resource_id: resource,
                },
                a.duration.as_secs_f64(),
            )
        },
    )?;
    Ok(())
}
