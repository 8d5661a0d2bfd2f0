//! DCS's key analyses answering what they should not: a task that never finishes, a hundred
//! tasks none of which succeeded, details that list no keys or answer 404 for a listed task,
//! sizes as `null` or text, key names of a megabyte or with a newline. Each through the real
//! binary against the simulator: a clear reason counted in
//! `dcs_exporter_instance_context_errors_total`, no panic, bounded series, and every other
//! key family of the instance as a run on the sound simulator shows it.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use dcs_session_exporter::cloud::{Credentials, Operation};
use dcs_session_exporter::sim::state::{TaskKind, TaskShaping, codes};
use dcs_session_exporter::sim::{Fault, FaultKind, SimConfig, SimError, Simulator, Topology};

use crate::common::harness::{self, Sample, scrape, wait_for};
use crate::common::process::{Dir, Exporter};

const AK: &str = "AKUPSTREAMKEYS";
const SK: &str = "SKupstreamkeys00000000000000001";
const ENV: [(&str, &str); 2] = [("CLOUD_SDK_AK", AK), ("CLOUD_SDK_SK", SK)];
const QUICK: &str =
    "[exporter]\nscan_interval = \"5s\"\ndiscovery_interval = \"5s\"\nfirst_scan_spread = \"0s\"\n";
/// The demo instance whose hot-key analyses run (its policy is LFU).
const LFU_INSTANCE: &str = "orders-cache";

/// Key series by name and labels: what the comparisons compare.
type Series = BTreeMap<(String, Vec<(String, String)>), f64>;

/// The families read from the analyses.
fn is_key_family(name: &str) -> bool {
    name.starts_with("dcs_big_key_")
        || name.starts_with("dcs_hot_key_")
        || name.starts_with("dcs_key_prefix_")
        || name.starts_with("dcs_keyspace_")
        || name == "dcs_key_analysis_timestamp_seconds"
}

fn key_series(samples: &[Sample]) -> Series {
    samples
        .iter()
        .filter(|s| is_key_family(&s.name))
        .map(|s| {
            let labels = s.labels.clone().into_iter().collect();
            ((s.name.clone(), labels), s.value)
        })
        .collect()
}

/// The simulator's instance id of the demo instance named `name`.
fn instance_id(sim: &Simulator, name: &str) -> String {
    sim.with_state(|s| {
        let node = s.client_node_by_name(name, 1).unwrap();
        s.instance_ids()
            .into_iter()
            .find(|id| {
                let nodes = s.logical_nodes(id).unwrap().nodes;
                nodes.iter().any(|n| n.node_id.as_deref() == Some(&node))
            })
            .unwrap()
    })
}

fn start_exporter(dir: &Dir, sim_url: &str, keys: &str) -> Exporter {
    let file = dir.write(
        "exporter.toml",
        &format!(
            "{QUICK}{}{keys}\n[cloud.discovery]\n",
            harness::cloud_toml("sim", "p", sim_url)
        ),
    );
    Exporter::start(&["--config", file.to_str().unwrap()], &ENV)
}

/// Waits until `done` holds of a scrape; that scrape.
async fn scraped_until(
    exporter: &Exporter,
    what: &str,
    done: impl Fn(&[Sample]) -> bool,
) -> Vec<Sample> {
    wait_for(Duration::from_secs(60), what, || async {
        let samples = scrape(&exporter.base).await;
        done(&samples).then_some(samples)
    })
    .await
}

/// Whether every analysis the demo keeps is shown: big keys and prefixes of both instances,
/// hot keys of the LFU one, and both instances' memory.
fn all_shown(samples: &[Sample], lfu_id: &str) -> bool {
    let shown = |analysis: &str| {
        samples
            .iter()
            .filter(|s| s.name == "dcs_key_analysis_timestamp_seconds")
            .filter(|s| s.label("analysis") == analysis)
            .count()
    };
    let hot = samples.iter().any(|s| {
        s.name == "dcs_key_analysis_timestamp_seconds"
            && s.label("analysis") == "hot"
            && s.label("instance_id") == lfu_id
    });
    let memory = samples
        .iter()
        .filter(|s| s.name == "dcs_instance_memory_max_bytes")
        .count();
    shown("big") == 2 && shown("prefix") == 2 && hot && memory == 2
}

/// What the exporter shows of the sound simulator (read once, then stopped).
async fn sound_run(dir: &Dir, sim_url: &str, lfu_id: &str) -> Series {
    let exporter = start_exporter(dir, sim_url, "");
    let samples = scraped_until(&exporter, "every analysis shown", |s| all_shown(s, lfu_id)).await;
    key_series(&samples)
}

/// The count of `dcs_exporter_instance_context_errors_total` for this instance, call and
/// reason (0 when absent).
fn context_errors(
    samples: &[Sample],
    instance_id: &str,
    operation: Operation,
    reason: &str,
) -> f64 {
    samples
        .iter()
        .filter(|s| s.name == "dcs_exporter_instance_context_errors_total")
        .filter(|s| s.label("instance_id") == instance_id && s.label("reason") == reason)
        .filter(|s| s.label("operation") == operation.as_str())
        .map(|s| s.value)
        .sum()
}

/// `series` without those of `instance_id` whose name starts with `prefix`, or whose
/// `analysis` label is `analysis`.
fn without(series: &Series, instance_id: &str, prefix: &str, analysis: &str) -> Series {
    series
        .iter()
        .filter(|((name, labels), _)| {
            let of =
                |label: &str, value: &str| labels.iter().any(|(k, v)| k == label && v == value);
            !(of("instance_id", instance_id)
                && (name.starts_with(prefix) || of("analysis", analysis)))
        })
        .map(|(k, v)| (k.clone(), *v))
        .collect()
}

/// A simulator of the demo topology on loopback, with quick jobs.
async fn simulator(topology: Topology) -> (Arc<Simulator>, String) {
    harness::serve_sim(SimConfig::new(Credentials::new(AK, SK), topology)).await
}

fn no_panic(exporter: &Exporter) {
    let log = exporter.log();
    assert!(!log.iter().any(|l| l.contains("panic")), "{log:#?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_task_that_never_finishes_is_counted_once_and_the_older_analysis_stays() {
    let (sim, url) = simulator(harness::quick_topology()).await;
    let lfu_id = instance_id(&sim, LFU_INSTANCE);
    let dir = Dir::new("keys-stuck");
    let sound = sound_run(&dir, &url, &lfu_id).await;
    // A big-key task created 7 hours ago that runs for ever.
    sim.with_state(|s| {
        let created = sim.now() - Duration::from_secs(7 * 3600);
        s.create_key_task(&lfu_id, TaskKind::Big, TaskShaping::Stuck, created)
            .unwrap();
    });
    let exporter = start_exporter(&dir, &url, "key_analysis_interval = \"1m\"\n");
    let list = Operation::ListBigKeyTasks;
    let samples = scraped_until(&exporter, "task_stuck counted", |s| {
        all_shown(s, &lfu_id) && context_errors(s, &lfu_id, list, "task_stuck") > 0.0
    })
    .await;
    // The newest success is shown as before, and so is everything else.
    assert_eq!(key_series(&samples), sound);
    // Read again a minute later: the same task is not counted again, nor logged.
    let requests = |s: &[Sample]| {
        s.iter()
            .filter(|s| s.name == "dcs_exporter_api_requests_total")
            .filter(|s| s.label("operation") == list.as_str())
            .map(|s| s.value)
            .sum::<f64>()
    };
    let first = requests(&samples);
    let again = wait_for(Duration::from_secs(100), "a second read", || async {
        let samples = scrape(&exporter.base).await;
        (requests(&samples) >= 2.0 * first).then_some(samples)
    })
    .await;
    assert_eq!(context_errors(&again, &lfu_id, list, "task_stuck"), 1.0);
    let said: Vec<String> = exporter
        .log()
        .into_iter()
        .filter(|l| l.contains("waiting or running"))
        .collect();
    assert_eq!(said.len(), 1, "{said:#?}");
    no_panic(&exporter);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_failed_tasks_show_nothing_and_count_the_newest_failure() {
    let (sim, url) = simulator(harness::quick_topology()).await;
    let lfu_id = instance_id(&sim, LFU_INSTANCE);
    let dir = Dir::new("keys-failed");
    let sound = sound_run(&dir, &url, &lfu_id).await;
    // A hundred hot-key tasks, ten minutes apart, every one failed: the service keeps 100, so
    // no success is left.
    sim.with_state(|s| {
        for i in 0..100u64 {
            let created = sim.now() - Duration::from_secs((100 - i) * 600);
            s.create_key_task(&lfu_id, TaskKind::Hot, TaskShaping::Fails, created)
                .unwrap();
        }
    });
    let exporter = start_exporter(&dir, &url, "");
    let list = Operation::ListHotKeyTasks;
    let samples = scraped_until(&exporter, "job_failed counted", |s| {
        context_errors(s, &lfu_id, list, "job_failed") > 0.0
            && s.iter()
                .filter(|s| s.name == "dcs_key_analysis_timestamp_seconds")
                .count()
                == 4
    })
    .await;
    assert_eq!(context_errors(&samples, &lfu_id, list, "job_failed"), 1.0);
    // No hot key, and every other family as on the sound simulator.
    let shown = key_series(&samples);
    assert_eq!(shown, without(&sound, &lfu_id, "dcs_hot_key_", "hot"));
    assert!(shown.len() < sound.len());
    no_panic(&exporter);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn details_that_list_no_keys_are_not_shown() {
    let (sim, url) = simulator(harness::quick_topology()).await;
    let lfu_id = instance_id(&sim, LFU_INSTANCE);
    let dir = Dir::new("keys-empty");
    let sound = sound_run(&dir, &url, &lfu_id).await;
    // Every big-key task's details list no keys, while their `num` still counts some.
    sim.inject_fault(Fault::of(
        Operation::ShowBigKeyTask,
        u32::MAX,
        FaultKind::EmptyKeys,
    ));
    let exporter = start_exporter(&dir, &url, "");
    let show = Operation::ShowBigKeyTask;
    let ids: Vec<String> = sim.with_state(|s| s.instance_ids());
    let samples = scraped_until(&exporter, "inconsistent counted on both", |s| {
        ids.iter()
            .all(|id| context_errors(s, id, show, "inconsistent") == 1.0)
            && s.iter()
                .filter(|s| s.name == "dcs_key_analysis_timestamp_seconds")
                .count()
                == 3
    })
    .await;
    let mut expected = sound.clone();
    for id in &ids {
        expected = without(&expected, id, "dcs_big_key_", "big");
    }
    assert_eq!(key_series(&samples), expected);
    let said = exporter.log();
    assert!(
        said.iter().any(|l| l.contains("lists no keys")),
        "{said:#?}"
    );
    no_panic(&exporter);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn details_that_answer_404_for_a_listed_task_are_counted() {
    let (sim, url) = simulator(harness::quick_topology()).await;
    let lfu_id = instance_id(&sim, LFU_INSTANCE);
    let dir = Dir::new("keys-404");
    let sound = sound_run(&dir, &url, &lfu_id).await;
    let error = SimError::dcs(
        404,
        codes::HOTKEY_NOT_FOUND,
        "The hotkey id does not exist.",
    );
    sim.inject_fault(Fault::new(Operation::ShowHotKeyTask, u32::MAX, error));
    let exporter = start_exporter(&dir, &url, "");
    let show = Operation::ShowHotKeyTask;
    let samples = scraped_until(&exporter, "the 404 counted", |s| {
        context_errors(s, &lfu_id, show, codes::HOTKEY_NOT_FOUND) > 0.0
            && s.iter()
                .filter(|s| s.name == "dcs_key_analysis_timestamp_seconds")
                .count()
                == 4
    })
    .await;
    assert_eq!(
        key_series(&samples),
        without(&sound, &lfu_id, "dcs_hot_key_", "hot")
    );
    no_panic(&exporter);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sizes_as_null_or_text_and_odd_names_stay_bounded() {
    // Loose answers: some sizes `null`, some "12"-style strings, and two odd names (one
    // with a newline, one of a megabyte).
    let mut topology = harness::quick_topology();
    for instance in &mut topology.instances {
        instance.loose_key_answers = true;
    }
    let (sim, url) = simulator(topology).await;
    let lfu_id = instance_id(&sim, LFU_INSTANCE);
    let dir = Dir::new("keys-loose");
    let max_keys = 40;
    let exporter = start_exporter(&dir, &url, &format!("max_key_series = {max_keys}\n"));
    let show = Operation::ShowBigKeyTask;
    let samples = scraped_until(&exporter, "every analysis shown", |s| {
        all_shown(s, &lfu_id) && context_errors(s, &lfu_id, show, "invalid_value") > 0.0
    })
    .await;
    // What the simulator answered for the analysis shown: the keys whose size is a string
    // are shown with its number; those whose size is null are left out.
    let big_task = |id: &str| {
        let list = sim.with_state(|s| {
            s.list_key_tasks(
                id,
                TaskKind::Big,
                &Default::default(),
                Default::default(),
                sim.now(),
            )
        });
        let records = list.unwrap()["records"].as_array().cloned().unwrap();
        let newest = records
            .iter()
            .filter(|r| r["status"] == "success")
            .max_by_key(|r| r["finished_at"].as_str().map(str::to_string))
            .cloned()
            .unwrap();
        let task_id = newest["id"].as_str().unwrap().to_string();
        sim.with_state(|s| s.show_key_task(id, TaskKind::Big, &task_id, sim.now()))
            .unwrap()
    };
    let detail = big_task(&lfu_id);
    let keys = detail["keys"].as_array().unwrap();
    let shown: BTreeMap<String, f64> = samples
        .iter()
        .filter(|s| s.name.starts_with("dcs_big_key_") && s.label("instance_id") == lfu_id)
        .map(|s| (s.label("key").to_string(), s.value))
        .collect();
    let cut = |name: &str| -> String {
        name.chars()
            .take(128)
            .map(|c| if c.is_control() { '?' } else { c })
            .collect()
    };
    // Every string the analysis lists is shown (DCS lists at most 20, fewer than
    // max_key_series) unless its size is null; a size given as text is read as its number.
    let mut text_sizes = 0;
    let mut odd = 0;
    for key in keys.iter().filter(|k| k["type"] == "string") {
        let raw = key["name"].as_str().unwrap();
        let name = cut(raw);
        let size = match &key["size"] {
            serde_json::Value::Null => {
                assert!(!shown.contains_key(&name), "{name}");
                continue;
            }
            serde_json::Value::String(text) => {
                text_sizes += 1;
                text.parse::<f64>().unwrap()
            }
            number => number.as_f64().unwrap(),
        };
        assert_eq!(shown.get(&name), Some(&size), "{name}");
        if raw.contains('\n') || raw.len() >= 1 << 20 {
            odd += 1;
        }
    }
    assert!(text_sizes > 0, "no size given as text");
    // The odd names are shown cut to 128 characters, the newline replaced.
    assert!(odd > 0, "no odd name shown");
    assert!(
        !shown
            .keys()
            .any(|k| k.contains('\n') || k.chars().count() > 128)
    );
    // Bounded: at most max_key_series keys a measure an instance, names at most 128 characters.
    let mut per_measure: BTreeMap<(&str, &str), usize> = BTreeMap::new();
    for s in samples
        .iter()
        .filter(|s| s.name.starts_with("dcs_big_key_") || s.name == "dcs_hot_key_frequency")
    {
        *per_measure
            .entry((s.name.as_str(), s.label("instance_id")))
            .or_default() += 1;
        assert!(s.label("key").chars().count() <= 128);
        assert!(!s.label("key").contains('\n'));
    }
    assert!(
        per_measure.values().all(|&n| n <= max_keys),
        "{per_measure:?}"
    );
    // The invalid sizes are counted once a read, on the details' call.
    assert_eq!(
        context_errors(&samples, &lfu_id, show, "invalid_value"),
        1.0
    );
    no_panic(&exporter);
}
