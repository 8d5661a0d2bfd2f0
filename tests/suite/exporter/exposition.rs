//! The exposition: protobuf and native histograms, families turned off, the golden file and the
//! writers against prometheus-client's encoders.

use super::*;

#[tokio::test]
async fn protobuf_carries_the_text_values_and_native_histograms_of_the_sessions() {
    let h = start(quiet_topology(300), SCAN_ONCE).await;
    h.wait_ready().await;
    let (_, text) = h.get("/metrics").await;
    let families = decoded_protobuf(&h).await;
    // Every value of the text format, as the protobuf one has it (values that move with the
    // clock between the two requests left out).
    let moving = |name: &str| name.starts_with("process_") || name.starts_with("dbss_job_duration");
    let from_text: TextSamples = harness::parse_exposition(&text)
        .into_iter()
        .filter(|s| !moving(&s.name))
        .map(|s| {
            // Bounds as numbers: the text spells 1 MiB 1.048576e+06.
            let mut l: Vec<(String, String)> = s
                .labels
                .into_iter()
                .map(|(k, v)| match (k.as_str(), v.parse::<f64>()) {
                    ("le", Ok(bound)) if v != "+Inf" => (k, format!("{bound}")),
                    _ => (k, v),
                })
                .collect();
            l.sort();
            (s.name, l, format!("{}", s.value))
        })
        .collect();
    let from_protobuf: BTreeSet<_> = samples_of(&families)
        .into_iter()
        .filter(|(name, _, _)| !moving(name))
        .collect();
    // The same series, with the same values (the text's shortest decimal may round the last bit).
    let by_series = |set: &TextSamples| {
        set.iter()
            .map(|(n, l, v)| ((n.clone(), l.clone()), v.parse::<f64>().unwrap()))
            .collect::<BTreeMap<_, _>>()
    };
    let (text_values, protobuf_values) = (by_series(&from_text), by_series(&from_protobuf));
    assert_eq!(
        text_values.keys().collect::<Vec<_>>(),
        protobuf_values.keys().collect::<Vec<_>>()
    );
    for (series, v) in &text_values {
        let p = protobuf_values[series];
        assert!((v - p).abs() <= v.abs() * 1e-15, "{series:?}: {v} and {p}");
    }
    assert!(from_text.len() > 500, "{}", from_text.len());
    // Native buckets of each node's idle histogram, against the stored list.
    let idle = family_named(&families, "dcs_client_idle_seconds");
    let lists = h.stored_lists();
    for (_, node, _, clients) in &lists {
        let m = idle["metrics"]
            .as_array()
            .unwrap()
            .iter()
            .find(|m| m["labels"]["node_id"] == node.as_str())
            .unwrap();
        let hist = &m["histogram"];
        assert_eq!(hist["schema"], 3);
        let mut expected: BTreeMap<i32, u64> = BTreeMap::new();
        let mut zeros = 0;
        for c in clients {
            match c.idle.unwrap() {
                0 => zeros += 1,
                idle => *expected.entry(native_index(idle as f64)).or_default() += 1,
            }
        }
        let mut got: BTreeMap<i32, u64> = BTreeMap::new();
        let (mut index, mut count) = (0i32, 0i64);
        let mut deltas = hist["positive_deltas"].as_array().unwrap().iter();
        for (k, span) in hist["positive_spans"]
            .as_array()
            .unwrap()
            .iter()
            .enumerate()
        {
            let offset = span[0].as_i64().unwrap() as i32;
            index = if k == 0 { offset } else { index + offset };
            for _ in 0..span[1].as_u64().unwrap() {
                count += deltas.next().unwrap().as_i64().unwrap();
                if count > 0 {
                    got.insert(index, count as u64);
                }
                index += 1;
            }
        }
        assert_eq!(hist["zero_count"], zeros, "{node}");
        assert_eq!(got, expected, "{node}");
        assert_eq!(hist["count"], clients.len() as u64);
    }
}

#[tokio::test]
async fn native_only_histograms_and_families_turned_off() {
    let settings = format!(
        "{SCAN_ONCE}\nhistograms = \"native\"\ndisable = [\"query_buffer\", \"age\", \"top_clients\"]"
    );
    let h = start(quiet_topology(50), &settings).await;
    h.wait_ready().await;
    let samples = h.scrape().await;
    let has = |prefix: &str| samples.iter().any(|s| s.name.starts_with(prefix));
    for gone in [
        "dcs_client_age_seconds",
        "dcs_client_query_buffer_bytes",
        "dcs_top_client_",
    ] {
        assert!(!has(gone), "{gone} is turned off");
    }
    assert!(has("dcs_clients_by_kind") && has("dcs_client_output_memory_bytes"));
    // Text formats keep only +Inf, _sum and _count of a native histogram.
    let bounds: BTreeSet<&str> = samples
        .iter()
        .filter(|s| s.name == "dcs_client_idle_seconds_bucket")
        .map(|s| s.label("le"))
        .collect();
    assert_eq!(bounds, BTreeSet::from(["+Inf"]));
    let families = decoded_protobuf(&h).await;
    let idle = family_named(&families, "dcs_client_idle_seconds");
    for m in idle["metrics"].as_array().unwrap() {
        let hist = &m["histogram"];
        assert_eq!(hist["schema"], 3);
        assert!(!hist["positive_spans"].as_array().unwrap().is_empty());
        assert_eq!(hist["buckets"].as_array().unwrap().len(), 1, "+Inf only");
    }
}

#[test]
fn histograms_and_disable_are_checked() {
    for (toml, words) in [
        ("[exporter]\nhistograms = \"sparse\"", "histograms"),
        (
            "[exporter]\ndisable = [\"idle\", \"sessions\"]",
            "\"sessions\" is no family",
        ),
    ] {
        let err = Config::from_toml(toml).unwrap_err().to_string();
        assert!(err.contains(words), "{err}");
    }
}

#[tokio::test]
async fn scans_that_overrun_the_interval_are_counted_as_skipped() {
    // Five nodes, one scan at a time, each scan about 0.6 s: a round takes 3 s, the interval 1 s.
    let mut topology = quiet_topology(20);
    topology.job_duration = Duration::from_millis(600);
    let h = start(
        topology,
        "scan_interval = \"1s\"\nfirst_scan_spread = \"0s\"\nmax_concurrent_scans = 1",
    )
    .await;
    let samples = h
        .scrape_until(Duration::from_secs(30), |samples| {
            samples
                .iter()
                .filter(|s| s.name == "dcs_scan_skipped_total")
                .map(|s| s.value)
                .sum::<f64>()
                >= 5.0
        })
        .await;
    let interval = samples
        .iter()
        .find(|s| s.name == "dcs_exporter_scan_interval_seconds")
        .unwrap()
        .value;
    assert_eq!(interval, 1.0);
    let longest = samples
        .iter()
        .filter(|s| s.name == "dcs_scan_cycle_seconds")
        .map(|s| s.value)
        .fold(0.0, f64::max);
    assert!(longest > interval, "the longest cycle {longest} s");
}

#[tokio::test]
async fn discovery_filters_by_tag_enterprise_project_and_engine_version() {
    let topology = quiet_topology(5);
    let by_name = |name: &str| {
        topology
            .instances
            .iter()
            .find(|i| i.name == name)
            .unwrap()
            .clone()
    };
    let (orders, proxy) = (by_name("orders-cache"), by_name("sessions-proxy"));
    let cases = [
        (
            r#"tags = ["team=orders", "env=prod"]"#.to_string(),
            "orders-cache",
        ),
        (r#"tags = ["team=platform"]"#.to_string(), "sessions-proxy"),
        (r#"engine_version = "5""#.to_string(), "sessions-proxy"),
        (
            format!("engine_version = \"{}\"", orders.engine_version),
            "orders-cache",
        ),
        (
            format!(
                "enterprise_project_id = \"{}\"",
                proxy.enterprise_project_id
            ),
            "sessions-proxy",
        ),
    ];
    for (filter, expected) in cases {
        let h = start_with(quiet_topology(5), SCAN_ONCE, "", &filter, |_| {}).await;
        h.wait_ready().await;
        let samples = h.scrape().await;
        let names: BTreeSet<String> = samples
            .iter()
            .filter(|s| s.name == "dcs_node_info")
            .map(|s| s.label("instance_name").to_string())
            .collect();
        assert_eq!(names, BTreeSet::from([expected.to_string()]), "{filter}");
    }
    // Tags that match nothing: nothing is scanned, and the exporter is ready.
    let h = start_with(
        quiet_topology(5),
        SCAN_ONCE,
        "",
        r#"tags = ["team=nobody"]"#,
        |_| {},
    )
    .await;
    h.wait_ready().await;
    assert!(h.scrape().await.iter().all(|s| s.name != "dcs_node_info"));
}

#[tokio::test]
async fn an_instance_whose_parameters_cannot_be_read_keeps_its_session_metrics() {
    let h = start_with(quiet_topology(20), SCAN_ONCE, "", "", |sim| {
        sim.inject_fault(Fault::new(
            Operation::ListConfigurations,
            u32::MAX,
            SimError::dcs(500, "DCS.5000", "Internal error."),
        ));
        sim.inject_fault(Fault::new(
            Operation::ListSlowlog,
            u32::MAX,
            SimError::dcs(403, "DCS.4003", "No permission to list slow logs."),
        ));
    })
    .await;
    h.wait_ready().await;
    // A slow log that cannot be read is counted, and fails no scan.
    let samples = h
        .scrape_until(Duration::from_secs(20), |samples| {
            samples.iter().any(|s| {
                s.name == "dcs_exporter_instance_context_errors_total"
                    && s.label("operation") == "list_slowlog"
                    && s.label("reason") == "DCS.4003"
            })
        })
        .await;
    assert!(samples.iter().all(|s| !s.name.starts_with("dcs_slow_")));
    let nodes: usize = instances_and_nodes(&h.sim)
        .iter()
        .map(|(_, n)| n.len())
        .sum();
    let scanned = samples
        .iter()
        .filter(|s| s.name == "dcs_scan_success" && s.value == 1.0)
        .count();
    assert_eq!(scanned, nodes, "every node scanned");
    assert!(samples.iter().any(|s| s.name == "dcs_clients"));
    assert!(samples.iter().all(|s| s.name != "dcs_node_max_clients"));
    // The details still came through.
    assert_eq!(
        samples
            .iter()
            .filter(|s| s.name == "dcs_instance_info")
            .count(),
        2
    );
    let errors: f64 = samples
        .iter()
        .filter(|s| {
            s.name == "dcs_exporter_instance_context_errors_total"
                && s.label("operation") == "list_configurations"
                && s.label("reason") == "DCS.5000"
        })
        .map(|s| s.value)
        .sum();
    assert!(errors >= 2.0, "{errors}");
}

fn golden_snapshot() -> Arc<Store> {
    golden_snapshot_of(false)
}

/// The golden snapshot; `native`: with native buckets as well.
fn golden_snapshot_of(native: bool) -> Arc<Store> {
    let settings = Arc::new(AggregateSettings {
        max_client_addrs: 2,
        max_client_names: 20,
        max_client_commands: 20,
        idle_threshold_seconds: 3600,
        native_histograms: native,
        top_clients: 2,
        client_addr_field: ClientAddrField::Addr,
        idle_buckets: vec![1.0, 60.0, 3600.0].into(),
        age_buckets: vec![60.0, 86400.0].into(),
        bytes_buckets: vec![0.0, 65536.0].into(),
    });
    let session = |addr: &str, db: &str, user: &str, idle: i64, omem: i64, name: &str| ClientInfo {
        addr: Some(addr.into()),
        db: Some(db.into()),
        user: Some(user.into()),
        idle: Some(idle),
        age: Some(idle * 2 + 5),
        omem: Some(omem),
        qbuf: Some(if idle == 0 { 26 } else { 0 }),
        sub: Some(i64::from(name == "pubsub")),
        psub: Some(0),
        name: Some(name.into()),
        cmd: Some(if name == "pubsub" { "subscribe" } else { "get" }.into()),
        ..Default::default()
    };
    let sessions = vec![
        session("10.0.0.1:5001", "0", "app", 0, 0, "api"),
        session("10.0.0.1:5002", "0", "app", 30, 0, "api"),
        session("10.0.0.1:5003", "1", "app", 7200, 0, "api"),
        session("10.0.0.2:6001", "0", "default", 90000, 0, "cron"),
        session("10.0.0.2:6002", "0", "default", 2, 2_000_000, "pubsub"),
        session("10.0.0.3:7001", "0", "report\"er", 5, 1024, ""),
    ];
    let store = Arc::new(Store::new());
    let now = harness::fixed_now();
    let key = NodeKey {
        instance_id: "inst-1".into(),
        node_id: "node-a".into(),
    };
    store.update(|s| {
        s.discovered.insert("prod".into());
        s.nodes.insert(
            key.clone(),
            Arc::new(NodeState {
                info: NodeInfo {
                    source: dcs_session_exporter::snapshot::Source::Cloud("prod".into()),
                    instance_name: "orders".into(),
                    node_name: "orders-0001".into(),
                    node_role: "master".into(),
                    node_ip: "192.168.0.10".into(),
                    az: "cn-north-4a".into(),
                    cloud_eye_id: "ces-node-a".into(),
                    max_clients: Some(10_000),
                    idle_timeout: Some(0),
                },
                last_attempt: Some(Attempt {
                    finished: now - Duration::from_secs(5),
                    duration: Duration::from_millis(2500),
                    failure: None,
                }),
                data: Some(Arc::new(NodeData {
                    aggregate: aggregate(settings, &sessions),
                    data_time: Some(now - Duration::from_secs(7)),
                    scanned: now - Duration::from_secs(5),
                })),
                errors: BTreeMap::from([((Stage::Job, Reason::Timeout), 2)]),
                skipped: 2,
                last_cycle: Some(Duration::from_millis(61_500)),
            }),
        );
        // A node whose last scan failed long ago: status only.
        s.nodes.insert(
            NodeKey {
                instance_id: "inst-1".into(),
                node_id: "node-b".into(),
            },
            Arc::new(NodeState {
                info: NodeInfo::default(),
                last_attempt: Some(Attempt {
                    finished: now - Duration::from_secs(600),
                    duration: Duration::from_secs(45),
                    failure: Some(Failure {
                        stage: Stage::List,
                        reason: Reason::ApiCode("APIG.0308".into()),
                        message: "throttled".into(),
                    }),
                }),
                data: None,
                errors: BTreeMap::from([((Stage::List, Reason::ApiCode("APIG.0308".into())), 1)]),
                ..Default::default()
            }),
        );
        let mut dbss = DbssState::default();
        let job =
            |id: &str, status: JobStatus, begin: i64, end: Option<i64>, code: Option<&str>| {
                JobBean {
                    job_id: Some(id.into()),
                    status,
                    job_type: Some("CREATE_INSTANCE".into()),
                    begin_time: Some(begin),
                    end_time: end,
                    error_code: code.map(str::to_string),
                    ..Default::default()
                }
            };
        let ms = |t: SystemTime| {
            t.duration_since(SystemTime::UNIX_EPOCH)
                .unwrap()
                .as_millis() as i64
        };
        dbss.record_jobs(
            vec![
                job(
                    "j-ok",
                    JobStatus::Success,
                    ms(now) - 100_000,
                    Some(ms(now) - 40_000),
                    None,
                ),
                job(
                    "j-fail",
                    JobStatus::Fail,
                    ms(now) - 50_000,
                    Some(ms(now) - 20_000),
                    Some("DBSS.1007"),
                ),
                job("j-run", JobStatus::Running, ms(now) - 1_500_000, None, None),
            ],
            now - Duration::from_secs(3),
        );
        dbss.last_attempt = Some(Attempt {
            finished: now - Duration::from_secs(3),
            duration: Duration::from_millis(120),
            failure: None,
        });
        s.dbss.insert("res-1".into(), Arc::new(dbss));
        s.last_discovery.insert("prod".into(), None);
        s.last_discovery
            .insert("backup".into(), Some("listing instances: 403".into()));
        s.clock_offsets.insert("prod".into(), -1.5);
        s.api_plans.insert("prod".into(), golden_plan());
        s.scan_interval = Some(Duration::from_secs(60));
        s.instances.insert(
            "inst-1".into(),
            dcs_session_exporter::snapshot::InstanceContext {
                cloud: "prod".into(),
                instance_name: "orders".into(),
                engine_version: "6.0".into(),
                spec_code: "redis.ha.xu1.large.r2.8".into(),
                architecture: "ha".into(),
                enterprise_project_id: "0".into(),
                client_ip_pass_through: Some(true),
                tags: vec![
                    ("tag_env".into(), "prod".into()),
                    ("tag_cost_center".into(), "".into()),
                ],
                slow_log: true,
                slow_log_flag: Some(true),
                maxmemory_policy: None,
            },
        );
        s.context_errors.insert(
            (
                "inst-1".into(),
                dcs_session_exporter::snapshot::ContextRead::Api(Operation::ListConfigurations),
                "DCS.5000".into(),
            ),
            3,
        );
        let mut slow = dcs_session_exporter::slowlog::SlowCommands::default();
        let entry =
            |addr: &str, command: &str, millis: u64| dcs_session_exporter::slowlog::SlowEntry {
                id: 1,
                time: now,
                duration: Duration::from_millis(millis),
                shard: String::new(),
                role: "master".into(),
                client_addr: addr.into(),
                command: command.into(),
            };
        slow.record(
            &[
                entry("10.0.0.5", "keys", 120),
                entry("10.0.0.5", "keys", 30),
                entry("10.0.0.9", "hgetall", 12),
            ],
            &dcs_session_exporter::slowlog::SlowCaps {
                addrs: 1,
                commands: 20,
                series: 200,
            },
        );
        s.slow_commands.insert("inst-1".into(), Arc::new(slow));
        s.keys.insert("inst-1".into(), Arc::new(golden_keys()));
        s.instance_memory.insert(
            "inst-1".into(),
            dcs_session_exporter::keys::InstanceMemory {
                used_bytes: Some(512 << 20),
                max_bytes: Some(1 << 30),
                keys: Some(120_000),
            },
        );
    });
    store
}

/// The cloud's schedule with the defaults and every feature on, for one instance and one
/// DBSS resource; its nodes come from the snapshot.
fn golden_plan() -> dcs_session_exporter::capacity::CloudPlan {
    use dcs_session_exporter::capacity::{CloudPlan, Fleet, Schedule};
    CloudPlan {
        schedule: Schedule {
            scan_interval: Duration::from_secs(60),
            discovery_interval: Duration::from_secs(600),
            page_size: 1000,
            requests_per_second: 100.0,
            polls_per_job: 1,
            lists_instances: true,
            slow_log: true,
            key_analysis_interval: Some(Duration::from_secs(600)),
            key_analysis_trigger: None,
        },
        fleet: Fleet {
            instances: 1,
            listed_instances: 1,
            slow_log_instances: 1,
            analysed_instances: 1,
            dbss_resources: 1,
            ..Fleet::default()
        },
    }
}

/// An instance's analyses: a big string and collection, a hot key, two prefixes and `other`.
fn golden_keys() -> dcs_session_exporter::keys::InstanceKeys {
    use dcs_session_exporter::keys::{
        InstanceKeys, KeyResult, KeySeries, Measure, PrefixResult, PrefixSeries,
    };
    let at = harness::fixed_now() - Duration::from_secs(3600);
    let key = |key_type: &str, key: &str, value: u64| KeySeries {
        shard: "192.168.0.10:6379".into(),
        db: "0".into(),
        key_type: key_type.into(),
        key: key.into(),
        value,
    };
    let result = |series: Vec<(Measure, Vec<KeySeries>)>| KeyResult {
        task_id: "t1".into(),
        finished: Some(at),
        series: series.into_iter().collect(),
    };
    let prefix = |prefix: &str, key_type: &str, bytes: u64, keys: u64| PrefixSeries {
        prefix: prefix.into(),
        key_type: key_type.into(),
        bytes,
        keys,
    };
    InstanceKeys {
        big: Some(result(vec![
            (
                Measure::Bytes,
                vec![key("string", "blob:\"1\"", 12_582_912)],
            ),
            (
                Measure::Elements,
                vec![key("hash", "user:index", 2_000_000)],
            ),
        ])),
        hot: Some(result(vec![(
            Measure::Frequency,
            vec![key("string", "config", 230)],
        )])),
        prefix: Some(PrefixResult {
            task_id: "o1".into(),
            finished: Some(at),
            prefixes: vec![
                prefix("user", "hash", 3_000_000_000, 1_000_000),
                prefix("other", "string", 1_024, 8),
            ],
            by_type: [("hash".to_string(), (Some(3_000_000_000), Some(1_000_000)))].into(),
        }),
    }
}

#[test]
fn golden_exposition() {
    let targets = SnapshotCollector::new(golden_snapshot(), Duration::from_secs(180))
        .with_clock(harness::fixed_now);
    let text = Format::Text
        .encode(&targets, &prometheus_client::registry::Registry::default())
        .unwrap();
    let text = String::from_utf8(text).unwrap();
    let path = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/data/golden.prom");
    if std::env::var("UPDATE_GOLDEN").is_ok() {
        std::fs::write(path, &text).unwrap();
    }
    let golden =
        std::fs::read_to_string(path).expect("tests/data/golden.prom (UPDATE_GOLDEN=1 writes it)");
    assert_eq!(
        text, golden,
        "the exposition changed; review, then UPDATE_GOLDEN=1 cargo test golden"
    );
}

/// The exporter's own writers against prometheus-client's encoders, on the same snapshot:
/// byte for byte in every format and histogram mode, with label values that need escaping,
/// cutting, or are empty, and values that are not finite.
#[test]
fn the_writers_match_prometheus_clients_encoders_byte_for_byte() {
    use dcs_session_exporter::config::HistogramMode;
    let store = golden_snapshot_of(true);
    store.update(|s| {
        let (key, node) = s
            .nodes
            .iter()
            .next()
            .map(|(k, n)| (k.clone(), n.clone()))
            .unwrap();
        let mut odd = (*node).clone();
        odd.info.instance_name = "a \\ b \" c\nd λ".into();
        odd.info.node_name = "n".repeat(300);
        odd.info.az = String::new();
        // Client rows the text writers cannot copy as kept: a value to escape, a value to
        // cut, and values that fit their cap alone but not together.
        {
            let data = odd.data.as_mut().expect("the golden nodes have data");
            let clients = &mut Arc::make_mut(data).aggregate.clients;
            clients.push(dcs_session_exporter::aggregate::ClientCount::new(
                "10.0.0.200",
                "0",
                "us\"er\\",
                1,
            ));
            clients.push(dcs_session_exporter::aggregate::ClientCount::new(
                &"a".repeat(300),
                "1",
                "u",
                2,
            ));
            clients.push(dcs_session_exporter::aggregate::ClientCount::new(
                &"b".repeat(200),
                "2",
                &"c".repeat(60),
                3,
            ));
        }
        s.nodes.insert(
            NodeKey {
                instance_id: "inst \"2\"".into(),
                node_id: format!("{}\\\n", key.node_id).into(),
            },
            Arc::new(odd),
        );
        s.clock_offsets.insert("nan".into(), f64::NAN);
        s.clock_offsets.insert("inf".into(), f64::INFINITY);
        s.clock_offsets.insert("-inf".into(), f64::NEG_INFINITY);
    });
    let mut checked = 0;
    for mode in [
        HistogramMode::Both,
        HistogramMode::Native,
        HistogramMode::Classic,
    ] {
        store.update(|s| Arc::make_mut(&mut s.exposition).histograms = mode);
        let targets = SnapshotCollector::new(Arc::clone(&store), Duration::from_secs(180))
            .with_clock(harness::fixed_now);
        let empty = prometheus_client::registry::Registry::default();
        let mut reference = prometheus_client::registry::Registry::default();
        reference.register_collector(Box::new(
            SnapshotCollector::new(Arc::clone(&store), Duration::from_secs(180))
                .with_clock(harness::fixed_now),
        ));
        for format in [Format::Text, Format::OpenMetrics, Format::Protobuf] {
            let ours = format.encode(&targets, &empty).unwrap();
            let theirs = match format {
                Format::Protobuf => {
                    prometheus_client::encoding::prometheus_protobuf::encode_to_vec(&reference)
                        .unwrap()
                }
                Format::OpenMetrics => {
                    let mut text = String::new();
                    prometheus_client::encoding::text::encode(&mut text, &reference).unwrap();
                    text.into_bytes()
                }
                Format::Text => {
                    let mut text = String::new();
                    prometheus_client::encoding::prometheus_text::encode(&mut text, &reference)
                        .unwrap();
                    text.into_bytes()
                }
            };
            if ours != theirs {
                let at = ours
                    .iter()
                    .zip(&theirs)
                    .position(|(a, b)| a != b)
                    .unwrap_or(ours.len().min(theirs.len()));
                let around = |b: &[u8]| {
                    String::from_utf8_lossy(&b[at.saturating_sub(80)..(at + 80).min(b.len())])
                        .into_owned()
                };
                panic!(
                    "{format:?}, {mode:?}: {} bytes against {}, first difference at byte {at}:\nours:   {:?}\ntheirs: {:?}",
                    ours.len(),
                    theirs.len(),
                    around(&ours),
                    around(&theirs)
                );
            }
            assert!(
                ours.len() > 2_000,
                "{format:?} {mode:?}: {} bytes",
                ours.len()
            );
            checked += 1;
        }
    }
    assert_eq!(checked, 9);
}
