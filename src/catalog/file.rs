//! The catalog file (bench-data/catalog.json): concerts, their schedules and seats, as
//! `seed` loads them and `restore` rebuilds them from MySQL.

use std::path::Path;

use anyhow::Context;
use serde::Deserialize;

#[derive(Debug, Deserialize)]
pub struct CatalogFile {
    pub concerts: Vec<Concert>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Concert {
    pub id: u64,
    pub title: String,
    pub artist: String,
    pub venue: String,
    pub schedules: Vec<Schedule>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Schedule {
    pub id: u64,
    pub starts_at: chrono::DateTime<chrono::Utc>,
    pub seats: Vec<Seat>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Seat {
    pub seat_no: u32,
    pub grade: String,
    pub price: u64,
}

impl CatalogFile {
    pub fn read(path: &Path) -> anyhow::Result<CatalogFile> {
        let text =
            std::fs::read_to_string(path).with_context(|| format!("reading {}", path.display()))?;
        serde_json::from_str(&text).with_context(|| format!("parsing {}", path.display()))
    }

    pub fn seat_count(&self) -> usize {
        self.concerts
            .iter()
            .flat_map(|c| &c.schedules)
            .map(|s| s.seats.len())
            .sum()
    }
}
