//! `key_scan` of a `[[redis]]` target against a real redis-server: the key families from keys of
//! known sizes, a walk cut into steps against a whole one, hot keys only under an LFU policy,
//! names that are not UTF-8, hold a newline or are 1 MB long.

use std::collections::BTreeMap;
use std::time::Duration;

use dcs_session_exporter::redis::{RedisEndpoint, connect_within};
use tokio::time::Instant;

use crate::common::harness;
use crate::common::redis_server::start_or_skip;
use crate::redis::exporter;

/// A sample: name, labels, value.
type Sample = (String, BTreeMap<String, String>, f64);

/// Runs the commands on the server, pipelined, each reply checked.
async fn seed(url: &str, commands: &[Vec<Vec<u8>>]) {
    let endpoint = RedisEndpoint {
        url: url.to_string(),
        username: None,
        password: None,
    };
    let deadline = Instant::now() + Duration::from_secs(30);
    let mut conn = connect_within(&endpoint, 1 << 30, deadline).await.unwrap();
    for chunk in commands.chunks(500) {
        let args: Vec<Vec<&[u8]>> = chunk
            .iter()
            .map(|c| c.iter().map(Vec::as_slice).collect())
            .collect();
        for reply in conn.pipeline(&args, deadline).await.unwrap() {
            reply.unwrap();
        }
        conn.renew_budget();
    }
}

fn command(args: &[&[u8]]) -> Vec<Vec<u8>> {
    args.iter().map(|a| a.to_vec()).collect()
}

/// The 1 MB key name.
fn long_name() -> Vec<u8> {
    vec![b'n'; 1 << 20]
}

/// Keys of each type with known sizes in db 0 (and one in db 2), and `fillers` small strings.
fn known_keys(fillers: usize) -> Vec<Vec<Vec<u8>>> {
    let mut c = vec![
        command(&[b"SET", b"big:str", &vec![b'x'; 100_000]]),
        command(&[b"SET", b"bin\xff\xfe", &vec![b'x'; 50_000]]),
        command(&[b"SET", b"line\nbreak", &vec![b'x'; 40_000]]),
        command(&[b"SET", &long_name(), &vec![b'x'; 30_000]]),
    ];
    for i in 0..300 {
        let member = format!("m{i}");
        c.push(command(&[b"RPUSH", b"list:a", member.as_bytes()]));
        if i < 250 {
            c.push(command(&[b"HSET", b"hash:a", member.as_bytes(), b"v"]));
        }
        if i < 200 {
            c.push(command(&[b"SADD", b"set:a", member.as_bytes()]));
        }
        if i < 150 {
            c.push(command(&[b"ZADD", b"zset:a", b"1", member.as_bytes()]));
        }
        if i < 20 {
            c.push(command(&[b"XADD", b"stream:a", b"*", b"f", b"v"]));
        }
    }
    for i in 0..fillers {
        c.push(command(&[
            b"SET",
            format!("small:{i}").as_bytes(),
            b"0123456789",
        ]));
    }
    c.push(command(&[b"SELECT", b"2"]));
    c.push(command(&[b"SET", b"other:db", &vec![b'y'; 70_000]]));
    c.push(command(&[b"SELECT", b"0"]));
    c
}

/// The key families of `instance`, without that label, once the walk's result is shown.
async fn walked(url: &str, instance: &str) -> Vec<Sample> {
    harness::wait_for(Duration::from_secs(60), "a whole key walk", || async {
        let samples = crate::redis::scrape_ready(url).await;
        let ours = |s: &Sample| s.1.get("instance_id").map(String::as_str) == Some(instance);
        samples
            .iter()
            .any(|s| s.0 == "dcs_key_analysis_timestamp_seconds" && ours(s))
            .then(|| {
                samples
                    .into_iter()
                    .filter(|s| s.0.starts_with("dcs_big_key_") || s.0 == "dcs_hot_key_frequency")
                    .filter(ours)
                    .map(|(name, mut labels, value)| {
                        labels.remove("instance_id");
                        (name, labels, value)
                    })
                    .collect()
            })
    })
    .await
}

/// `(key, value)` of one family, in the exposition's order.
fn values(samples: &[Sample], family: &str) -> Vec<(String, f64)> {
    samples
        .iter()
        .filter(|s| s.0 == family)
        .map(|s| (s.1["key"].clone(), s.2))
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn key_scan_shows_the_largest_keys_of_each_type_with_hostile_names() {
    let Some(server) = start_or_skip(&[]) else {
        return;
    };
    seed(&server.url, &known_keys(500)).await;
    let toml = format!(
        "[exporter]\nscan_interval = \"1h\"\nfirst_scan_spread = \"0s\"\n\
         [[redis]]\nname = \"walked\"\nurl = \"{}\"\n\
         key_scan = {{ keys_per_second = 1000000, max_key_series = 5 }}\n",
        server.url
    );
    let running = exporter(&toml).await;
    let samples = walked(&running.url, "walked").await;
    let long: String = "n".repeat(128);
    assert_eq!(
        values(&samples, "dcs_big_key_bytes"),
        [
            ("big:str".to_string(), 100_000.0),
            ("other:db".to_string(), 70_000.0),
            ("bin??".to_string(), 50_000.0),
            ("line?break".to_string(), 40_000.0),
            (long, 30_000.0),
        ]
    );
    let node = format!("127.0.0.1:{}", server.port);
    for s in samples.iter().filter(|s| s.0.starts_with("dcs_big_key_")) {
        assert_eq!(s.1["shard"], node, "{s:?}");
        let db = if s.1["key"] == "other:db" { "2" } else { "0" };
        assert_eq!(s.1["db"], db, "{s:?}");
    }
    let elements: Vec<(String, String, f64)> = samples
        .iter()
        .filter(|s| s.0 == "dcs_big_key_elements")
        .map(|s| (s.1["type"].clone(), s.1["key"].clone(), s.2))
        .collect();
    let expected = [
        ("list", "list:a", 300.0),
        ("hash", "hash:a", 250.0),
        ("set", "set:a", 200.0),
        ("zset", "zset:a", 150.0),
        ("stream", "stream:a", 20.0),
    ];
    assert_eq!(
        elements,
        expected.map(|(t, k, v)| (t.to_string(), k.to_string(), v))
    );
    // The default policy (noeviction) keeps no LFU counters: no hot keys, no hot timestamp.
    assert!(values(&samples, "dcs_hot_key_frequency").is_empty());
    let text = harness::scrape_text(&running.url).await;
    assert!(
        text.contains(
            "dcs_key_analysis_timestamp_seconds{instance_id=\"walked\",analysis=\"big\"}"
        )
    );
    assert!(!text.contains("analysis=\"hot\""), "{text}");
    assert!(
        !text.contains(&"n".repeat(129)),
        "a name past 128 characters"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_walk_cut_into_steps_shows_what_a_whole_walk_shows() {
    let Some(server) = start_or_skip(&[]) else {
        return;
    };
    seed(&server.url, &known_keys(3000)).await;
    // 1000 keys/s in steps of 300 ms: at most 300 keys a step, so some ten steps a walk.
    let toml = format!(
        "[exporter]\nscan_interval = \"1s\"\nscan_timeout = \"300ms\"\nfirst_scan_spread = \"0s\"\n\
         [[redis]]\nname = \"whole\"\nurl = \"{u}\"\n\
         key_scan = {{ keys_per_second = 1000000, max_key_series = 4, key_names = \"prefix\" }}\n\
         [[redis]]\nname = \"cut\"\nurl = \"{u}/0\"\n\
         key_scan = {{ keys_per_second = 1000, max_key_series = 4, key_names = \"prefix\" }}\n",
        u = server.url
    );
    let running = exporter(&toml).await;
    let whole = walked(&running.url, "whole").await;
    let cut = walked(&running.url, "cut").await;
    assert_eq!(cut, whole);
    assert_eq!(
        values(&whole, "dcs_big_key_bytes")[..2],
        [
            ("big".to_string(), 100_000.0),
            ("other".to_string(), 70_000.0)
        ]
    );
    let ended = |name: &str| {
        let store = running.store.load();
        store.keys[name].big.as_ref().unwrap().finished.unwrap()
    };
    let later = ended("cut").duration_since(ended("whole")).unwrap();
    assert!(
        later >= Duration::from_secs(2),
        "the cut walk took {later:?} more"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hot_keys_where_the_policy_keeps_lfu_counters() {
    // A log factor of 0 counts every access, so the counters are known.
    let Some(server) =
        start_or_skip(&["--maxmemory-policy", "allkeys-lfu", "--lfu-log-factor", "0"])
    else {
        return;
    };
    // Each write counts as an access too: one write a key, then the reads.
    let mut commands = vec![
        command(&[b"SET", b"hot:1", b"v"]),
        command(&[b"HSET", b"warm", b"f", b"v"]),
    ];
    commands.extend((0..10).map(|i| command(&[b"SET", format!("cold:{i}").as_bytes(), b"v"])));
    commands.extend((0..200).map(|_| command(&[b"GET", b"hot:1"])));
    commands.extend((0..50).map(|_| command(&[b"HGET", b"warm", b"f"])));
    seed(&server.url, &commands).await;
    let toml = format!(
        "[exporter]\nscan_interval = \"1h\"\nfirst_scan_spread = \"0s\"\n\
         [[redis]]\nname = \"lfu\"\nurl = \"{}\"\n\
         key_scan = {{ keys_per_second = 1000000, max_key_series = 2 }}\n",
        server.url
    );
    let running = exporter(&toml).await;
    let samples = walked(&running.url, "lfu").await;
    let hot: Vec<(String, String, f64)> = samples
        .iter()
        .filter(|s| s.0 == "dcs_hot_key_frequency")
        .map(|s| (s.1["type"].clone(), s.1["key"].clone(), s.2))
        .collect();
    assert_eq!(hot.len(), 2, "{hot:?}");
    assert_eq!((hot[0].0.as_str(), hot[0].1.as_str()), ("string", "hot:1"));
    assert!((200.0..=255.0).contains(&hot[0].2), "{hot:?}");
    assert_eq!((hot[1].0.as_str(), hot[1].1.as_str()), ("hash", "warm"));
    assert!((50.0..=60.0).contains(&hot[1].2), "{hot:?}");
    let text = harness::scrape_text(&running.url).await;
    assert!(
        text.contains("dcs_key_analysis_timestamp_seconds{instance_id=\"lfu\",analysis=\"hot\"}")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_renamed_object_command_is_counted_and_the_walk_goes_on() {
    let Some(server) = start_or_skip(&[
        "--maxmemory-policy",
        "allkeys-lfu",
        "--rename-command",
        "OBJECT",
        "OBJECT-HIDDEN",
    ]) else {
        return;
    };
    seed(&server.url, &known_keys(10)).await;
    let toml = format!(
        "[exporter]\nscan_interval = \"1h\"\nfirst_scan_spread = \"0s\"\n\
         [[redis]]\nname = \"renamed\"\nurl = \"{}\"\n\
         key_scan = {{ keys_per_second = 1000000, max_key_series = 1 }}\n",
        server.url
    );
    let running = exporter(&toml).await;
    let samples = walked(&running.url, "renamed").await;
    assert_eq!(
        values(&samples, "dcs_big_key_bytes"),
        [("big:str".to_string(), 100_000.0)]
    );
    assert!(values(&samples, "dcs_hot_key_frequency").is_empty());
    let text = harness::scrape_text(&running.url).await;
    let counted = "dcs_exporter_instance_context_errors_total{instance_id=\"renamed\",operation=\"object_freq\",reason=\"ERR\"} 1";
    assert!(text.contains(counted), "{text}");
}
