//! Failures: refused credentials, throttling, every error shape, deadlines, retries.

use super::*;

#[tokio::test]
async fn wrong_credentials_are_refused_without_retries() {
    let (sim, url) = default_sim().await;
    let observer = Arc::new(CountingObserver::default());
    let api = client_with(
        &url,
        Credentials::new(AK, "wrong-secret"),
        fast_options(Some(Arc::clone(&observer))),
    );
    let err = api
        .list_instances(&ListInstancesQuery::default(), deadline())
        .await
        .unwrap_err();
    assert_eq!(err.status, Some(401));
    assert_eq!(err.code.as_deref(), Some("APIG.0301"));
    assert!(err.is_auth_failure());
    assert_eq!(err.request_id.as_ref().map(String::len), Some(32));
    assert!(!err.to_string().contains("wrong-secret"));
    assert_eq!(observer.calls.lock().unwrap().len(), 1, "no retry on 401");
    assert_eq!(sim.auth_failures(), 1);

    // Another project than the one served.
    let other = ApiClient::new(
        Credentials::new(AK, SK),
        "another-project",
        Endpoints::single(&url).unwrap(),
        fast_options(None),
    )
    .unwrap();
    let err = other
        .list_instances(&ListInstancesQuery::default(), deadline())
        .await
        .unwrap_err();
    assert_eq!(err.status, Some(401));

    // A request signed 20 minutes ago is outside the allowed clock skew.
    let base = reqwest::Url::parse(&url).unwrap();
    let host = format!("{}:{}", base.host_str().unwrap(), base.port().unwrap());
    let path = format!("/v2/{PROJECT}/instances");
    let date = signer::sdk_date(SystemTime::now() - Duration::from_secs(20 * 60));
    let headers = vec![
        ("Host".to_string(), host),
        ("X-Sdk-Date".to_string(), date.clone()),
    ];
    let s = signer::sign(
        &SignableRequest {
            method: "GET",
            path: &path,
            query: &[],
            headers: &headers,
            body: b"",
        },
        AK,
        SK,
    );
    let response = reqwest::Client::new()
        .get(format!("{url}{path}"))
        .header("X-Sdk-Date", date)
        .header("Authorization", s.authorization)
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 401);
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error_code"], "APIG.0301");
    assert!(body["error_msg"].as_str().unwrap().contains("time"));

    // Unsigned: refused; an unknown path: the gateway's 404.
    let plain = reqwest::Client::new()
        .get(format!("{url}{path}"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(plain.status(), 401);
    let missing = reqwest::Client::new()
        .get(format!("{url}/v9/nothing"))
        .timeout(Duration::from_secs(10))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
    let body: serde_json::Value = missing.json().await.unwrap();
    assert_eq!(body["error_code"], "APIG.0101");
    assert_eq!(body["request_id"].as_str().map(str::len), Some(32));
}

fn throttled() -> SimError {
    SimError {
        status: 429,
        shape: ErrorShape::Gateway,
        code: "APIG.0308".into(),
        message: "The throttling threshold has been reached".into(),
    }
}

/// The account's rate halves on each throttled answer and comes back with answers that get
/// through; and the simulator's `api_latency` delays every answer.
#[tokio::test]
async fn the_request_rate_adapts_to_throttling() {
    let mut config = SimConfig::new(Credentials::new(AK, SK), topology());
    config.project_id = Some(PROJECT.into());
    config.topology.api_latency = Duration::from_millis(150);
    let (sim, url) = start_sim(config).await;
    let limiter = Arc::new(RateLimiter::new(400.0));
    let api = client_with(
        &url,
        Credentials::new(AK, SK),
        ClientOptions {
            rate_limiter: Some(Arc::clone(&limiter)),
            ..fast_options(None)
        },
    );
    let started = Instant::now();
    sim.inject_fault(Fault::new(Operation::ListInstances, 3, throttled()));
    api.list_instances(&ListInstancesQuery::default(), deadline())
        .await
        .unwrap();
    // Three throttled attempts and one that got through, each answered after the latency.
    assert!(started.elapsed() >= Duration::from_millis(4 * 150));
    assert_eq!(limiter.per_second(), 400.0 / 8.0 + 400.0 / 100.0);
    for _ in 0..3 {
        api.list_instances(&ListInstancesQuery::default(), deadline())
            .await
            .unwrap();
    }
    assert_eq!(limiter.per_second(), 400.0 / 8.0 + 4.0 * 400.0 / 100.0);
}

#[tokio::test]
async fn throttled_then_success_and_bounded_retries() {
    let (sim, url) = default_sim().await;
    sim.inject_fault(Fault::new(Operation::ListInstances, 2, throttled()));
    let observer = Arc::new(CountingObserver::default());
    let api = client_with(
        &url,
        Credentials::new(AK, SK),
        fast_options(Some(Arc::clone(&observer))),
    );
    let instances = api
        .list_instances(&ListInstancesQuery::default(), deadline())
        .await
        .unwrap();
    assert_eq!(instances.len(), 2);
    let outcomes: Vec<String> = observer
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.1.clone())
        .collect();
    assert_eq!(outcomes, ["429", "429", "200"]);

    // Throttled for longer than the retries allow: the last error, after 1 + 3 attempts.
    observer.calls.lock().unwrap().clear();
    sim.inject_fault(Fault::new(Operation::ListInstances, 10, throttled()));
    let err = api
        .list_instances(&ListInstancesQuery::default(), deadline())
        .await
        .unwrap_err();
    assert!(err.is_throttled());
    assert_eq!(err.reason().as_str(), "APIG.0308");
    assert_eq!(observer.calls.lock().unwrap().len(), 4);

    // A 5xx is retried too; a 4xx is not.
    observer.calls.lock().unwrap().clear();
    sim.inject_fault(Fault::new(
        Operation::ListLogicalNodes,
        1,
        SimError::dcs(503, "DCS.5000", "busy"),
    ));
    let id = &instances[0].instance_id.clone().unwrap();
    api.list_logical_nodes(id, deadline()).await.unwrap();
    sim.inject_fault(Fault::new(
        Operation::ListLogicalNodes,
        1,
        SimError::dcs(403, "DCS.4030", "no permission"),
    ));
    let err = api.list_logical_nodes(id, deadline()).await.unwrap_err();
    assert_eq!(
        (err.status, err.code.as_deref()),
        (Some(403), Some("DCS.4030"))
    );
    let outcomes: Vec<String> = observer
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.1.clone())
        .collect();
    assert_eq!(outcomes, ["503", "200", "403"]);
}

/// Answers every path with a fixed status, headers and body.
fn scripted(status: u16, body: &'static [u8], content_type: &'static str) -> Router {
    Router::new().fallback(move || async move {
        (
            StatusCode::from_u16(status).unwrap(),
            [
                ("content-type", content_type),
                ("x-request-id", "req-scripted"),
            ],
            body,
        )
            .into_response()
    })
}

#[tokio::test]
async fn every_error_shape_and_kind() {
    let cases: [(u16, &'static [u8], Option<&str>, &str); 5] = [
        (
            400,
            br#"{"error_code":"DCS.4957","error_msg":"busy","error_ext_msg":null}"#,
            Some("DCS.4957"),
            "busy",
        ),
        (
            403,
            br#"{"error":{"error_code":"DBSS.0001","error_msg":"denied"}}"#,
            Some("DBSS.0001"),
            "denied",
        ),
        (
            429,
            br#"{"error_code":"APIG.0308","error_msg":"throttled","request_id":"r9"}"#,
            Some("APIG.0308"),
            "throttled",
        ),
        (
            404,
            br#"{"code":"X.404","message":"gone"}"#,
            Some("X.404"),
            "gone",
        ),
        (
            502,
            b"<html>bad gateway</html>",
            None,
            "<html>bad gateway</html>",
        ),
    ];
    for (status, body, code, message) in cases {
        let url = serve(scripted(status, body, "application/json")).await;
        let api = client_with(
            &url,
            Credentials::new(AK, SK),
            ClientOptions {
                retry: RetryPolicy::none(),
                ..fast_options(None)
            },
        );
        let err = api.show_job("j1", deadline()).await.unwrap_err();
        assert_eq!(err.kind, ErrorKind::Http);
        assert_eq!(err.status, Some(status));
        assert_eq!(err.code.as_deref(), code);
        assert_eq!(err.message, message);
        assert_eq!(err.request_id.as_deref(), Some("req-scripted"));
        assert_eq!(err.operation, Operation::ShowJob);
    }

    // Undecodable answer.
    let url = serve(scripted(200, b"{\"job_id\": [1,", "application/json")).await;
    let err = client(&url).show_job("j1", deadline()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::Decode);

    // Larger than the cap.
    static BIG: [u8; 100_000] = [b' '; 100_000];
    let url = serve(scripted(200, &BIG, "application/json")).await;
    let api = client_with(
        &url,
        Credentials::new(AK, SK),
        ClientOptions {
            max_body_bytes: 10_000,
            ..fast_options(None)
        },
    );
    let err = api.show_job("j1", deadline()).await.unwrap_err();
    assert_eq!(err.kind, ErrorKind::BodyTooLarge);

    // Nobody listening.
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let closed = format!("http://{}", listener.local_addr().unwrap());
    drop(listener);
    let err = client(&closed)
        .show_job("j1", deadline())
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Transport);
    assert_eq!(err.reason().as_str(), "transport");
}

#[tokio::test]
async fn deadlines_hold() {
    // A server that never finishes answering.
    let hang = Router::new().route(
        "/{*rest}",
        get(|| async {
            tokio::time::sleep(Duration::from_secs(60)).await;
            "late"
        }),
    );
    let url = serve(hang).await;
    let api = client(&url);
    let started = Instant::now();
    let err = api
        .show_job("j1", Instant::now() + Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout);
    assert!(
        started.elapsed() < Duration::from_secs(5),
        "{:?}",
        started.elapsed()
    );

    // A retry whose backoff would end past the deadline is not made.
    let failing = Arc::new(AtomicU32::new(0));
    let counter = Arc::clone(&failing);
    let url = serve(Router::new().fallback(move || {
        let counter = Arc::clone(&counter);
        async move {
            counter.fetch_add(1, Ordering::SeqCst);
            (StatusCode::SERVICE_UNAVAILABLE, "down")
        }
    }))
    .await;
    let api = client_with(
        &url,
        Credentials::new(AK, SK),
        ClientOptions {
            retry: RetryPolicy {
                // Many retries allowed: only the deadline can stop them early.
                max_retries: 50,
                base_delay: Duration::from_secs(30),
                max_delay: Duration::from_secs(30),
            },
            ..fast_options(None)
        },
    );
    // Full jitter may draw a tiny wait now and then; with a 30 s ceiling and a 1 s deadline,
    // at most a few attempts fit.
    let started = Instant::now();
    let err = api
        .show_job("j1", Instant::now() + Duration::from_secs(1))
        .await
        .unwrap_err();
    assert_eq!(err.status, Some(503));
    assert!(
        started.elapsed() < Duration::from_secs(3),
        "{:?}",
        started.elapsed()
    );
    assert!(failing.load(Ordering::SeqCst) <= 6);

    // A job that outlives the deadline.
    let mut t = topology();
    t.job_duration = Duration::from_secs(60);
    let (_sim, url) = start_sim(SimConfig::new(Credentials::new(AK, SK), t)).await;
    let api = client(&url);
    let (instance, node) = first_node(&api, "orders-cache").await;
    let job = api
        .start_scan(&instance, &node, true, deadline())
        .await
        .unwrap();
    let err = api
        .wait_for_job(&job, &POLL, Instant::now() + Duration::from_millis(300))
        .await
        .unwrap_err();
    assert_eq!(err.kind, ErrorKind::Timeout);
    assert!(err.message.contains(&job));
}

#[tokio::test]
async fn requests_carry_the_sdk_headers() {
    // Record what the client sends.
    let seen: Arc<Mutex<Vec<(String, String)>>> = Arc::default();
    let store = Arc::clone(&seen);
    let url = serve(Router::new().fallback(move |req: axum::extract::Request| {
        let store = Arc::clone(&store);
        async move {
            let mut s = store.lock().unwrap();
            for (name, value) in req.headers() {
                s.push((
                    name.to_string(),
                    value.to_str().unwrap_or_default().to_string(),
                ));
            }
            s.push(("path".into(), req.uri().to_string()));
            (StatusCode::OK, r#"{"job_id":"j1"}"#)
        }
    }))
    .await;
    let api = client_with(
        &url,
        Credentials::new(AK, SK).with_security_token("TOKEN-1"),
        fast_options(None),
    );
    api.start_scan("inst 1", "node/1", false, deadline())
        .await
        .unwrap();
    let seen = seen.lock().unwrap().clone();
    let get = |name: &str| {
        seen.iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.clone())
            .unwrap_or_default()
    };
    assert!(get("user-agent").starts_with("dcs-session-exporter/"));
    assert_eq!(get("x-project-id"), PROJECT);
    assert_eq!(get("x-security-token"), "TOKEN-1");
    assert!(get("content-type").starts_with("application/json"));
    assert_eq!(
        get("path"),
        format!("/v2/{PROJECT}/instances/inst%201/clients")
    );
    let auth = get("authorization");
    assert!(
        auth.contains("SignedHeaders=content-type;host;x-project-id;x-sdk-date;x-security-token"),
        "{auth}"
    );
}

#[tokio::test]
async fn writes_are_not_retried_after_a_server_error() {
    let (sim, url) = default_sim().await;
    let observer = Arc::new(CountingObserver::default());
    let api = client_with(
        &url,
        Credentials::new(AK, SK),
        fast_options(Some(Arc::clone(&observer))),
    );
    let (instance, node) = first_node(&api, "orders-cache").await;
    observer.calls.lock().unwrap().clear();
    sim.inject_fault(Fault::new(
        Operation::ScanClients,
        1,
        SimError::dcs(502, "APIG.0202", "bad gateway"),
    ));
    let err = api
        .start_scan(&instance, &node, true, deadline())
        .await
        .unwrap_err();
    assert_eq!(err.status, Some(502));
    assert_eq!(
        observer.calls.lock().unwrap().len(),
        1,
        "a 5xx on a write is not retried"
    );
    // Throttling says the call was not carried out: a write is retried then.
    sim.inject_fault(Fault::new(Operation::ScanClients, 1, throttled()));
    api.start_scan(&instance, &node, true, deadline())
        .await
        .unwrap();
    let outcomes: Vec<String> = observer
        .calls
        .lock()
        .unwrap()
        .iter()
        .map(|c| c.1.clone())
        .collect();
    assert_eq!(outcomes, ["502", "429", "200"]);
}
