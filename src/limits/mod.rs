//! Fairness between clients, kept in process: each client's own budget for joining a queue
//! (a keyed governor limiter, by verified user or client IP) and the pace of each WAITING
//! token's status polls (a bounded map). Neither needs a Redis round trip.

pub mod budget;
pub mod client;
pub mod pacing;

pub use budget::{ClientBudget, LimitsSweep};
pub use client::{client_ip, ClientKey, PeerAddr};
pub use pacing::PollPacer;
