//! Tests of the state's jobs and stored lists: a scan's life (started, polled, finished, its
//! list readable page by page), the refusals on the way, held jobs, jobs on real servers, kills.

use std::time::{Duration, SystemTime};

use super::*;
use crate::cloud::dcs::JobStatus;
use crate::session::ClientInfo;
use crate::sim::error::RealWorkError;
use crate::sim::topology::Topology;

/// A fixed start, so that every run sees the same state.
fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

/// The demo's first instance (HA: a master and a replica that take clients), kept small.
fn small() -> (Topology, SimState, String, String) {
    let mut topology = Topology::demo();
    topology.instances.truncate(1);
    topology.instances[0].sessions_per_node = 40;
    let state = SimState::new(&topology, t0());
    let instance = state.instance_ids()[0].clone();
    let node = state
        .client_node_by_name(&topology.instances[0].name, 1)
        .unwrap();
    (topology, state, instance, node)
}

fn page_query(node: &str, offset: &str, limit: &str) -> ListQuery {
    ListQuery {
        node_id: Some(node.to_string()),
        offset: Some(offset.into()),
        limit: Some(limit.into()),
        ..ListQuery::default()
    }
}

#[test]
fn a_scan_starts_runs_ends_and_leaves_a_stored_list_to_read() {
    let (topology, mut s, instance, node) = small();
    let duration = topology.job_duration;
    // No scan yet: no stored list.
    let err = s
        .list_clients(&instance, &page_query(&node, "0", "10"), t0())
        .unwrap_err();
    assert_eq!((err.status, err.code.as_str()), (500, codes::INTERNAL));
    assert!(s.stored_sessions(&instance, &node, t0()).unwrap().is_none());

    let job = s.start_scan(&instance, Some(&node), false, t0()).unwrap();
    assert_eq!(job.len(), 32, "a job id is 32 hex digits: {job}");
    let status = |s: &mut SimState, after: Duration| s.show_job(&job, t0() + after).unwrap();
    let polled = status(&mut s, Duration::ZERO);
    assert_eq!(polled.status, JobStatus::Init);
    assert_eq!(polled.job_type.as_deref(), Some("ScanClients"));
    assert_eq!(
        polled.end_time.as_deref(),
        Some(""),
        "no end while under way"
    );
    assert_eq!(status(&mut s, duration / 2).status, JobStatus::Running);
    // While it runs, the node takes no other scan.
    let err = s
        .start_scan(&instance, Some(&node), false, t0() + duration / 2)
        .unwrap_err();
    assert_eq!((err.status, err.code.as_str()), (400, codes::TASK_STATE));
    // Nor is a list stored before it ends.
    assert!(
        s.stored_sessions(&instance, &node, t0() + duration / 2)
            .unwrap()
            .is_none()
    );

    let done = t0() + duration;
    let finished = status(&mut s, duration);
    assert_eq!(finished.status, JobStatus::Success);
    let end_ms = millis(done).to_string();
    assert_eq!(finished.end_time.as_deref(), Some(end_ms.as_str()));

    let (time, stored) = s.stored_sessions(&instance, &node, done).unwrap().unwrap();
    assert_eq!(time, format_time(millis(done)));
    assert!(stored.len() >= 30, "about 40 sessions: {}", stored.len());
    // Pages are slices of the stored list, all with its time and count; the JSON body of a
    // plain page is the same page.
    let later = done + Duration::from_secs(600);
    let mut read: Vec<ClientInfo> = Vec::new();
    for offset in (0..stored.len() + 10).step_by(10) {
        let query = page_query(&node, &offset.to_string(), "10");
        let page = s.list_clients(&instance, &query, later).unwrap();
        assert_eq!(page.time.as_deref(), Some(time.as_str()));
        assert_eq!(page.count, Some(stored.len() as i64));
        let body = s
            .list_clients_body(&instance, &query, later)
            .unwrap()
            .unwrap();
        assert_eq!(body, serde_json::to_string(&page).unwrap());
        read.extend(page.clients);
    }
    assert_eq!(read, stored, "the list stays as the scan found it");
    // The next scan may start once this one has ended.
    s.start_scan(&instance, Some(&node), false, later).unwrap();
}

#[test]
fn pages_are_checked_as_the_service_checks_them() {
    let (topology, mut s, instance, node) = small();
    let done = t0() + topology.job_duration;
    s.start_scan(&instance, Some(&node), false, t0()).unwrap();
    let refused = |s: &mut SimState, query: ListQuery| {
        let err = s.list_clients(&instance, &query, done).unwrap_err();
        assert_eq!(
            (err.status, err.code.as_str()),
            (400, codes::INVALID_PARAMETER)
        );
        err.message
    };
    assert!(refused(&mut s, page_query(&node, "0", "0")).starts_with("limit must be between"));
    assert_eq!(
        refused(&mut s, page_query(&node, "-1", "10")),
        "offset must be at least 0."
    );
    assert_eq!(
        refused(&mut s, page_query(&node, "x", "10")),
        "offset must be an integer."
    );
    let mut sorted = page_query(&node, "0", "10");
    sorted.sort = Some("nonsense".into());
    assert!(refused(&mut s, sorted).contains("is not a session field"));
    let mut no_node = page_query(&node, "0", "10");
    no_node.node_id = None;
    assert_eq!(refused(&mut s, no_node), "node_id is required.");
    // Sorted pages are served, not as a ready JSON body.
    let mut by_idle = page_query(&node, "0", "5");
    by_idle.sort = Some("idle".into());
    by_idle.order = Some("desc".into());
    assert!(
        s.list_clients_body(&instance, &by_idle, done)
            .unwrap()
            .is_none()
    );
    let page = s.list_clients(&instance, &by_idle, done).unwrap();
    let idle: Vec<i64> = page.clients.iter().map(|c| c.idle.unwrap()).collect();
    assert!(idle.windows(2).all(|w| w[0] >= w[1]), "{idle:?}");
}

#[test]
fn a_held_job_never_ends_and_keeps_the_node_busy() {
    let (_, mut s, instance, node) = small();
    let job = s.start_scan(&instance, Some(&node), false, t0()).unwrap();
    s.hold_job(&job);
    let much_later = t0() + Duration::from_secs(86_400);
    assert_eq!(
        s.show_job(&job, much_later).unwrap().status,
        JobStatus::Running
    );
    let err = s
        .start_scan(&instance, Some(&node), false, much_later)
        .unwrap_err();
    assert_eq!(err.code, codes::TASK_STATE);
    // A real server's answer does not end it either.
    s.finish_real_job(&job, Ok(Some(Vec::new())), much_later);
    assert_eq!(
        s.show_job(&job, much_later).unwrap().status,
        JobStatus::Running
    );
}

#[test]
fn a_job_on_a_real_server_ends_when_the_caller_says() {
    let (mut topology, _, _, _) = small();
    topology.instances[0].redis_urls = vec!["redis://127.0.0.1:1".into()];
    let mut s = SimState::new(&topology, t0());
    let instance = s.instance_ids()[0].clone();
    let node = s
        .client_node_by_name(&topology.instances[0].name, 1)
        .unwrap();
    let (job, work) = s
        .start_scan_on(&instance, Some(&node), false, t0())
        .unwrap();
    let work = work.expect("the node is backed by a real server");
    assert_eq!(work.job_id, job);
    assert_eq!(work.endpoints[0].url, "redis://127.0.0.1:1");
    // Past the job duration, still running: the server has not answered.
    let late = t0() + topology.job_duration * 3;
    assert_eq!(s.show_job(&job, late).unwrap().status, JobStatus::Running);
    let listed = vec![ClientInfo {
        id: Some("7".into()),
        addr: Some("10.0.0.9:40000".into()),
        ..ClientInfo::default()
    }];
    s.finish_real_job(&job, Ok(Some(listed.clone())), late);
    assert_eq!(s.show_job(&job, late).unwrap().status, JobStatus::Success);
    let (time, stored) = s.stored_sessions(&instance, &node, late).unwrap().unwrap();
    assert_eq!((time, stored), (format_time(millis(late)), listed));
    // A failure is the job's fail reason.
    let (job, _) = s
        .start_scan_on(&instance, Some(&node), false, late)
        .unwrap();
    s.finish_real_job(&job, Err(RealWorkError::Injected), late);
    let failed = s.show_job(&job, late).unwrap();
    assert_eq!(failed.status, JobStatus::Fail);
    assert_eq!(
        failed.fail_reason.as_deref(),
        Some("Querying the session list failed.")
    );
}

#[test]
fn a_kill_all_empties_the_node_when_it_ends() {
    let (topology, mut s, instance, node) = small();
    let before = s.live_sessions(&instance, &node, t0()).unwrap().len();
    assert!(before >= 30, "{before}");
    let job = s.kill_all(&instance, Some(&node), false, t0()).unwrap();
    let end = t0() + topology.job_duration;
    assert_eq!(
        s.show_job(&job, end).unwrap().job_type.as_deref(),
        Some("KillAllClients")
    );
    // Only the replication link is left, connected again at once.
    let left = s.live_sessions(&instance, &node, end).unwrap();
    assert_eq!(left.len(), 1, "{left:?}");
    assert_eq!(left[0].flags.as_deref(), Some("S"));
    let err = s.kill_all(&instance, None, false, end).unwrap_err();
    assert_eq!(
        err.message,
        "node_id is required when kill_all_nodes is false."
    );
}
