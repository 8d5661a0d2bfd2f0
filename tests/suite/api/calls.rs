//! Every call against the simulator.

use super::*;

#[tokio::test]
async fn instances_and_nodes() {
    let (_sim, url) = default_sim().await;
    let api = client(&url);
    // One instance a page: the pages must join up.
    let all = api
        .list_instances(
            &ListInstancesQuery {
                page_size: Some(1),
                ..Default::default()
            },
            deadline(),
        )
        .await
        .unwrap();
    let names: Vec<_> = all.iter().map(|i| i.name.clone().unwrap()).collect();
    assert_eq!(names, ["orders-cache", "sessions-proxy"]);
    let filtered = api
        .list_instances(
            &ListInstancesQuery {
                name: Some("proxy".into()),
                ..Default::default()
            },
            deadline(),
        )
        .await
        .unwrap();
    assert_eq!(filtered.len(), 1);
    assert!(filtered[0].spec_code.as_deref().unwrap().contains("proxy"));

    let proxy_id = filtered[0].instance_id.clone().unwrap();
    let nodes = api.list_logical_nodes(&proxy_id, deadline()).await.unwrap();
    assert_eq!(nodes.total, Some(9), "3 shards of 2 and 3 proxies");
    let access: Vec<_> = nodes
        .nodes
        .iter()
        .filter(|n| n.is_access == Some(true))
        .collect();
    assert_eq!(access.len(), 3);
    assert!(
        access
            .iter()
            .all(|n| n.node_role.as_deref() == Some("redis-proxy"))
    );
    // A data node of a proxy instance takes no scan.
    let data = nodes
        .nodes
        .iter()
        .find(|n| n.is_access == Some(false))
        .unwrap();
    let err = api
        .start_scan(
            &proxy_id,
            data.node_id.as_deref().unwrap(),
            true,
            deadline(),
        )
        .await
        .unwrap_err();
    assert_eq!((err.status, err.kind), (Some(400), ErrorKind::Http));
    let err = api
        .list_logical_nodes("no-such-instance", deadline())
        .await
        .unwrap_err();
    assert_eq!(err.status, Some(404));
}

#[tokio::test]
async fn scan_poll_and_page_through_a_stored_list() {
    let (sim, url) = default_sim().await;
    let api = client(&url);
    let (instance, node) = first_node(&api, "orders-cache").await;

    // Never scanned: the service answers 500.
    let query = ListClientsQuery {
        node_id: node.clone(),
        ..Default::default()
    };
    let err = api.list_clients(&instance, &query, deadline()).await;
    assert_eq!(err.unwrap_err().status, Some(500));

    let job_id = api
        .start_scan(&instance, &node, true, deadline())
        .await
        .unwrap();
    // A second scan while the first runs is refused, as the real service does.
    let busy = api
        .start_scan(&instance, &node, true, deadline())
        .await
        .unwrap_err();
    assert_eq!(busy.code.as_deref(), Some("DCS.4957"));
    assert_eq!(busy.status, Some(400));
    let first = api.show_job(&job_id, deadline()).await.unwrap();
    assert!(
        matches!(first.status, JobStatus::Init | JobStatus::Running),
        "{first:?}"
    );
    let job = api.wait_for_job(&job_id, &POLL, deadline()).await.unwrap();
    assert_eq!(job.status, JobStatus::Success);
    assert!(job.ended().unwrap() >= job.began().unwrap());

    // Page through in pages of 100; the sessions are exactly the stored list.
    let mut sessions: Vec<ClientInfo> = Vec::new();
    let paging = PagingOptions {
        page_size: 100,
        max_restarts: 2,
    };
    let list = api
        .read_stored_list(&instance, &node, &paging, &mut sessions, deadline())
        .await
        .unwrap();
    let (time, stored) = sim
        .with_state(|s| s.stored_sessions(&instance, &node, SystemTime::now()))
        .unwrap()
        .unwrap();
    assert_eq!(list.time.as_deref(), Some(time.as_str()));
    assert_eq!(sessions, stored);
    assert_eq!(list.sessions, stored.len() as u64);
    assert_eq!(list.pages as usize, stored.len().div_ceil(100));
    assert!(stored.len() > 400, "{}", stored.len());
    // The last page is short, and a page past the end is empty; both give the whole count.
    let n = stored.len() as u64;
    for (offset, want) in [(n - 3, &stored[stored.len() - 3..]), (n + 5, &stored[..0])] {
        let q = ListClientsQuery {
            offset: Some(offset),
            limit: Some(10),
            ..query.clone()
        };
        let page = api.list_clients(&instance, &q, deadline()).await.unwrap();
        assert_eq!(page.clients, want, "offset {offset}");
        assert_eq!(page.count, Some(n as i64));
        assert_eq!(page.time.as_deref(), Some(time.as_str()));
    }

    // Sort and filter on the service side.
    let sorted = api
        .list_clients(
            &instance,
            &ListClientsQuery {
                node_id: node.clone(),
                limit: Some(1000),
                sort: Some("idle".into()),
                order: Some(SortOrder::Desc),
                ..Default::default()
            },
            deadline(),
        )
        .await
        .unwrap();
    let idles: Vec<i64> = sorted.clients.iter().map(|c| c.idle.unwrap()).collect();
    assert!(idles.windows(2).all(|w| w[0] >= w[1]));
    assert_eq!(idles.len(), stored.len());
    let ip = stored[0]
        .addr
        .as_deref()
        .unwrap()
        .rsplit_once(':')
        .unwrap()
        .0
        .to_string();
    let filtered = api
        .list_clients(
            &instance,
            &ListClientsQuery {
                node_id: node.clone(),
                limit: Some(1000),
                addr: Some(ip.clone()),
                ..Default::default()
            },
            deadline(),
        )
        .await
        .unwrap();
    let expected = stored
        .iter()
        .filter(|c| c.addr.as_deref().unwrap().starts_with(&format!("{ip}:")))
        .count();
    assert_eq!(filtered.count, Some(expected as i64));
    assert_eq!(filtered.clients.len(), expected);

    // Parameters outside the documented ranges are refused.
    for (offset, limit) in [(None, Some(0)), (None, Some(1001)), (Some(-1), None)] {
        let mut q = query.clone();
        q.limit = limit;
        let err = match offset {
            // The typed query cannot hold a negative offset: send one by hand.
            Some(_) => {
                raw_get(
                    &url,
                    &format!("/v2/{PROJECT}/instances/{instance}/clients"),
                    &[("node_id", &node), ("offset", "-1")],
                )
                .await
            }
            None => api
                .list_clients(&instance, &q, deadline())
                .await
                .unwrap_err()
                .status
                .unwrap(),
        };
        assert_eq!(err, 400, "offset {offset:?} limit {limit:?}");
    }
    let err = api
        .list_clients(
            &instance,
            &ListClientsQuery {
                sort: Some("nonsense".into()),
                ..query.clone()
            },
            deadline(),
        )
        .await
        .unwrap_err();
    assert_eq!(err.status, Some(400));
}

/// A signed GET with a hand-made query; returns the status.
async fn raw_get(url: &str, path: &str, query: &[(&str, &str)]) -> u16 {
    let base = reqwest::Url::parse(url).unwrap();
    let host = format!("{}:{}", base.host_str().unwrap(), base.port().unwrap());
    let date = signer::sdk_date(SystemTime::now());
    let pairs: Vec<(String, String)> = query
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    let headers = vec![
        ("Host".to_string(), host),
        ("X-Sdk-Date".to_string(), date.clone()),
    ];
    let s = signer::sign(
        &SignableRequest {
            method: "GET",
            path,
            query: &pairs,
            headers: &headers,
            body: b"",
        },
        AK,
        SK,
    );
    let q: Vec<String> = pairs
        .iter()
        .map(|(k, v)| format!("{}={}", signer::url_encode(k), signer::url_encode(v)))
        .collect();
    reqwest::Client::new()
        .get(format!("{url}{path}?{}", q.join("&")))
        .header("X-Sdk-Date", date)
        .header("Authorization", s.authorization)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap()
        .status()
        .as_u16()
}

#[tokio::test]
async fn kills_end_sessions_seen_from_the_next_scan() {
    let (sim, url) = default_sim().await;
    let api = client(&url);
    let (instance, node) = first_node(&api, "orders-cache").await;
    scan(&api, &instance, &node).await;
    let mut sessions = Vec::new();
    api.read_stored_list(
        &instance,
        &node,
        &PagingOptions::default(),
        &mut sessions,
        deadline(),
    )
    .await
    .unwrap();

    // Kill two chosen sessions by their peer address.
    let victims: Vec<String> = sessions[..2]
        .iter()
        .map(|c| c.peer.clone().unwrap())
        .collect();
    api.kill_clients(&instance, &node, &victims, deadline())
        .await
        .unwrap();
    scan(&api, &instance, &node).await;
    let mut after = Vec::new();
    api.read_stored_list(
        &instance,
        &node,
        &PagingOptions::default(),
        &mut after,
        deadline(),
    )
    .await
    .unwrap();
    let peers: HashSet<_> = after.iter().filter_map(|c| c.peer.clone()).collect();
    assert!(victims.iter().all(|v| !peers.contains(v)));
    assert!(!after.is_empty());
    let err = api
        .kill_clients(&instance, &node, &[], deadline())
        .await
        .unwrap_err();
    assert_eq!(err.status, Some(400));

    // Kill all sessions of the node.
    let job = api
        .kill_all_clients(&instance, &KillTarget::Node(node.clone()), deadline())
        .await
        .unwrap();
    let job = api.wait_for_job(&job, &POLL, deadline()).await.unwrap();
    assert_eq!(job.status, JobStatus::Success);
    // Clients reconnect over minutes: right after the kill only a handful are back.
    let few = sessions.len() / 50;
    let live = sim
        .with_state(|s| s.live_sessions(&instance, &node, SystemTime::now()))
        .unwrap();
    assert!(live.len() <= few, "{} sessions back", live.len());
    scan(&api, &instance, &node).await;
    let mut emptied = Vec::new();
    let list = api
        .read_stored_list(
            &instance,
            &node,
            &PagingOptions::default(),
            &mut emptied,
            deadline(),
        )
        .await
        .unwrap();
    assert_eq!(list.sessions, emptied.len() as u64);
    assert!(emptied.len() <= few, "{} sessions back", emptied.len());
    let old_ids: HashSet<_> = sessions.iter().filter_map(|c| c.id.clone()).collect();
    assert!(
        emptied
            .iter()
            .all(|c| !old_ids.contains(c.id.as_ref().unwrap()))
    );

    // Kill all nodes of the other instance.
    let (proxy, proxy_node) = first_node(&api, "sessions-proxy").await;
    let job = api
        .kill_all_clients(&proxy, &KillTarget::AllNodes, deadline())
        .await
        .unwrap();
    api.wait_for_job(&job, &POLL, deadline()).await.unwrap();
    let live = sim
        .with_state(|s| s.live_sessions(&proxy, &proxy_node, SystemTime::now()))
        .unwrap();
    assert!(live.len() <= few, "{} sessions back", live.len());
}

/// Rescans the node between pages, so the stored list's `time` changes under the reader.
struct RescanningSink {
    sim: Arc<Simulator>,
    instance: String,
    node: String,
    rescans_left: u32,
    received: Vec<ClientInfo>,
    restarts: u32,
}

impl PageSink for RescanningSink {
    fn restart(&mut self) {
        self.restarts += 1;
        self.received.clear();
    }

    fn accept(&mut self, client: &ClientRef<'_>) {
        self.received.push(client.clone().into_owned());
    }

    fn end_page(&mut self) {
        if self.rescans_left > 0 {
            self.rescans_left -= 1;
            // The simulated job takes no time here: the next page already sees a new list.
            std::thread::sleep(Duration::from_millis(3));
            self.sim
                .with_state(|s| {
                    s.start_scan(&self.instance, Some(&self.node), true, SystemTime::now())
                })
                .unwrap();
            std::thread::sleep(Duration::from_millis(3));
        }
    }
}

#[tokio::test]
async fn a_list_that_changes_mid_way_is_read_again() {
    let mut t = topology();
    t.job_duration = Duration::ZERO;
    let (sim, url) = start_sim(SimConfig::new(Credentials::new(AK, SK), t)).await;
    let api = client(&url);
    let (instance, node) = first_node(&api, "orders-cache").await;
    scan(&api, &instance, &node).await;
    let paging = PagingOptions {
        page_size: 100,
        max_restarts: 2,
    };
    let mut sink = RescanningSink {
        sim: Arc::clone(&sim),
        instance: instance.clone(),
        node: node.clone(),
        rescans_left: 1,
        received: Vec::new(),
        restarts: 0,
    };
    let list = api
        .read_stored_list(&instance, &node, &paging, &mut sink, deadline())
        .await
        .unwrap();
    assert_eq!((list.restarts, sink.restarts), (1, 1));
    let (time, stored) = sim
        .with_state(|s| s.stored_sessions(&instance, &node, SystemTime::now()))
        .unwrap()
        .unwrap();
    assert_eq!(list.time, Some(time));
    assert_eq!(sink.received, stored);

    // A list that never holds still: a bounded number of tries, then a clear error.
    sink.rescans_left = 100;
    sink.received.clear();
    let err = api
        .read_stored_list(&instance, &node, &paging, &mut sink, deadline())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Inconsistent);
    assert!(sink.rescans_left >= 100 - 3, "{}", sink.rescans_left);
}

#[tokio::test]
async fn dbss_jobs_on_the_current_and_the_legacy_path() {
    let (_sim, url) = default_sim().await;
    let observer = Arc::new(CountingObserver::default());
    let api = client_with(
        &url,
        Credentials::new(AK, SK),
        fast_options(Some(Arc::clone(&observer))),
    );
    let jobs = api
        .list_audit_jobs("dbss-audit-demo", deadline())
        .await
        .unwrap();
    let statuses: HashSet<_> = jobs.jobs.iter().map(|j| j.status.clone()).collect();
    assert_eq!(
        statuses,
        HashSet::from([JobStatus::Success, JobStatus::Fail, JobStatus::Running])
    );
    let running = jobs
        .jobs
        .iter()
        .find(|j| j.status == JobStatus::Running)
        .unwrap();
    assert!(running.began().is_some() && running.ended().is_none());
    let failed = jobs
        .jobs
        .iter()
        .find(|j| j.status == JobStatus::Fail)
        .unwrap();
    assert!(failed.error_code.is_some() && failed.fail_reason.is_some());
    assert_eq!(
        observer.calls.lock().unwrap().len(),
        1,
        "the current path answered"
    );

    let err = api
        .list_audit_jobs("no-such-resource", deadline())
        .await
        .unwrap_err();
    assert_eq!(err.status, Some(404));
    assert!(err.code.as_deref().unwrap().starts_with("DBSS."));

    // A region that only has the deprecated path.
    let mut t = topology();
    t.dbss_paths = DbssPaths::LegacyOnly;
    let (_legacy, legacy_url) = start_sim(SimConfig::new(Credentials::new(AK, SK), t)).await;
    let observer = Arc::new(CountingObserver::default());
    let api = client_with(
        &legacy_url,
        Credentials::new(AK, SK),
        fast_options(Some(Arc::clone(&observer))),
    );
    let legacy = api
        .list_audit_jobs("dbss-audit-demo", deadline())
        .await
        .unwrap();
    assert_eq!(legacy.jobs.len(), jobs.jobs.len());
    let outcomes: Vec<String> = observer
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.1.clone())
        .collect();
    assert_eq!(outcomes, ["404", "200"]);
}
