//! When the upstream misbehaves: a Redis server, a cloud API or a credential service answering
//! what it should not, on loopback, through the real binary or client.

mod credentials;
mod decoders;
mod errors;
mod flags;
mod keys;
mod redis_replies;
mod slow_log;
