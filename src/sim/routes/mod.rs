//! The simulator's HTTP routes: the router, and the handlers of the DCS and DBSS calls, by
//! concern (sessions, instances, jobs, key analyses). The gateway in front of them is
//! `gateway/`; the credential services, `credentials/`.

mod clients;
mod faults;
mod handler;
mod instances;
mod jobs;
mod keys;
mod router;
