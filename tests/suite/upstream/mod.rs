//! The exporter against upstreams that misbehave: cloud APIs, credential services and Redis
//! servers on loopback.

mod credentials;
