//! How a routes file hands its handlers to the router: each with the operation it serves, so
//! that the router puts it at that operation's method and path.

use std::sync::Arc;

use axum::routing::{MethodFilter, MethodRouter};

use crate::cloud::operation::Operation;
use crate::sim::simulator::Simulator;

/// A handler, for the method its operation declares.
pub(super) type Handler = fn(MethodFilter) -> MethodRouter<Arc<Simulator>>;

/// The operations a routes file serves, with their handlers.
pub(super) type Handlers = Vec<(Operation, Handler)>;
