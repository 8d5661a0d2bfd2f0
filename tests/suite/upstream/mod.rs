//! When the upstream misbehaves: a Redis server, a cloud API or a credential service answering
//! what it should not, on loopback.

mod credentials;
mod decoders;
mod redis_replies;
