//! Scans end to end against the simulator: every metric against the simulated sessions, bounded
//! label sets, failures and staleness, the formats and endpoints.

use super::*;
use dcs_session_exporter::snapshot::Snapshot;

#[tokio::test]
async fn every_metric_matches_the_simulated_sessions() {
    let h = start(quiet_topology(600), SCAN_ONCE).await;
    h.wait_ready().await;
    let samples = h.scrape().await;
    let lists = h.stored_lists();
    assert_eq!(lists.len(), 5, "two HA nodes and three proxies");

    let mut nodes_with_idle = 0;
    for (instance, node, time, clients) in &lists {
        assert!(!clients.is_empty());
        // client_addr_field = "auto": the client's own address is `addr` with client IP
        // pass-through, `peer` without; below, `addr` stands for the field chosen.
        let pass_through = h
            .sim
            .with_state(|s| s.show_instance(instance))
            .unwrap()
            .transparent_client_ip_enable
            .unwrap();
        let clients: &Vec<ClientInfo> = &clients
            .iter()
            .map(|c| ClientInfo {
                addr: if pass_through {
                    c.addr.clone()
                } else {
                    c.peer.clone()
                },
                ..c.clone()
            })
            .collect();
        // Sessions by address, db and user (fewer addresses than max_client_addrs: no folding).
        let mut expected: BTreeMap<(String, String, String), f64> = BTreeMap::new();
        for c in clients {
            let key = (
                ip(c.addr.as_deref().unwrap()).to_string(),
                c.db.clone().unwrap(),
                c.user.clone().unwrap(),
            );
            *expected.entry(key).or_default() += 1.0;
        }
        let got: BTreeMap<(String, String, String), f64> = of(&samples, "dcs_clients", node)
            .into_iter()
            .map(|s| {
                assert_eq!(s.label("instance_id"), instance);
                (
                    (
                        s.label("client_addr").to_string(),
                        s.label("db").to_string(),
                        s.label("user").to_string(),
                    ),
                    s.value,
                )
            })
            .collect();
        assert_eq!(got, expected, "dcs_clients of {node}");
        // By name, by last command: at most 20 each, most first, the rest folded; by kind.
        let folded = |field: fn(&ClientInfo) -> Option<String>, absent: &str, fold: &str| {
            let mut counts: BTreeMap<String, f64> = BTreeMap::new();
            for c in clients.iter() {
                let v = field(c)
                    .filter(|v| !v.is_empty())
                    .unwrap_or_else(|| absent.into());
                *counts.entry(v).or_default() += 1.0;
            }
            let mut ranked: Vec<(String, f64)> = counts.into_iter().collect();
            ranked.sort_by(|a, b| b.1.total_cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            let rest: f64 = ranked.iter().skip(20).map(|(_, n)| n).sum();
            let mut kept: BTreeMap<String, f64> = ranked.into_iter().take(20).collect();
            if rest > 0.0 {
                *kept.entry(fold.to_string()).or_default() += rest;
            }
            kept
        };
        let shown = |metric: &str, label: &str| -> BTreeMap<String, f64> {
            of(&samples, metric, node)
                .into_iter()
                .map(|s| (s.label(label).to_string(), s.value))
                .collect()
        };
        assert_eq!(
            shown("dcs_clients_by_name", "client_name"),
            folded(|c| c.name.clone(), "(unnamed)", "(other)"),
            "{node}"
        );
        assert_eq!(
            shown("dcs_clients_by_command", "cmd"),
            folded(|c| c.cmd.clone(), "unknown", "other"),
            "{node}"
        );
        let by_kind = shown("dcs_clients_by_kind", "kind");
        let flagged = |f: char| {
            clients
                .iter()
                .filter(|c| c.flags.as_deref().unwrap_or("").contains(f))
                .count() as f64
        };
        let pubsub = clients
            .iter()
            .filter(|c| c.sub.unwrap_or(0) > 0 || c.psub.unwrap_or(0) > 0)
            .count() as f64;
        assert_eq!(by_kind["pubsub"], pubsub, "{node}");
        assert_eq!(by_kind["transaction"], flagged('x'), "{node}");
        assert_eq!(by_kind["blocked"], flagged('b'), "{node}");
        assert_eq!(by_kind["replica"], flagged('S'), "{node}");
        assert_eq!(by_kind["master"], flagged('M'), "{node}");
        assert_eq!(by_kind["monitor"], flagged('O'), "{node}");
        assert_eq!(by_kind["tracking"], flagged('t'), "{node}");
        // Idle past the hour and not waiting by design, by address.
        let mut idle: BTreeMap<String, f64> = BTreeMap::new();
        for c in clients.iter() {
            let waiting = c.sub.unwrap_or(0) > 0
                || c.psub.unwrap_or(0) > 0
                || c.flags.as_deref().unwrap_or("").contains('b');
            if !waiting && c.idle.unwrap() > 3600 {
                *idle
                    .entry(ip(c.addr.as_deref().unwrap()).to_string())
                    .or_default() += 1.0;
            }
        }
        nodes_with_idle += usize::from(!idle.is_empty());
        assert_eq!(shown("dcs_clients_idle", "client_addr"), idle, "{node}");
        let exclusive: f64 = ["normal", "pubsub", "replica", "master", "monitor"]
            .iter()
            .map(|k| by_kind[*k])
            .sum();
        assert_eq!(exclusive, clients.len() as f64, "{node}");

        let field = |f: fn(&ClientInfo) -> Option<i64>| -> Vec<i64> {
            clients.iter().map(|c| f(c).unwrap()).collect()
        };
        check_histogram(
            &samples,
            "dcs_client_idle_seconds",
            node,
            &DEFAULT_SECONDS_BUCKETS,
            &field(|c| c.idle),
        );
        // Sessions that wait by design: subscribed, or blocked in a command.
        let waiting: Vec<i64> = clients
            .iter()
            .filter(|c| {
                c.sub.unwrap_or(0) > 0
                    || c.psub.unwrap_or(0) > 0
                    || c.flags.as_deref().unwrap_or("").contains(['P', 'b'])
            })
            .map(|c| c.idle.unwrap())
            .collect();
        check_histogram(
            &samples,
            "dcs_client_idle_waiting_seconds",
            node,
            &DEFAULT_SECONDS_BUCKETS,
            &waiting,
        );
        check_histogram(
            &samples,
            "dcs_client_age_seconds",
            node,
            &DEFAULT_SECONDS_BUCKETS,
            &field(|c| c.age),
        );
        check_histogram(
            &samples,
            "dcs_client_output_memory_bytes",
            node,
            &DEFAULT_BYTES_BUCKETS,
            &field(|c| c.omem),
        );
        check_histogram(
            &samples,
            "dcs_client_query_buffer_bytes",
            node,
            &DEFAULT_BYTES_BUCKETS,
            &field(|c| c.qbuf),
        );
        assert_eq!(
            value(&samples, "dcs_client_output_memory_max_bytes", node),
            *field(|c| c.omem).iter().max().unwrap() as f64
        );
        let subs = of(&samples, "dcs_client_subscriptions", node);
        let kind = |k: &str| subs.iter().find(|s| s.label("kind") == k).unwrap().value;
        assert_eq!(kind("channel"), field(|c| c.sub).iter().sum::<i64>() as f64);
        assert_eq!(
            kind("pattern"),
            field(|c| c.psub).iter().sum::<i64>() as f64
        );

        // The five most idle sessions, and the five largest output buffers.
        let shown = |name: &str| -> Vec<(String, i64)> {
            let mut v: Vec<(String, i64)> = of(&samples, name, node)
                .into_iter()
                .map(|s| (s.label("client_addr").to_string(), s.value as i64))
                .collect();
            v.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
            v
        };
        assert_eq!(
            shown("dcs_top_client_idle_seconds"),
            top(clients, 5, |c| c.idle.unwrap())
        );
        let with_buffers: Vec<ClientInfo> = clients
            .iter()
            .filter(|c| c.omem.unwrap() > 0)
            .cloned()
            .collect();
        assert_eq!(
            shown("dcs_top_client_output_memory_bytes"),
            top(&with_buffers, 5, |c| c.omem.unwrap())
        );
        let most_idle = of(&samples, "dcs_top_client_idle_seconds", node)
            .into_iter()
            .max_by_key(|s| s.value as i64)
            .unwrap();
        let session = clients
            .iter()
            .find(|c| c.addr.as_deref() == Some(most_idle.label("client_addr")))
            .unwrap();
        assert_eq!(
            most_idle.label("client_name"),
            session.name.as_deref().unwrap()
        );
        assert_eq!(most_idle.label("cmd"), session.cmd.as_deref().unwrap());
        assert_eq!(most_idle.label("user"), session.user.as_deref().unwrap());
        assert_eq!(most_idle.label("db"), session.db.as_deref().unwrap());

        let data_time = parse_list_time(time).unwrap();
        let shown_time = value(&samples, "dcs_clients_data_timestamp_seconds", node);
        let expected_time = data_time
            .duration_since(SystemTime::UNIX_EPOCH)
            .unwrap()
            .as_secs_f64();
        assert!(
            (shown_time - expected_time).abs() < 0.001,
            "{shown_time} {expected_time}"
        );
        assert_eq!(value(&samples, "dcs_scan_success", node), 1.0);
        assert!(value(&samples, "dcs_scan_duration_seconds", node) > 0.0);
        assert!(value(&samples, "dcs_scan_last_success_timestamp_seconds", node) >= expected_time);
        assert!(of(&samples, "dcs_scan_errors_total", node).is_empty());
    }
    // The HA instance never closes idle sessions: its nodes have some past the hour.
    assert!(nodes_with_idle >= 2, "{nodes_with_idle}");

    // Node metadata, as the simulator lists the nodes.
    let infos: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == "dcs_node_info")
        .collect();
    assert_eq!(infos.len(), 5);
    h.sim.with_state(|s| {
        for info in &infos {
            let nodes = s.logical_nodes(info.label("instance_id")).unwrap().nodes;
            let node = nodes
                .iter()
                .find(|n| n.node_id.as_deref() == Some(info.label("node_id")))
                .unwrap();
            assert_eq!(info.label("node_name"), node.name.as_deref().unwrap());
            assert_eq!(info.label("node_role"), node.node_type.as_deref().unwrap());
            assert_eq!(info.label("node_ip"), node.node_ip.as_deref().unwrap());
            assert_eq!(info.label("az"), node.az_code.as_deref().unwrap());
            assert!(["orders-cache", "sessions-proxy"].contains(&info.label("instance_name")));
        }
    });

    // DBSS, against the simulator's records.
    let jobs: Vec<JobBean> = h
        .sim
        .with_state(|s| s.audit_jobs("dbss-audit-demo", false))
        .unwrap();
    let by_status =
        |status: &str| jobs.iter().filter(|j| j.status.as_str() == status).count() as f64;
    for status in ["SUCCESS", "FAIL", "RUNNING"] {
        let shown = samples
            .iter()
            .find(|s| s.name == "dbss_jobs" && s.label("status") == status)
            .unwrap();
        assert_eq!(shown.value, by_status(status), "{status}");
    }
    for job in &jobs {
        let shown = samples
            .iter()
            .find(|s| {
                s.name == "dbss_job_duration_seconds"
                    && Some(s.label("job_id")) == job.job_id.as_deref()
            })
            .unwrap();
        assert_eq!(shown.label("status"), job.status.as_str());
        match job.end_time {
            Some(end) => assert_eq!(shown.value, (end - job.begin_time.unwrap()) as f64 / 1000.0),
            None => {
                let began = job.began().unwrap();
                let running_for = SystemTime::now()
                    .duration_since(began)
                    .unwrap()
                    .as_secs_f64();
                assert!(
                    shown.value > 0.0 && shown.value <= running_for,
                    "{}",
                    shown.value
                );
            }
        }
    }
    let failures: f64 = samples
        .iter()
        .filter(|s| s.name == "dbss_job_failures_total")
        .map(|s| s.value)
        .sum();
    assert_eq!(failures, by_status("FAIL"));
    let failed = jobs.iter().find(|j| j.status == JobStatus::Fail).unwrap();
    assert!(samples.iter().any(|s| s.name == "dbss_job_failures_total"
        && s.label("error_code") == failed.error_code.as_deref().unwrap()));
    assert_eq!(
        samples
            .iter()
            .find(|s| s.name == "dbss_scan_success")
            .unwrap()
            .value,
        1.0
    );

    // The exporter's own metrics.
    let names: BTreeSet<&str> = samples.iter().map(|s| s.name.as_str()).collect();
    for name in [
        "dbss_scan_duration_seconds",
        "dcs_exporter_api_requests_total",
        "dcs_exporter_api_request_duration_seconds_count",
        "dcs_exporter_build_info",
        "process_cpu_seconds_total",
        "process_resident_memory_bytes",
        "process_open_fds",
        "process_start_time_seconds",
    ] {
        assert!(names.contains(name), "{name} missing");
    }
    let scans: f64 = samples
        .iter()
        .filter(|s| {
            s.name == "dcs_exporter_api_requests_total" && s.label("operation") == "scan_clients"
        })
        .map(|s| s.value)
        .sum();
    assert_eq!(scans, 5.0, "one scan a node");
    println!(
        "demo-like topology: {} samples, {} dcs_clients series for {} sessions",
        samples.len(),
        samples.iter().filter(|s| s.name == "dcs_clients").count(),
        lists.iter().map(|l| l.3.len()).sum::<usize>()
    );
}

#[tokio::test]
async fn ten_thousand_sessions_from_five_thousand_addresses_stay_bounded() {
    let mut t = Topology::demo();
    t.job_duration = Duration::from_millis(50);
    t.instances = vec![InstanceSpec {
        name: "big".into(),
        id: None,
        architecture: Architecture::Single,
        shards: 1,
        replicas: 0,
        proxies: 0,
        sessions_per_node: 10_000,
        client_hosts: 5_000,
        ip_pass_through: true,
        engine_version: "6.0".into(),
        redis_urls: Vec::new(),
        ..Default::default()
    }];
    let h = start(t, SCAN_ONCE).await;
    h.wait_ready().await;
    let samples = h.scrape().await;
    let (_, node, _, clients) = h.stored_lists().pop().unwrap();
    // The simulated node churns (sessions leave and arrive as time passes), so the list the
    // scan stored holds about, not exactly, the 10,000 sessions asked for.
    assert!(
        (9_900..=10_100).contains(&clients.len()),
        "{} sessions",
        clients.len()
    );
    let distinct: BTreeSet<&str> = clients
        .iter()
        .map(|c| ip(c.addr.as_deref().unwrap()))
        .collect();
    assert!(distinct.len() > 1000, "{} addresses", distinct.len());

    let series = of(&samples, "dcs_clients", &node);
    let addrs: BTreeSet<&str> = series.iter().map(|s| s.label("client_addr")).collect();
    assert_eq!(addrs.len(), 51, "50 addresses and other");
    assert!(addrs.contains("other"));
    let total: f64 = series.iter().map(|s| s.value).sum();
    assert_eq!(total, clients.len() as f64, "folding keeps the total");
    // The kept addresses are the 50 with the most sessions.
    let mut per_ip: HashMap<&str, usize> = HashMap::new();
    for c in &clients {
        *per_ip.entry(ip(c.addr.as_deref().unwrap())).or_default() += 1;
    }
    let mut ranked: Vec<(&str, usize)> = per_ip.into_iter().collect();
    ranked.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(b.0)));
    let largest: BTreeSet<&str> = ranked.iter().take(50).map(|(ip, _)| *ip).collect();
    let kept: BTreeSet<&str> = addrs.iter().copied().filter(|a| *a != "other").collect();
    assert_eq!(kept, largest);
    let node_series = samples
        .iter()
        .filter(|s| s.label("node_id") == node)
        .count();
    println!(
        "10,000 sessions from {} addresses: {} dcs_clients series, {node_series} series for the node",
        distinct.len(),
        series.len()
    );
}

#[tokio::test]
async fn failed_scans_keep_the_last_data_until_stale_then_only_status_remains() {
    let h = start(
        quiet_topology(100),
        r#"scan_interval = "1s"
        stale_after = "3s"
        first_scan_spread = "0s""#,
    )
    .await;
    h.wait_ready().await;
    let (_, node, _, _) = h.stored_lists().into_iter().next().unwrap();
    h.sim.inject_fault(
        Fault::new(
            Operation::ScanClients,
            100_000,
            SimError::dcs(403, "DCS.4030", "no permission"),
        )
        .on_node(&node),
    );
    // Failing now, but the last good data is still shown.
    let samples = h
        .scrape_until(Duration::from_secs(10), |s| {
            of(s, "dcs_scan_success", &node)
                .first()
                .is_some_and(|x| x.value == 0.0)
        })
        .await;
    assert!(
        !of(&samples, "dcs_clients", &node).is_empty(),
        "kept until stale"
    );
    // Stale: the data goes, the status stays.
    let samples = h
        .scrape_until(Duration::from_secs(15), |s| {
            of(s, "dcs_clients", &node).is_empty()
        })
        .await;
    for data in [
        "dcs_client_idle_seconds_count",
        "dcs_top_client_idle_seconds",
        "dcs_client_subscriptions",
    ] {
        assert!(of(&samples, data, &node).is_empty(), "{data} still shown");
    }
    assert_eq!(value(&samples, "dcs_scan_success", &node), 0.0);
    assert_eq!(of(&samples, "dcs_node_info", &node).len(), 1);
    assert!(value(&samples, "dcs_scan_last_success_timestamp_seconds", &node) > 0.0);
    let errors = of(&samples, "dcs_scan_errors_total", &node);
    assert_eq!(errors.len(), 1);
    assert_eq!(
        (errors[0].label("stage"), errors[0].label("reason")),
        ("scan", "DCS.4030")
    );
    assert!(errors[0].value >= 2.0);
    // The other nodes are untouched.
    let others: Vec<&Sample> = samples
        .iter()
        .filter(|s| s.name == "dcs_scan_success" && s.label("node_id") != node)
        .collect();
    assert_eq!(others.len(), 4);
    assert!(others.iter().all(|s| s.value == 1.0));
    assert!(
        others
            .iter()
            .all(|s| !of(&samples, "dcs_clients", s.label("node_id")).is_empty())
    );
    // The landing page says what failed.
    let (status, page) = h.get("/").await;
    assert_eq!(status, 200);
    assert!(page.contains("DCS.4030") && page.contains("failed"));

    // Recovery brings the data back.
    h.sim.clear_faults();
    h.scrape_until(Duration::from_secs(10), |s| {
        !of(s, "dcs_clients", &node).is_empty()
    })
    .await;
}

#[tokio::test]
async fn a_node_failing_while_paging_leaves_the_others_intact() {
    let h = start(
        quiet_topology(100),
        r#"scan_interval = "1s"
        first_scan_spread = "0s""#,
    )
    .await;
    let lists = h.stored_lists_after_first_scans().await;
    let failing = &lists[0].1;
    h.sim.inject_fault(
        Fault::new(
            Operation::ListClients,
            100_000,
            SimError::dcs(500, "DCS.5000", "internal"),
        )
        .on_node(failing),
    );
    let samples = h
        .scrape_until(Duration::from_secs(20), |s| {
            of(s, "dcs_scan_errors_total", failing)
                .iter()
                .any(|e| e.label("stage") == "list")
        })
        .await;
    assert_eq!(value(&samples, "dcs_scan_success", failing), 0.0);
    for (_, node, _, _) in &lists[1..] {
        assert_eq!(value(&samples, "dcs_scan_success", node), 1.0, "{node}");
        assert!(of(&samples, "dcs_scan_errors_total", node).is_empty());
    }
}

impl Harness {
    async fn stored_lists_after_first_scans(
        &self,
    ) -> Vec<(String, String, String, Vec<ClientInfo>)> {
        self.wait_ready().await;
        self.stored_lists()
    }
}

#[tokio::test]
async fn metrics_formats_and_endpoints() {
    let h = start(quiet_topology(50), SCAN_ONCE).await;
    assert_eq!(h.get("/healthz").await.0, 200);
    h.wait_ready().await;
    let openmetrics = h
        .http
        .get(format!("{}/metrics", h.exporter))
        .header(
            "Accept",
            "application/openmetrics-text;version=1.0.0,text/plain;q=0.5",
        )
        .send()
        .await
        .unwrap();
    let content_type = openmetrics.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_string();
    assert!(
        content_type.starts_with("application/openmetrics-text"),
        "{content_type}"
    );
    let body = openmetrics.text().await.unwrap();
    assert!(body.ends_with("# EOF\n"));
    assert!(body.contains("# TYPE dcs_scan_errors counter"));
    let classic = h
        .http
        .get(format!("{}/metrics", h.exporter))
        .send()
        .await
        .unwrap();
    assert!(
        classic.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/plain; version=0.0.4")
    );
    let body = classic.text().await.unwrap();
    assert!(!body.contains("# EOF"));
    assert!(body.contains("# HELP dcs_clients Client sessions"));
    assert!(body.contains("collected in the background"));
    assert_eq!(h.get("/nothing").await.0, 404);

    // Gzip for scrapers that ask for it (as Prometheus does), plain for those that refuse it.
    let series = |text: &str| -> BTreeSet<String> {
        text.lines()
            .filter(|l| l.starts_with("dcs_clients{"))
            .map(str::to_string)
            .collect()
    };
    let zipped = h
        .http
        .get(format!("{}/metrics", h.exporter))
        .header("Accept-Encoding", "gzip")
        .send()
        .await
        .unwrap();
    assert_eq!(zipped.headers()["content-encoding"], "gzip");
    let compressed = zipped.bytes().await.unwrap();
    let mut plain = String::new();
    std::io::Read::read_to_string(
        &mut flate2::read::GzDecoder::new(&compressed[..]),
        &mut plain,
    )
    .unwrap();
    let (_, direct) = h.get("/metrics").await;
    assert!(
        compressed.len() * 3 < plain.len(),
        "{} of {}",
        compressed.len(),
        plain.len()
    );
    assert!(!series(&plain).is_empty());
    assert_eq!(series(&plain), series(&direct));
    let refused = h
        .http
        .get(format!("{}/metrics", h.exporter))
        .header("Accept-Encoding", "gzip;q=0, identity")
        .send()
        .await
        .unwrap();
    assert!(refused.headers().get("content-encoding").is_none());
    assert!(refused.text().await.unwrap().contains("dcs_clients{"));
    // As RFC 9110 weighs them: gzip refused however q=0 is written, over a wildcard, or with a
    // weight that is no q-value.
    for encodings in [
        "gzip;q=0, *",
        "gzip;q=0.000",
        "gzip;Q=0",
        "gzip;q=NaN",
        "*;q=0",
    ] {
        let answer = h
            .http
            .get(format!("{}/metrics", h.exporter))
            .header("Accept-Encoding", encodings)
            .send()
            .await
            .unwrap();
        assert!(
            answer.headers().get("content-encoding").is_none(),
            "{encodings} gave gzip"
        );
    }
    // A format whose weight is no q-value counts for nothing, wherever it stands.
    let preferred = h
        .http
        .get(format!("{}/metrics", h.exporter))
        .header(
            "Accept",
            "text/plain;q=NaN,application/vnd.google.protobuf;proto=io.prometheus.client.MetricFamily;encoding=delimited",
        )
        .send()
        .await
        .unwrap();
    assert!(
        preferred.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("application/vnd.google.protobuf")
    );

    // Uncompressed scrapes at once, more than are encoded together: each waits its turn and
    // gets the whole exposition.
    let scrapes: Vec<_> = (0..8)
        .map(|_| {
            let (http, url) = (h.http.clone(), format!("{}/metrics", h.exporter));
            tokio::spawn(async move {
                http.get(url)
                    .header("Accept", "application/openmetrics-text; version=1.0.0")
                    .send()
                    .await
                    .unwrap()
                    .text()
                    .await
                    .unwrap()
            })
        })
        .collect();
    for scrape in scrapes {
        let body = tokio::time::timeout(Duration::from_secs(60), scrape)
            .await
            .expect("every scrape is answered")
            .unwrap();
        assert!(body.ends_with("# EOF\n"), "whole: {} bytes", body.len());
        assert_eq!(series(&body), series(&direct));
    }
}

/// API calls of `operation` the exporter has made, by its own count.
fn api_calls(samples: &[Sample], operation: &str) -> f64 {
    samples
        .iter()
        .filter(|s| {
            s.name == "dcs_exporter_api_requests_total" && s.label("operation") == operation
        })
        .map(|s| s.value)
        .sum()
}

#[tokio::test]
async fn an_unchanged_stored_list_is_not_read_again_and_its_data_stays() {
    // Three pages a list (25 sessions, 10 a page); scans that keep the cache leave each stored
    // list as the first scan made it.
    let h = start(
        quiet_topology(25),
        r#"scan_interval = "1s"
        first_scan_spread = "0s"
        clean_cache = false
        page_size = 10"#,
    )
    .await;
    h.wait_ready().await;
    let nodes = h.stored_lists().len();
    let first = h.in_process.store.load();
    let data = |s: &Snapshot| -> Vec<Arc<NodeData>> {
        s.nodes
            .values()
            .map(|n| n.data.clone().expect("every node scanned"))
            .collect()
    };
    let first_data = data(&first);
    assert_eq!(first_data.len(), nodes);
    let before = h.scrape().await;

    // Three more scans of every node, at least.
    let until = Instant::now() + Duration::from_secs(30);
    let after = loop {
        let samples = h.scrape().await;
        if api_calls(&samples, "scan_clients")
            >= api_calls(&before, "scan_clients") + 3.0 * nodes as f64
        {
            break samples;
        }
        assert!(
            Instant::now() < until,
            "three more scans of each node not within 30 s"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    };
    let starts = api_calls(&after, "scan_clients") - api_calls(&before, "scan_clients");
    let pages = api_calls(&after, "list_clients") - api_calls(&before, "list_clients");
    // One page a scan (the one that tells the list's time), not three; a scan between its start
    // and its page at either scrape may count on one side only.
    assert!(
        pages <= starts + nodes as f64,
        "{pages} pages read for {starts} scans of {nodes} unchanged lists"
    );
    assert!(
        pages >= starts - nodes as f64,
        "{pages} pages for {starts} scans"
    );

    // Every node's data is the first scan's, confirmed by each scan since.
    let now = h.in_process.store.load();
    for (old, new) in first_data.iter().zip(data(&now)) {
        assert_eq!(new.aggregate, old.aggregate);
        assert_eq!(new.data_time, old.data_time);
        assert!(
            new.scanned > old.scanned,
            "the last scan's time is published"
        );
    }
    let samples = h.scrape().await;
    for (_, node, _, clients) in h.stored_lists() {
        let shown: f64 = of(&samples, "dcs_clients", &node)
            .iter()
            .map(|s| s.value)
            .sum();
        assert_eq!(shown, clients.len() as f64, "{node}");
        assert_eq!(value(&samples, "dcs_scan_success", &node), 1.0);
    }
}
