//! The exporter against upstreams that misbehave: a cloud API, a credential service or a Redis
//! server answering what no real one should.

mod slow_log;
