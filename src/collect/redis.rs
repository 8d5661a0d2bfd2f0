//! One scan of a Redis server: connect, list the sessions, aggregate them.

use std::time::SystemTime;

use tokio::time::Instant;

use super::settings::ScanSettings;
use crate::aggregate::Aggregator;
use crate::redis::{self, RedisEndpoint, RedisFailure};
use crate::snapshot::{Failure, NodeData, Stage};

/// One scan of a direct target: connect, list the sessions, aggregate them.
pub async fn scan(
    endpoint: &RedisEndpoint,
    settings: &ScanSettings,
    deadline: Instant,
) -> Result<(NodeData, Option<String>), Failure> {
    let as_failure = |stage: Stage| move |f: RedisFailure| Failure::redis(stage, f);
    let mut conn = redis::connect(endpoint, deadline)
        .await
        .map_err(as_failure(Stage::Scan))?;
    // The first command is where a missing or wrong password shows: that is the connection
    // stage, not the listing.
    let clients = redis::client_list(&mut conn, deadline).await.map_err(|f| {
        let login = matches!(f.reason.as_str(), "NOAUTH" | "WRONGPASS" | "auth");
        as_failure(if login { Stage::Scan } else { Stage::List })(f)
    })?;
    let role = redis::role(&mut conn, deadline).await;
    let listed = SystemTime::now();
    let mut aggregator = Aggregator::new(std::sync::Arc::clone(&settings.aggregate));
    for c in clients.sessions() {
        aggregator.observe(&c);
    }
    Ok((
        NodeData {
            aggregate: aggregator.finish(),
            data_time: Some(listed),
            scanned: listed,
        },
        role,
    ))
}
