//! `[[redis]]` targets that answer what no Redis would: replies declared or streamed past the
//! scan's byte budget, limits no gauge holds. Through the daemon binary, against scripted
//! servers on loopback.

mod fake_redis;

use std::io::Write;
use std::time::Duration;

use fake_redis::{FakeRedis, healthy, stream_endlessly};

use crate::common::harness::{Sample, scrape, wait_for};
use crate::common::process::{Dir, Exporter, run};

/// Far more than any budget: the servers stop sooner only when the exporter hangs up.
const ENDLESS: u64 = 4 << 30;

/// The resident memory the exporter must stay under while hostile servers stream at it.
const RSS_BOUND_KIB: u64 = 200 * 1024;

fn value(samples: &[Sample], name: &str, labels: &[(&str, &str)]) -> Option<f64> {
    samples
        .iter()
        .find(|s| s.name == name && labels.iter().all(|(k, v)| s.label(k) == *v))
        .map(|s| s.value)
}

fn start(name: &str, config: &str) -> (Dir, Exporter) {
    let dir = Dir::new(name);
    let file = dir.write("exporter.toml", config);
    // At info, the scan's span (naming the target) is on each of its lines.
    let exporter = Exporter::start(
        &["--config", file.to_str().unwrap(), "--log.level", "info"],
        &[],
    );
    (dir, exporter)
}

/// A server that answers `CLIENT LIST` with `head` and then `chunk` without end, and
/// everything else as a healthy one.
fn hostile(head: &'static str, chunk: &'static str) -> FakeRedis {
    FakeRedis::start(move |args, _, out| {
        if args.len() == 2 && args[1].eq_ignore_ascii_case("LIST") {
            return stream_endlessly(out, head.as_bytes(), chunk.as_bytes(), ENDLESS);
        }
        let answer = healthy(args, "100", "0").unwrap_or_else(|| "-ERR unknown\r\n".into());
        out.write_all(answer.as_bytes())
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn replies_past_the_scan_budget_fail_the_scan_alone_and_memory_stays_bounded() {
    let good = FakeRedis::start(|args, _, out| {
        let answer = healthy(args, "100", "0").unwrap_or_else(|| "-ERR unknown\r\n".into());
        out.write_all(answer.as_bytes())
    });
    // A bulk string of 1 TiB; an endless array of `:1`; a thousand 100 KB strings, each
    // declared within the budget, together past it.
    let huge_string = hostile("$1099511627776\r\n", "x");
    let endless_array = hostile("*1099511627776\r\n", ":1\r\n");
    let many_strings = FakeRedis::start(|args, _, out| {
        if args.len() == 2 && args[1].eq_ignore_ascii_case("LIST") {
            let item = format!("$102400\r\n{}\r\n", "y".repeat(102_400));
            return stream_endlessly(out, b"*1000\r\n", item.as_bytes(), 1000 * 102_410);
        }
        let answer = healthy(args, "100", "0").unwrap_or_else(|| "-ERR unknown\r\n".into());
        out.write_all(answer.as_bytes())
    });
    let mut config =
        "[exporter]\nscan_interval = \"2s\"\nscan_timeout = \"2s\"\nfirst_scan_spread = \"0s\"\n"
            .to_string();
    for (name, server) in [
        ("good", &good),
        ("huge-string", &huge_string),
        ("endless-array", &endless_array),
        ("many-strings", &many_strings),
    ] {
        config += &format!("[[redis]]\nname = \"{name}\"\nurl = \"{}\"\n", server.url);
    }
    let (_dir, exporter) = start("redis-budget", &config);
    let hostile = ["huge-string", "endless-array", "many-strings"];
    let mut most_rss = 0;
    let too_large = |samples: &[Sample], name: &str| {
        value(
            samples,
            "dcs_scan_errors_total",
            &[("instance_id", name), ("reason", "reply_too_large")],
        )
        .unwrap_or(0.0)
    };
    // Three failed scans of every hostile target, each for the reason that it passed the budget.
    wait_for(
        Duration::from_secs(90),
        "three scans past the budget each",
        || {
            most_rss = most_rss.max(exporter.status_number("VmRSS"));
            let base = exporter.base.clone();
            async move {
                let samples = scrape(&base).await;
                hostile
                    .iter()
                    .all(|name| too_large(&samples, name) >= 3.0)
                    .then_some(())
            }
        },
    )
    .await;
    // Meanwhile, and from now on, the healthy target is scanned at every interval.
    let before = good.client_lists();
    assert!(before >= 3, "the healthy target was scanned {before} times");
    wait_for(
        Duration::from_secs(60),
        "three more scans of the healthy target",
        || {
            most_rss = most_rss.max(exporter.status_number("VmRSS"));
            let scanned = good.client_lists();
            async move { (scanned >= before + 3).then_some(()) }
        },
    )
    .await;
    let samples = scrape(&exporter.base).await;
    assert_eq!(
        value(&samples, "dcs_scan_success", &[("instance_id", "good")]),
        Some(1.0)
    );
    assert_eq!(
        value(
            &samples,
            "dcs_clients",
            &[("instance_id", "good"), ("client_addr", "10.0.0.1")]
        ),
        Some(1.0)
    );
    for name in hostile {
        assert_eq!(
            value(&samples, "dcs_scan_success", &[("instance_id", name)]),
            Some(0.0)
        );
        assert_eq!(
            value(
                &samples,
                "dcs_scan_errors_total",
                &[("instance_id", name), ("stage", "list")]
            ),
            Some(too_large(&samples, name)),
            "{name}: every failure is reply_too_large"
        );
    }
    assert!(
        most_rss < RSS_BOUND_KIB,
        "the exporter's resident memory reached {most_rss} KiB"
    );
    // Logged once each, not at every scan.
    let log = exporter.log();
    for name in hostile {
        let lines = log
            .iter()
            .filter(|l| {
                l.contains("reply_too_large") && l.contains(&format!("instance_id={name} "))
            })
            .count();
        assert_eq!(lines, 1, "{name}: {log:#?}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn limits_no_gauge_holds_are_refused_counted_and_the_last_good_value_kept() {
    // The first scan reads 500; later ones read 2^64-1, then `abc`.
    let changing = FakeRedis::start(|args, scans, out| {
        let maxclients = match scans {
            0 | 1 => "500",
            2 => "18446744073709551615",
            _ => "abc",
        };
        let answer = healthy(args, maxclients, "18446744073709551615")
            .unwrap_or_else(|| "-ERR unknown\r\n".into());
        out.write_all(answer.as_bytes())
    });
    // Never a number: the configured limits stand.
    let never = FakeRedis::start(|args, _, out| {
        let answer = healthy(args, "-5", "1e9").unwrap_or_else(|| "-ERR unknown\r\n".into());
        out.write_all(answer.as_bytes())
    });
    let config = format!(
        "[exporter]\nscan_interval = \"1s\"\nfirst_scan_spread = \"0s\"\n\
         [[redis]]\nname = \"changing\"\nurl = \"{}\"\nidle_timeout = \"30s\"\n\
         [[redis]]\nname = \"never\"\nurl = \"{}\"\nmax_clients = 1234\nidle_timeout = \"5m\"\n",
        changing.url, never.url
    );
    let (_dir, exporter) = start("redis-limits", &config);
    let invalid = |samples: &[Sample], name: &str| {
        value(
            samples,
            "dcs_exporter_instance_context_errors_total",
            &[
                ("instance_id", name),
                ("operation", "config_get"),
                ("reason", "invalid_value"),
            ],
        )
        .unwrap_or(0.0)
    };
    let base = exporter.base.clone();
    // Scans 2 and 3 of `changing` (2^64-1, then abc), and two of `never`, all counted.
    let samples = wait_for(Duration::from_secs(60), "invalid limits counted", || {
        let base = base.clone();
        async move {
            let samples = scrape(&base).await;
            (invalid(&samples, "changing") >= 2.0 && invalid(&samples, "never") >= 2.0)
                .then_some(samples)
        }
    })
    .await;
    let gauge = |name: &str, instance: &str| value(&samples, name, &[("instance_id", instance)]);
    // The first scan's timeout was already out of range: the configured one stands.
    assert_eq!(gauge("dcs_node_max_clients", "changing"), Some(500.0));
    assert_eq!(
        gauge("dcs_node_idle_timeout_seconds", "changing"),
        Some(30.0)
    );
    assert_eq!(gauge("dcs_node_max_clients", "never"), Some(1234.0));
    assert_eq!(gauge("dcs_node_idle_timeout_seconds", "never"), Some(300.0));
    // Scans do not fail for it.
    assert_eq!(gauge("dcs_scan_success", "changing"), Some(1.0));
    assert_eq!(gauge("dcs_scan_success", "never"), Some(1.0));
    let other_reasons: Vec<&Sample> = samples
        .iter()
        .filter(|s| {
            s.name == "dcs_exporter_instance_context_errors_total"
                && s.label("operation") == "config_get"
                && s.label("reason") != "invalid_value"
        })
        .collect();
    assert!(other_reasons.is_empty(), "{other_reasons:?}");
}

#[test]
fn check_config_refuses_a_budget_too_small_or_no_byte_count() {
    let dir = Dir::new("redis-budget-config");
    let target = "[[redis]]\nname = \"a\"\nurl = \"redis://127.0.0.1:6379\"\n";
    for (value, says) in [
        ("0", "must be at least 65536"),
        ("65535", "must be at least 65536"),
        ("-1", "max_scan_bytes"),
        ("\"64MiB\"", "max_scan_bytes"),
    ] {
        let file = dir.write("bad.toml", &format!("{target}max_scan_bytes = {value}\n"));
        let (code, _, err) = run(&["check-config", "--config", file.to_str().unwrap()], &[]);
        assert_eq!(code, Some(2), "{value}: {err}");
        assert!(err.contains(says), "{value}: {err}");
    }
    let file = dir.write("good.toml", &format!("{target}max_scan_bytes = 65536\n"));
    let (code, _, err) = run(&["check-config", "--config", file.to_str().unwrap()], &[]);
    assert_eq!(code, Some(0), "{err}");
    // Accepting any certificate is refused, as it always was, now before the first scan.
    let file = dir.write(
        "insecure.toml",
        "[[redis]]\nname = \"a\"\nurl = \"rediss://127.0.0.1:6379/#insecure\"\n",
    );
    let (code, _, err) = run(&["check-config", "--config", file.to_str().unwrap()], &[]);
    assert_eq!(code, Some(2), "{err}");
    assert!(
        err.contains("redis[a].url") && err.contains("#insecure"),
        "{err}"
    );
}

/// `rediss://` speaks TLS and checks the server's certificate against the web's roots: a
/// self-signed one is refused as a connection failure, with nothing sent in clear.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rediss_urls_speak_tls_and_refuse_an_unknown_certificate() {
    use dcs_session_exporter::cloud::Secret;
    use dcs_session_exporter::redis::{self, RedisEndpoint};
    use dcs_session_exporter::snapshot::Reason;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicU64, Ordering};

    let cert = rcgen::generate_simple_self_signed(vec!["127.0.0.1".into()]).unwrap();
    let key = rustls::pki_types::PrivatePkcs8KeyDer::from(cert.signing_key.serialize_der());
    let config = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::aws_lc_rs::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(vec![cert.cert.der().clone()], key.into())
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(config));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    // Handshakes begun: each a ClientHello, so the client spoke TLS.
    let hellos = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&hellos);
    let server = tokio::spawn(async move {
        while let Ok((tcp, _)) = listener.accept().await {
            let (acceptor, counted) = (acceptor.clone(), Arc::clone(&counted));
            tokio::spawn(async move {
                let mut first = [0u8; 1];
                // 0x16: a TLS handshake record.
                if tcp.peek(&mut first).await.is_ok() && first[0] == 0x16 {
                    counted.fetch_add(1, Ordering::SeqCst);
                }
                let _ = acceptor.accept(tcp).await;
            });
        }
    });
    let endpoint = RedisEndpoint {
        url: format!("rediss://127.0.0.1:{port}"),
        username: None,
        password: Some(Secret::new("tls-test-password".to_string())),
    };
    let deadline = tokio::time::Instant::now() + Duration::from_secs(10);
    let failure = redis::connect(&endpoint, deadline).await.err().unwrap();
    assert_eq!(failure.reason, Reason::Connection, "{}", failure.message);
    assert!(
        failure.message.contains("certificate"),
        "{}",
        failure.message
    );
    assert!(!failure.message.contains("tls-test-password"));
    assert_eq!(hellos.load(Ordering::SeqCst), 1);
    server.abort();
}
