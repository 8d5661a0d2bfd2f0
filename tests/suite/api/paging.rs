//! Paging that breaks: what the service might do between pages.

use super::*;

/// A page of a session list for (offset, limit).
type PageRule = fn(u64, u64) -> serde_json::Value;

/// Serves a session list by a rule.
async fn paged(rule: PageRule) -> String {
    #[derive(Deserialize)]
    struct Q {
        offset: u64,
        limit: u64,
    }
    serve(Router::new().route(
        "/v2/{p}/instances/{i}/clients",
        get(
            move |axum::extract::Query(q): axum::extract::Query<Q>| async move {
                axum::Json(rule(q.offset, q.limit))
            },
        ),
    ))
    .await
}

fn sessions(from: u64, n: u64) -> Vec<serde_json::Value> {
    (from..from + n)
        .map(|i| serde_json::json!({"id": i.to_string(), "addr": format!("10.0.0.1:{}", 1000 + i)}))
        .collect()
}

#[tokio::test]
async fn broken_paging_is_caught() {
    let cases: [(&str, PageRule); 4] = [
        ("pages end before the count", |offset, limit| {
            let n = if offset >= 1500 {
                0
            } else {
                limit.min(1500 - offset)
            };
            serde_json::json!({"time": "t", "count": 2500, "clients": sessions(offset, n)})
        }),
        (
            "a page larger than asked",
            |offset, limit| serde_json::json!({"time": "t", "count": 5000, "clients": sessions(offset, limit + 1)}),
        ),
        (
            "offset ignored",
            |_, limit| serde_json::json!({"time": "t", "count": 5000, "clients": sessions(0, limit)}),
        ),
        (
            "an impossible count",
            |offset, limit| serde_json::json!({"time": "t", "count": 50_000_000u64, "clients": sessions(offset, limit)}),
        ),
    ];
    for (what, rule) in cases {
        let url = paged(rule).await;
        let mut received = Vec::new();
        let err = client(&url)
            .read_stored_list(
                "i",
                "n",
                &PagingOptions::default(),
                &mut received,
                deadline(),
            )
            .await
            .unwrap_err();
        assert_eq!(err.kind, ErrorKind::Inconsistent, "{what}: {err}");
        assert!(received.len() <= 5000, "{what}");
    }
    // A list without a count ends at its first short page.
    let url = paged(|offset, limit| {
        let n = if offset >= 2300 {
            0
        } else {
            limit.min(2300 - offset)
        };
        serde_json::json!({"time": "t", "clients": sessions(offset, n)})
    })
    .await;
    let mut received = Vec::new();
    let list = client(&url)
        .read_stored_list(
            "i",
            "n",
            &PagingOptions::default(),
            &mut received,
            deadline(),
        )
        .await
        .unwrap();
    assert_eq!((list.sessions, list.pages, received.len()), (2300, 3, 2300));
}
