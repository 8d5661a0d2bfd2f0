//! The ways the simulated service can misbehave, and the names a topology gives them.

use std::time::Duration;

use super::error::SimError;

/// A way the simulated service misbehaves. A topology names it by its [`FaultKindName`], the
/// variant's name in snake_case.
#[derive(Clone, Debug, PartialEq, Eq, strum::EnumDiscriminants)]
#[strum_discriminants(
    name(FaultKindName),
    derive(strum::EnumString, strum::VariantNames),
    strum(serialize_all = "snake_case")
)]
pub enum FaultKind {
    /// An error answer: 5xx, 429 (`APIG.0308`), 401 (`APIG.0301`, a refused signature), ...
    Error(SimError),
    /// No answer at all, until the client gives up.
    Hang,
    /// The right answer, late.
    Slow(Duration),
    /// An answer cut short: the body ends before its announced length.
    TruncatedBody,
    /// A body of JSON with wrong types and nulls where values belong.
    WrongTypes,
    /// An answer of this many bytes, far larger than any sane page.
    HugeBody(usize),
    /// Scan jobs of the node never end (`RUNNING` for ever).
    JobStuck,
    /// Scan jobs of the node end `FAIL`.
    JobFails,
    /// Every page of the stored list carries a new `time`.
    TimeChanges,
    /// `count` larger than the pages deliver.
    CountTooLarge,
    /// Full pages for ever, without a `count`.
    EndlessPages,
    /// Key analyses' details list no keys, while their `num` still counts them.
    EmptyKeys,
}
