//! Jobs carried out on the real Redis servers behind nodes (a topology's `redis_urls`): the
//! scan lists the server's sessions, the kill-all ends them; the job ends when they answer.

use std::sync::Arc;

use super::error::RealWorkError;
use super::simulator::Simulator;
use super::state::RealWork;

/// What a job does on the real servers behind nodes.
#[derive(Clone, Copy, Debug)]
pub(crate) enum RealTask {
    /// A scan: `CLIENT LIST`.
    List,
    /// `CLIENT KILL` of every normal and pub/sub session.
    KillAll,
}

async fn list_real(
    endpoint: &crate::redis::RedisEndpoint,
    deadline: tokio::time::Instant,
) -> Result<Vec<crate::session::ClientInfo>, RealWorkError> {
    let mut conn = crate::redis::connect(endpoint, deadline)
        .await
        .map_err(RealWorkError::Connect)?;
    crate::redis::client_list(&mut conn, Vec::new(), deadline)
        .await
        .map(|list| list.to_vec())
        .map_err(RealWorkError::List)
}

impl Simulator {
    /// Carries out a job on real servers, then ends it: the job is `RUNNING` at least the
    /// topology's job duration, and until the servers have answered.
    pub(crate) fn spawn_real_work(self: &Arc<Self>, work: RealWork, task: RealTask) {
        let sim = Arc::clone(self);
        let least = self.config().topology.job_duration;
        tokio::spawn(async move {
            let started = tokio::time::Instant::now();
            let deadline = started + least + crate::redis::DEFAULT_TIMEOUT;
            let result = match task {
                RealTask::List => match work.endpoints.first() {
                    Some(endpoint) => list_real(endpoint, deadline).await.map(Some),
                    None => Ok(None),
                },
                RealTask::KillAll => {
                    let mut result = Ok(None);
                    for endpoint in &work.endpoints {
                        if let Err(e) = crate::redis::kill_all(endpoint, deadline).await {
                            result = Err(RealWorkError::Kill(e));
                        }
                    }
                    result
                }
            };
            tokio::time::sleep_until(started + least).await;
            if let Err(reason) = &result {
                tracing::warn!(job_id = %work.job_id, "a job on a real Redis failed: {reason}");
            }
            sim.with_state(|s| s.finish_real_job(&work.job_id, result, sim.now()));
        });
    }
}
