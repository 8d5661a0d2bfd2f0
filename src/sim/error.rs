//! The simulator's error answers: the codes it answers with, the shape of each service's error
//! body, and the error value every simulated call returns.

/// Error codes the simulator answers with. `DCS.4957` and the key analyses' are the real
/// service's; the others stand in for codes the public documentation does not give.
pub mod codes {
    pub const TASK_STATE: &str = "DCS.4957";
    /// The key analyses' codes, from DCS's error-code table and API examples: a big-key
    /// analysis while one runs; an analysis the instance does not support (hot keys: a
    /// `maxmemory-policy` that is not LFU); an unknown task id (answered with 400, as the
    /// service does). `DCS.4232` (no such offline analysis) is the code Huawei's Terraform
    /// provider expects.
    pub const BIGKEY_RUNNING: &str = "DCS.4918";
    pub const BIGKEY_NOT_SUPPORTED: &str = "DCS.4919";
    pub const HOTKEY_NOT_SUPPORTED: &str = "DCS.4922";
    pub const HOTKEY_NOT_FOUND: &str = "DCS.4941";
    pub const BIGKEY_NOT_FOUND: &str = "DCS.4942";
    pub const OFFLINE_ANALYSIS_NOT_FOUND: &str = "DCS.4232";
    pub const INVALID_PARAMETER: &str = "DCS.4800";
    pub const INSTANCE_NOT_FOUND: &str = "DCS.4204";
    pub const JOB_NOT_FOUND: &str = "DCS.4206";
    pub const INTERNAL: &str = "DCS.5000";
    pub const DBSS_NOT_FOUND: &str = "DBSS.0404";
}

/// Which service answered, which decides the error body's shape.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorShape {
    /// `{"error_code", "error_msg", "error_ext_msg"}`
    Dcs,
    /// `{"error": {"error_code", "error_msg"}}`
    Dbss,
    /// `{"error_code": "APIG.xxxx", "error_msg", "request_id"}`
    Gateway,
}

/// An error answer.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct SimError {
    pub status: u16,
    pub shape: ErrorShape,
    pub code: String,
    pub message: String,
}

impl SimError {
    pub fn dcs(status: u16, code: &str, message: impl Into<String>) -> Self {
        Self {
            status,
            shape: ErrorShape::Dcs,
            code: code.to_string(),
            message: message.into(),
        }
    }

    pub(super) fn invalid(message: impl Into<String>) -> Self {
        Self::dcs(400, codes::INVALID_PARAMETER, message)
    }
}

pub type SimResult<T> = Result<T, SimError>;

/// The gateway's answer for a path that is no API.
pub fn api_not_found() -> SimError {
    SimError {
        status: 404,
        shape: ErrorShape::Gateway,
        code: "APIG.0101".into(),
        message: "The API does not exist or has not been published in the environment".into(),
    }
}

/// Why a job on a real Redis server failed: its `fail_reason`.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum RealWorkError {
    #[error("Connecting to the node failed: {0}")]
    Connect(crate::redis::RedisFailure),
    #[error("Listing the sessions failed: {0}")]
    List(crate::redis::RedisFailure),
    #[error("Killing the sessions failed: {0}")]
    Kill(crate::redis::RedisFailure),
    /// The `job_fails` fault.
    #[error("Querying the session list failed.")]
    Injected,
}
