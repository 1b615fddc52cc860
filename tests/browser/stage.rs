//! What the browser tests play on: two concerts with a few schedules (in MySQL for the
//! catalog's routes, in Redis for the queue and the seats) and a server over them.

use concert_queue::catalog::file::{CatalogFile, Concert};

use crate::helpers::booking::{catalog, concert};
use crate::helpers::mysql::TestDatabase;
use crate::helpers::TestServer;

/// The concert the tests join, and its first schedule.
pub const CONCERT: u64 = 1;
pub const SCHEDULE: u64 = 10;
/// The price of seats 1-10 (R); seats 11-20 (S) cost [`S_PRICE`].
pub const R_PRICE: u64 = 165_000;
pub const S_PRICE: u64 = 132_000;

fn named(mut c: Concert, title: &str, artist: &str, venue: &str) -> Concert {
    c.title = title.into();
    c.artist = artist.into();
    c.venue = venue.into();
    for schedule in &mut c.schedules {
        for seat in &mut schedule.seats {
            if seat.seat_no > 10 {
                seat.grade = "S".into();
                seat.price = S_PRICE;
            }
        }
    }
    c
}

pub fn demo_catalog() -> CatalogFile {
    catalog(vec![
        named(
            concert(CONCERT, &[(SCHEDULE, 20, R_PRICE), (11, 20, R_PRICE)]),
            "Aurora Live in Seoul",
            "Aurora",
            "KSPO Dome",
        ),
        named(
            concert(2, &[(20, 20, R_PRICE)]),
            "Neon Tides World Tour",
            "Neon Tides",
            "Gocheok Sky Dome",
        ),
    ])
}

/// A server over [`demo_catalog`], configured by `customize`.
pub async fn server(
    name: &str,
    customize: impl FnOnce(&mut concert_queue::Config),
) -> (TestServer, TestDatabase) {
    TestServer::with_catalog_in_mysql(name, &demo_catalog(), customize).await
}
