//! The waiting queue: tokens, admission, idle drops, concurrency and Redis faults.
//! One test binary per area; each module is one concern, sharing tests/helpers.

#[path = "../helpers/mod.rs"]
mod helpers;

mod admission;
mod cluster;
mod cluster_faults;
mod concurrency;
mod faults;
mod prequeue;
mod runtime_settings;
mod snapshot;
mod tokens;
