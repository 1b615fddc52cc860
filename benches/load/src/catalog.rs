//! The catalog file the server was seeded with (bench-data/catalog.json, the JSON that
//! `concert-queue seed` reads), seen through the few fields the load tool uses: concert and
//! schedule ids, and seat prices. Every other field is ignored, so the tool does not depend
//! on the engine's own catalog type.

use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct Catalog {
    pub concerts: Vec<Concert>,
}

#[derive(Debug, Deserialize)]
pub struct Concert {
    pub id: u64,
    pub schedules: Vec<Schedule>,
}

#[derive(Debug, Deserialize)]
pub struct Schedule {
    pub id: u64,
    pub seats: Vec<Seat>,
}

#[derive(Debug, Deserialize)]
pub struct Seat {
    /// In won.
    pub price: u64,
}

impl Catalog {
    pub fn read(path: &Path) -> anyhow::Result<Catalog> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_the_demo_catalog() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bench-data/catalog.json");
        let catalog = Catalog::read(&path).unwrap();
        assert_eq!(catalog.concerts.len(), 10);
        assert!(catalog.concerts.iter().all(|c| !c.schedules.is_empty()));
        let seats: Vec<&Seat> = catalog
            .concerts
            .iter()
            .flat_map(|c| &c.schedules)
            .flat_map(|s| &s.seats)
            .collect();
        assert_eq!(seats.len(), 5_000);
        assert!(seats.iter().all(|seat| seat.price > 0));
    }

    #[test]
    fn ignores_the_fields_it_does_not_read() {
        let catalog: Catalog = serde_json::from_str(
            r#"{"concerts": [{"id": 7, "title": "t", "artist": "a", "venue": "v",
                "schedules": [{"id": 3, "startsAt": "2027-01-01T00:00:00Z",
                  "seats": [{"seatNo": 1, "grade": "R", "price": 132000}]}]}]}"#,
        )
        .unwrap();
        assert_eq!(catalog.concerts[0].id, 7);
        assert_eq!(catalog.concerts[0].schedules[0].id, 3);
        assert_eq!(catalog.concerts[0].schedules[0].seats[0].price, 132_000);
    }
}
