//! The catalog: concerts, schedules and seats. The catalog file that `seed` loads into
//! MySQL and Redis, the cached reads the API serves from MySQL, and `restore`, which
//! rebuilds Redis from MySQL after Redis lost its data.

mod cache;
mod error;
pub mod file;
pub mod restore;
pub mod seed;

pub use cache::{CatalogCache, ConcertRow, ScheduleRow};
pub use error::CatalogError;
pub use file::CatalogFile;
