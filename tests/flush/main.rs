//! The flush worker: the outbox into MySQL and Kafka, crashes, outages, and restore from MySQL.
//! One test binary per area; each module is one concern, sharing tests/helpers.

#[path = "../helpers/mod.rs"]
mod helpers;

mod basic;
mod crash;
mod e2e;
mod outage;
mod queue_events;
mod restore;
mod streams;
