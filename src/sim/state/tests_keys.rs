//! Tests of the key analyses: a task's life (waiting, running, success, then its keys), the
//! refusals (one at a time, hot keys only under LFU, unknown ids, bad pages), the 100 kept,
//! offline analyses, statistics, the shapes of loose answers, and the same data from the same
//! seed.

use std::time::{Duration, SystemTime};

use serde_json::Value;

use super::*;
use crate::sim::topology::Topology;

fn t0() -> SystemTime {
    SystemTime::UNIX_EPOCH + Duration::from_secs(1_800_000_000)
}

/// The demo's state: `orders-cache` (HA, `allkeys-lfu`) and `sessions-proxy` (Proxy Cluster,
/// `volatile-lru`).
fn demo() -> (Topology, SimState, String, String) {
    let mut topology = Topology::demo();
    for i in &mut topology.instances {
        i.sessions_per_node = 10;
    }
    let state = SimState::new(&topology, t0());
    let ids = state.instance_ids();
    (topology, state, ids[0].clone(), ids[1].clone())
}

fn query(offset: &str, limit: &str, status: Option<&str>) -> KeyTaskQuery {
    KeyTaskQuery {
        offset: Some(offset.into()),
        limit: Some(limit.into()),
        status: status.map(Into::into),
    }
}

fn list(s: &SimState, instance: &str, kind: TaskKind, at: SystemTime) -> Value {
    s.list_key_tasks(
        instance,
        kind,
        &query("0", "1000", None),
        ListShaping::Normal,
        at,
    )
    .unwrap()
}

fn ids_of(page: &Value) -> Vec<String> {
    page["records"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect()
}

fn create(s: &mut SimState, instance: &str, kind: TaskKind, at: SystemTime) -> SimResult<Value> {
    s.create_key_task(instance, kind, TaskShaping::Normal, at)
}

#[test]
fn a_big_key_task_waits_runs_succeeds_and_then_names_its_keys() {
    let (topology, mut s, ha, proxy) = demo();
    let d = topology.key_task_duration;
    for (instance, clustered) in [(&ha, false), (&proxy, true)] {
        let created = create(&mut s, instance, TaskKind::Big, t0()).unwrap();
        assert_eq!(created["status"], "waiting");
        assert_eq!(created["scan_type"], "manual");
        assert_eq!(created["num"], 0);
        assert!(
            created.get("keys").is_none() && created.get("finished_at").is_none_or(Value::is_null)
        );
        let id = created["id"].as_str().unwrap();
        let status = |s: &SimState, at: SystemTime| {
            s.show_key_task(instance, TaskKind::Big, id, at).unwrap()["status"].clone()
        };
        assert_eq!(status(&s, t0() + d / 5), "running");
        assert_eq!(status(&s, t0() + d), "success");
        let done = s
            .show_key_task(instance, TaskKind::Big, id, t0() + d)
            .unwrap();
        assert!(done["started_at"].is_string() && done["finished_at"].is_string());
        let keys = done["keys"].as_array().unwrap();
        assert_eq!(done["num"], keys.len());
        let strings = keys.iter().filter(|k| k["type"] == "string").count();
        assert_eq!(
            (strings, keys.len() - strings),
            (20, 80),
            "the user guide's 20 and 80"
        );
        for k in keys {
            let unit = if k["type"] == "string" {
                "byte"
            } else {
                "count"
            };
            assert_eq!(k["unit"], unit, "{k}");
            assert!(k["size"].as_u64().unwrap() > 0 && k["db"].is_u64());
            assert_eq!(k.get("shard").is_some(), clustered, "{k}");
            assert!(k.get("freq").is_none());
        }
        // A long tail: strings of megabytes, collections of millions.
        assert!(
            keys.iter()
                .any(|k| k["type"] == "string" && k["size"].as_u64() > Some(4 << 20))
        );
        assert!(
            keys.iter()
                .any(|k| k["type"] != "string" && k["size"].as_u64() > Some(1_000_000))
        );
    }
}

#[test]
fn one_task_of_a_kind_at_a_time_and_hot_keys_only_under_lfu() {
    let (topology, mut s, ha, proxy) = demo();
    let d = topology.key_task_duration;
    create(&mut s, &ha, TaskKind::Big, t0()).unwrap();
    let busy = create(&mut s, &ha, TaskKind::Big, t0() + d / 2).unwrap_err();
    assert_eq!(
        (busy.status, busy.code.as_str()),
        (400, codes::BIGKEY_RUNNING)
    );
    // Another kind may run beside it.
    create(&mut s, &ha, TaskKind::Hot, t0()).unwrap();
    let busy = create(&mut s, &ha, TaskKind::Hot, t0()).unwrap_err();
    assert_eq!((busy.status, busy.code.as_str()), (400, codes::TASK_STATE));
    // Once it ended, the next one starts.
    create(&mut s, &ha, TaskKind::Big, t0() + d).unwrap();
    // volatile-lru: no LFU counters to read.
    let refused = create(&mut s, &proxy, TaskKind::Hot, t0()).unwrap_err();
    assert_eq!(
        (refused.status, refused.code.as_str()),
        (400, codes::HOTKEY_NOT_SUPPORTED)
    );
    assert!(ids_of(&list(&s, &proxy, TaskKind::Hot, t0())).is_empty());
    let unknown = create(&mut s, "no-such-instance", TaskKind::Big, t0()).unwrap_err();
    assert_eq!(unknown.status, 404);
}

#[test]
fn hot_keys_carry_lfu_counters_hottest_first() {
    let (topology, mut s, ha, _) = demo();
    let created = create(&mut s, &ha, TaskKind::Hot, t0()).unwrap();
    let id = created["id"].as_str().unwrap();
    let done = s
        .show_key_task(&ha, TaskKind::Hot, id, t0() + topology.key_task_duration)
        .unwrap();
    let freqs: Vec<u64> = done["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|k| k["freq"].as_u64().unwrap())
        .collect();
    assert!(!freqs.is_empty() && freqs.len() <= 100);
    assert!(freqs.windows(2).all(|w| w[0] >= w[1]), "{freqs:?}");
    assert!(freqs.iter().all(|&f| (1..=255).contains(&f)));
    assert!(freqs[0] >= 200, "some keys are hot: {freqs:?}");
}

#[test]
fn the_newest_hundred_tasks_are_kept() {
    let (topology, mut s, ha, _) = demo();
    let d = topology.key_task_duration;
    let seeded = ids_of(&list(&s, &ha, TaskKind::Big, t0()));
    assert!((6..=9).contains(&seeded.len()), "{seeded:?}");
    let mut created = Vec::new();
    for i in 0..105u32 {
        let task = create(&mut s, &ha, TaskKind::Big, t0() + d * i).unwrap();
        created.push(task["id"].as_str().unwrap().to_string());
    }
    let page = list(&s, &ha, TaskKind::Big, t0() + d * 105);
    let kept = ids_of(&page);
    assert_eq!(
        (kept.len(), page["count"].as_u64()),
        (MAX_KEPT_TASKS, Some(100))
    );
    assert!(
        seeded.iter().all(|id| !kept.contains(id)),
        "the oldest went first"
    );
    assert!(created[5..].iter().all(|id| kept.contains(id)));
    assert!(!kept.contains(&created[4]));
    let gone = s
        .show_key_task(&ha, TaskKind::Big, &created[0], t0())
        .unwrap_err();
    assert_eq!(
        (gone.status, gone.code.as_str()),
        (400, codes::BIGKEY_NOT_FOUND)
    );
}

#[test]
fn task_lists_page_filter_and_refuse_bad_queries_like_the_service() {
    let (_, s, ha, _) = demo();
    let all = list(&s, &ha, TaskKind::Big, t0());
    let records = all["records"].as_array().unwrap();
    let count = all["count"].as_u64().unwrap() as usize;
    assert_eq!(records.len(), count);
    let statuses: Vec<&str> = records
        .iter()
        .map(|r| r["status"].as_str().unwrap())
        .collect();
    assert_eq!(statuses.iter().filter(|s| **s == "failed").count(), 1);
    assert!(statuses.iter().all(|s| ["success", "failed"].contains(s)));
    assert!(records.iter().any(|r| r["scan_type"] == "auto"));
    // Not newest first: the exporter must sort.
    let created: Vec<&str> = records
        .iter()
        .map(|r| r["created_at"].as_str().unwrap())
        .collect();
    let mut newest_first = created.clone();
    newest_first.sort_by(|a, b| b.cmp(a));
    assert_ne!(created, newest_first);
    // One at a time, the pages join up.
    let walked: Vec<String> = (0..count)
        .flat_map(|i| {
            let q = query(&i.to_string(), "1", None);
            ids_of(
                &s.list_key_tasks(&ha, TaskKind::Big, &q, ListShaping::Normal, t0())
                    .unwrap(),
            )
        })
        .collect();
    assert_eq!(walked, ids_of(&all));
    let failed = query("0", "10", Some("failed"));
    let only = s
        .list_key_tasks(&ha, TaskKind::Big, &failed, ListShaping::Normal, t0())
        .unwrap();
    assert_eq!((only["count"].as_u64(), ids_of(&only).len()), (Some(1), 1));
    for bad in [
        query("0", "0", None),
        query("0", "1001", None),
        query("-1", "10", None),
        query("0", "x", None),
        query("0", "10", Some("done")),
    ] {
        let e = s
            .list_key_tasks(&ha, TaskKind::Big, &bad, ListShaping::Normal, t0())
            .unwrap_err();
        assert_eq!(
            (e.status, e.code.as_str()),
            (400, codes::INVALID_PARAMETER),
            "{bad:?}"
        );
    }
    let unknown = s
        .show_key_task(&ha, TaskKind::Hot, "nope", t0())
        .unwrap_err();
    assert_eq!(
        (unknown.status, unknown.code.as_str()),
        (400, codes::HOTKEY_NOT_FOUND)
    );
}

#[test]
fn faults_hold_or_fail_a_task_and_make_lists_lie() {
    let (topology, mut s, ha, _) = demo();
    let d = topology.key_task_duration;
    let stuck = s
        .create_key_task(&ha, TaskKind::Big, TaskShaping::Stuck, t0())
        .unwrap();
    let id = stuck["id"].as_str().unwrap();
    let later = t0() + Duration::from_secs(86_400);
    assert_eq!(
        s.show_key_task(&ha, TaskKind::Big, id, later).unwrap()["status"],
        "running"
    );
    let fails = s
        .create_key_task(&ha, TaskKind::Hot, TaskShaping::Fails, t0())
        .unwrap();
    let id = fails["id"].as_str().unwrap();
    let ended = s.show_key_task(&ha, TaskKind::Hot, id, t0() + d).unwrap();
    assert_eq!(
        (
            ended["status"].as_str(),
            ended["keys"].as_array().map(Vec::len)
        ),
        (Some("failed"), Some(0))
    );
    let q = query("0", "1000", None);
    let large = s
        .list_key_tasks(&ha, TaskKind::Big, &q, ListShaping::CountTooLarge, t0())
        .unwrap();
    assert!(large["count"].as_u64().unwrap() as usize > ids_of(&large).len());
    let endless = s
        .list_key_tasks(&ha, TaskKind::Big, &q, ListShaping::EndlessPages, t0())
        .unwrap();
    assert_eq!((ids_of(&endless).len(), endless.get("count")), (1000, None));
}

#[test]
fn offline_analyses_sum_up_a_backup_in_64_bit_numbers() {
    let (_, s, ha, proxy) = demo();
    for instance in [&ha, &proxy] {
        let q = query("0", "10", None);
        let page = s
            .list_offline_analyses(instance, &q, ListShaping::Normal, t0())
            .unwrap();
        assert_eq!(page["total"], 2);
        assert!(page.get("count").is_none());
        for id in ids_of(&page) {
            let a = s.show_offline_analysis(instance, &id, t0()).unwrap();
            let total = a["total_bytes"].as_u64().unwrap();
            assert!(total > 1 << 31, "past the SDK's int32: {total}");
            let by_type: u64 = a["type_bytes"]
                .as_array()
                .unwrap()
                .iter()
                .map(|t| t["bytes"].as_u64().unwrap())
                .sum();
            assert_eq!(by_type, total);
            let prefixes = a["largest_key_prefixes"].as_array().unwrap();
            assert!(
                prefixes.len() > 20,
                "more than the exporter shows: {}",
                prefixes.len()
            );
            let in_prefixes: u64 = prefixes.iter().map(|p| p["bytes"].as_u64().unwrap()).sum();
            assert!(
                in_prefixes < total,
                "keys without a prefix count in the total only"
            );
            assert!(["new_backup", "old_backup"].contains(&a["analysis_type"].as_str().unwrap()));
            assert!(a["node_id"].is_string() && a["backup_id"].is_string());
            assert_eq!(a.get("group_name").is_some(), instance == &proxy);
        }
    }
    let unknown = s.show_offline_analysis(&ha, "nope", t0()).unwrap_err();
    assert_eq!(
        (unknown.status, unknown.code.as_str()),
        (400, codes::OFFLINE_ANALYSIS_NOT_FOUND)
    );
}

#[test]
fn statistics_answer_every_running_instance() {
    let (_, s, ha, proxy) = demo();
    let body = s.instance_statistics(t0());
    let stats = body["statistics"].as_array().unwrap();
    let ids: Vec<&str> = stats
        .iter()
        .map(|x| x["instance_id"].as_str().unwrap())
        .collect();
    assert_eq!(ids, [ha.as_str(), proxy.as_str()]);
    for x in stats {
        let (used, max) = (
            x["used_memory"].as_u64().unwrap(),
            x["max_memory"].as_u64().unwrap(),
        );
        assert!(used > 2048 && used <= max && max == 8192, "{x}");
        assert!(x["keys"].as_u64().unwrap() > 0 && x["cmd_get_count"].is_u64());
        for field in ["used_cpu", "input_kbps", "output_kbps"] {
            assert!(x[field].as_str().unwrap().parse::<f64>().is_ok(), "{x}");
        }
    }
}

#[test]
fn loose_answers_write_numbers_as_strings_and_nulls_and_odd_names() {
    let mut topology = Topology::demo();
    topology.instances[0].loose_key_answers = true;
    let mut s = SimState::new(&topology, t0());
    let ha = s.instance_ids()[0].clone();
    let page = list(&s, &ha, TaskKind::Big, t0());
    assert!(page["count"].is_string());
    let id = create(&mut s, &ha, TaskKind::Big, t0()).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let done = s
        .show_key_task(&ha, TaskKind::Big, &id, t0() + topology.key_task_duration)
        .unwrap();
    let keys = done["keys"].as_array().unwrap();
    assert!(keys.iter().any(|k| k["size"].is_string()) && keys.iter().any(|k| k["size"].is_null()));
    assert!(
        keys.iter()
            .any(|k| k["name"].as_str().unwrap().contains('\n'))
    );
    assert!(
        keys.iter()
            .any(|k| k["name"].as_str().unwrap().len() > 1 << 20)
    );
    let stats = s.instance_statistics(t0());
    assert!(stats["statistics"][0]["keys"].is_string());
}

#[test]
fn the_same_seed_gives_the_same_analyses_and_another_seed_others() {
    let render = |seed: u64| {
        let mut topology = Topology::demo();
        topology.seed = seed;
        let mut s = SimState::new(&topology, t0());
        let ha = s.instance_ids()[0].clone();
        let page = list(&s, &ha, TaskKind::Big, t0());
        let newest = ids_of(&page).pop().unwrap();
        let created = create(&mut s, &ha, TaskKind::Hot, t0()).unwrap();
        let hot = created["id"].as_str().unwrap();
        let later = t0() + topology.key_task_duration;
        (
            page.clone(),
            s.show_key_task(&ha, TaskKind::Big, &newest, t0()).unwrap(),
            s.show_key_task(&ha, TaskKind::Hot, hot, later).unwrap(),
            s.instance_statistics(later),
        )
    };
    assert_eq!(render(7), render(7));
    assert_ne!(render(7).0, render(8).0);
    assert_ne!(render(7).2["keys"], render(8).2["keys"]);
}

#[test]
fn successive_analyses_differ_as_keys_grow_and_come_and_go() {
    let (_, s, ha, _) = demo();
    let page = list(&s, &ha, TaskKind::Big, t0());
    let names = |id: &str| -> Vec<String> {
        let d = s.show_key_task(&ha, TaskKind::Big, id, t0()).unwrap();
        d["keys"]
            .as_array()
            .unwrap()
            .iter()
            .map(|k| k["name"].as_str().unwrap().to_string())
            .collect()
    };
    let done: Vec<String> = page["records"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|r| r["status"] == "success")
        .map(|r| r["id"].as_str().unwrap().to_string())
        .collect();
    let (a, b) = (names(&done[0]), names(&done[1]));
    assert_ne!(a, b);
    assert!(
        a.iter().filter(|n| b.contains(n)).count() > 50,
        "mostly the same keys"
    );
}
