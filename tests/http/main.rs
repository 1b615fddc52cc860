//! The HTTP contract: routes, envelopes, limits, and the server's start and stop.
//! One test binary per area; each module is one concern, sharing tests/helpers.

#[path = "../helpers/mod.rs"]
mod helpers;

mod admin;
mod contract;
mod conventions;
mod drain;
mod fairness;
mod hostile;
mod identity;
mod layout;
mod limits;
mod ops_files;
mod pages;
mod settings;
mod smoke;
