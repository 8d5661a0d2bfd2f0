//! The exporter's hot paths, per session: decoding and aggregating a page of 1,000 sessions
//! from the DCS API, parsing and aggregating `CLIENT LIST` text, and encoding `/metrics` for
//! 1,000 nodes.
//!
//!     cargo bench --bench ingest

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::hint::black_box;
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use criterion::{Criterion, Throughput, criterion_group, criterion_main};
use dcs_session_exporter::aggregate::{AggregateSettings, Aggregator, aggregate};
use dcs_session_exporter::cloud::dcs::{ClientPage, decode_client_page_with};
use dcs_session_exporter::cloud::page_reader::ClientPageRef;
use dcs_session_exporter::config::{
    ClientAddrField, DEFAULT_BYTES_BUCKETS, DEFAULT_SECONDS_BUCKETS,
};
use dcs_session_exporter::metrics::SnapshotCollector;
use dcs_session_exporter::redis::client_list;
use dcs_session_exporter::server::Format;
use dcs_session_exporter::session::ClientInfo;
use dcs_session_exporter::sim::population::{ClientProfile, Population, render};
use dcs_session_exporter::slowlog::{SlowCaps, SlowCommands, SlowEntry};
use dcs_session_exporter::snapshot::{Attempt, NodeData, NodeInfo, NodeKey, NodeState, Store};
use rand::SeedableRng;
use rand::rngs::StdRng;

const NOW_MS: i64 = 1_800_000_000_000;

fn settings() -> Arc<AggregateSettings> {
    Arc::new(AggregateSettings {
        max_client_addrs: 50,
        max_client_names: 20,
        max_client_commands: 20,
        idle_threshold_seconds: 3600,
        native_histograms: true,
        top_clients: 5,
        client_addr_field: ClientAddrField::Addr,
        idle_buckets: DEFAULT_SECONDS_BUCKETS.to_vec().into(),
        age_buckets: DEFAULT_SECONDS_BUCKETS.to_vec().into(),
        bytes_buckets: DEFAULT_BYTES_BUCKETS.to_vec().into(),
    })
}

/// Realistic sessions from the simulator's generator.
fn sessions(n: u32, seed: u64) -> Vec<ClientInfo> {
    let mut rng = StdRng::seed_from_u64(seed);
    let profile = Arc::new(ClientProfile::generate(&mut rng, 12, None));
    let population = Population::new(seed, profile, n, NOW_MS);
    population
        .sessions()
        .iter()
        .map(|s| render(population.profile(), s, NOW_MS))
        .collect()
}

/// The same sessions as a Redis 7 `CLIENT LIST` reply.
fn client_list_text(clients: &[ClientInfo]) -> String {
    let mut out = String::new();
    for c in clients {
        let n = |v: Option<i64>| v.unwrap_or(0);
        let _ = writeln!(
            out,
            "id={} addr={} laddr=10.0.0.1:6379 fd={} name={} age={} idle={} flags={} db={} sub={} psub={} ssub=0 multi={} qbuf={} qbuf-free={} argv-mem=0 multi-mem=0 rbs=1024 rbp=0 obl={} oll={} omem={} tot-mem=22272 events=r cmd={} user={} redir=-1 resp=2",
            c.id.as_deref().unwrap_or("0"),
            c.addr.as_deref().unwrap_or(""),
            c.fd.as_deref().unwrap_or("0"),
            c.name.as_deref().unwrap_or(""),
            n(c.age),
            n(c.idle),
            c.flags.as_deref().unwrap_or("N"),
            c.db.as_deref().unwrap_or("0"),
            n(c.sub),
            n(c.psub),
            n(c.multi),
            n(c.qbuf),
            n(c.qbuf_free),
            n(c.obl),
            n(c.oll),
            n(c.omem),
            c.cmd.as_deref().unwrap_or("NULL"),
            c.user.as_deref().unwrap_or("default"),
        );
    }
    out
}

fn dcs_page(c: &mut Criterion) {
    let clients = sessions(1000, 1);
    let page = serde_json::to_vec(&ClientPage {
        time: Some("2027-01-15T08:00:00.000Z".into()),
        clients: clients.clone(),
        count: Some(1000),
    })
    .unwrap();
    eprintln!(
        "a page of 1,000 sessions: {} KiB of JSON",
        page.len() / 1024
    );
    let settings = settings();
    let mut group = c.benchmark_group("dcs_page_of_1000");
    group.throughput(Throughput::Elements(1000));
    // What a scan does with each page: decode it in place and aggregate its sessions.
    group.bench_function("decode_and_aggregate", |b| {
        b.iter(|| {
            let mut agg = Aggregator::new(Arc::clone(&settings));
            decode_client_page_with(black_box(&page), &mut |c| agg.observe(c)).unwrap();
            black_box(agg.finish())
        })
    });
    group.bench_function("decode_only", |b| {
        b.iter(|| {
            let mut n = 0;
            decode_client_page_with(black_box(&page), &mut |c| {
                n += black_box(c).age.is_some() as u64
            })
            .unwrap();
            black_box(n)
        })
    });
    // The generic decoder, which the one-pass reader leaves unusual pages to.
    group.bench_function("decode_only_serde", |b| {
        b.iter(|| black_box(serde_json::from_slice::<ClientPageRef>(black_box(&page)).unwrap()))
    });
    group.bench_function("aggregate_only", |b| {
        b.iter(|| black_box(aggregate(Arc::clone(&settings), black_box(&clients))))
    });
    group.finish();
}

fn redis_client_list(c: &mut Criterion) {
    let text = client_list_text(&sessions(1000, 2));
    let settings = settings();
    let mut group = c.benchmark_group("client_list_of_1000");
    group.throughput(Throughput::Elements(1000));
    group.bench_function("parse_and_aggregate", |b| {
        b.iter(|| {
            let mut agg = Aggregator::new(Arc::clone(&settings));
            for session in client_list::sessions(black_box(&text)) {
                agg.observe(&session);
            }
            black_box(agg.finish())
        })
    });
    group.bench_function("parse_only", |b| {
        b.iter(|| black_box(client_list::sessions(black_box(&text)).count()))
    });
    group.finish();
}

/// A store of `nodes` nodes of 300 realistic sessions each (ten a instance), with every family
/// of the exporter: the session families, native histograms, and each instance's slow commands.
fn store_of(nodes: u64) -> Arc<Store> {
    let store = Arc::new(Store::new());
    let settings = settings();
    let now = SystemTime::now();
    store.update(|s| {
        for i in 0..nodes {
            let key = NodeKey {
                instance_id: format!("instance-{:03}", i / 10).into(),
                node_id: format!("node-{i:04}").into(),
            };
            let data = NodeData {
                aggregate: aggregate(Arc::clone(&settings), &sessions(300, i)),
                data_time: Some(now),
                scanned: now,
            };
            let state = NodeState {
                info: NodeInfo {
                    source: dcs_session_exporter::snapshot::Source::Cloud("bench".into()),
                    instance_name: format!("cache-{}", i / 10),
                    node_name: format!("cache-{}-{}", i / 10, i % 10),
                    node_role: "master".into(),
                    node_ip: format!("192.168.{}.{}", i / 250, i % 250),
                    az: "cn-north-4a".into(),
                    max_clients: Some(10_000),
                    idle_timeout: Some(0),
                    ..Default::default()
                },
                last_attempt: Some(Attempt {
                    finished: now,
                    duration: Duration::from_millis(900),
                    failure: None,
                }),
                data: Some(Arc::new(data)),
                errors: BTreeMap::new(),
                ..Default::default()
            };
            s.nodes.insert(key, Arc::new(state));
        }
        // 40 slow-command series an instance: 8 addresses × 5 commands.
        for instance in 0..nodes.div_ceil(10) {
            let mut slow = SlowCommands::default();
            let entries: Vec<SlowEntry> = (0..40)
                .map(|k| SlowEntry {
                    id: k,
                    time: now,
                    duration: Duration::from_millis(10 + 7 * k as u64),
                    shard: String::new(),
                    role: "master".into(),
                    client_addr: format!("10.0.0.{}", k % 8),
                    command: ["keys", "hgetall", "smembers", "lrange", "sort"][(k / 8) as usize]
                        .into(),
                })
                .collect();
            let caps = SlowCaps {
                addrs: 50,
                commands: 20,
                series: 200,
            };
            slow.record(&entries, &caps);
            s.slow_commands
                .insert(format!("instance-{instance:03}"), Arc::new(slow));
        }
    });
    store
}

/// A store of `nodes` nodes (ten an instance) with their instances' context, as a fleet that
/// has been looked up: what a scan's publication copies, whatever the node's sessions.
fn fleet_of(nodes: u64) -> Arc<Store> {
    let store = Arc::new(Store::new());
    store.update(|s| {
        for i in 0..nodes {
            let instance_id: Arc<str> = format!("instance-{:04}", i / 10).into();
            let key = NodeKey {
                instance_id: Arc::clone(&instance_id),
                node_id: format!("node-{i:05}").into(),
            };
            s.nodes.insert(key, Arc::new(NodeState::default()));
            s.instances
                .entry(instance_id.to_string())
                .or_insert_with(Default::default);
        }
    });
    store
}

/// One scan's publication (its node's state replaced) in fleets of 200 to 10,000 nodes: its
/// cost should not grow with the fleet.
fn publish(c: &mut Criterion) {
    let mut group = c.benchmark_group("publish_one_node");
    for nodes in [200, 2_000, 10_000] {
        let store = fleet_of(nodes);
        let key = NodeKey {
            instance_id: "instance-0007".into(),
            node_id: "node-00077".into(),
        };
        let now = SystemTime::now();
        group.bench_function(format!("{nodes}_nodes"), |b| {
            b.iter(|| {
                store.update(|s| {
                    if let Some(node) = s.nodes.get_mut(&key) {
                        Arc::make_mut(node).last_attempt = Some(Attempt {
                            finished: now,
                            duration: Duration::from_millis(900),
                            failure: None,
                        });
                    }
                })
            })
        });
    }
    group.finish();
}

/// Bytes of heap in use (glibc's count; 0 elsewhere): what a store holds, measured around it.
fn heap_in_use() -> usize {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[allow(unsafe_code)]
    let held = {
        // SAFETY: mallinfo2 only reads malloc's statistics.
        let info = unsafe { libc::mallinfo2() };
        info.uordblks + info.hblkhd
    };
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    let held = 0;
    held
}

fn encode(c: &mut Criterion) {
    let registry = prometheus_client::registry::Registry::default();
    for nodes in [100, 1000] {
        let before = heap_in_use();
        let store = store_of(nodes);
        eprintln!(
            "a store of {nodes} nodes: {:.2} MiB of heap",
            heap_in_use().saturating_sub(before) as f64 / (1 << 20) as f64
        );
        let targets = SnapshotCollector::new(store, Duration::from_secs(180));
        let encoded = |format: Format| format.encode(&targets, &registry).unwrap();
        let text = String::from_utf8(encoded(Format::Text)).unwrap();
        // EXPOSITION_DIR=dir keeps each exposition for a look at what makes it up.
        if let Ok(dir) = std::env::var("EXPOSITION_DIR") {
            std::fs::write(format!("{dir}/metrics-{nodes}-nodes.prom"), &text).unwrap();
        }
        let sizes =
            [Format::Text, Format::OpenMetrics, Format::Protobuf].map(|f| (f, encoded(f).len()));
        let gzipped = {
            let mut gzip = flate2::write::GzEncoder::new(Vec::new(), flate2::Compression::fast());
            Format::Text.write(&targets, &registry, &mut gzip).unwrap();
            gzip.finish().unwrap().len()
        };
        eprintln!(
            "/metrics for {nodes} nodes: {} samples; text {} KiB (gzipped {} KiB), OpenMetrics {} KiB, protobuf {} KiB",
            text.lines().filter(|l| !l.starts_with('#')).count(),
            sizes[0].1 / 1024,
            gzipped / 1024,
            sizes[1].1 / 1024,
            sizes[2].1 / 1024,
        );
        let mut group = c.benchmark_group(format!("encode_metrics_{nodes}_nodes"));
        for (format, _) in sizes {
            let name = format!("{format:?}").to_lowercase();
            // As an uncompressed scrape is written: chunks handed on, no whole copy kept.
            group.bench_function(name, |b| {
                b.iter(|| {
                    let mut sink = std::io::sink();
                    format.write(&targets, &registry, &mut sink).unwrap();
                })
            });
        }
        // As a scrape that asks for gzip (Prometheus) is written, compression included.
        group.bench_function("text_gzip", |b| {
            b.iter(|| {
                let mut gzip = flate2::write::GzEncoder::new(
                    Vec::with_capacity(gzipped + gzipped / 8),
                    flate2::Compression::fast(),
                );
                Format::Text.write(&targets, &registry, &mut gzip).unwrap();
                black_box(gzip.finish().unwrap())
            })
        });
        group.finish();
    }
}

criterion_group! {
    name = benches;
    config = Criterion::default().sample_size(20).measurement_time(Duration::from_secs(4));
    targets = dcs_page, redis_client_list, publish, encode
}
criterion_main!(benches);
