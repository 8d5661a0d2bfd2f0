//! The integration tests, one binary: each area a module, sharing one harness.

mod structure;
