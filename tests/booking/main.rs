//! Booking: the catalog and seeding, seat maps, holds, wallets, payments, their invariants under concurrency and faults.
//! One test binary per area; each module is one concern, sharing tests/helpers.

#[path = "../helpers/mod.rs"]
mod helpers;

mod catalog;
mod cluster;
mod cluster_faults;
mod concurrency;
mod faults;
mod garbage;
mod holds;
mod inventory;
mod model;
mod payment;
mod refusals;
mod seed;
mod steps;
mod wallet;
