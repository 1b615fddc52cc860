//! The catalog's read side: concerts and schedules from MySQL, kept in an in-process cache
//! (5 min for the list, 10 min for a concert, 3 min for its schedules) where each key is
//! loaded by one caller at a time while the others wait for that load (no stampede).
//! MySQL down or slow: 503 UNAVAILABLE within `MYSQL_TIMEOUT_MS`, never a hang.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context;
use chrono::NaiveDateTime;
use moka::future::Cache;
use mysql_async::prelude::*;
use mysql_async::{Opts, Pool};

use super::CatalogError;

pub const CONCERT_LIST_TTL: Duration = Duration::from_secs(5 * 60);
pub const CONCERT_TTL: Duration = Duration::from_secs(10 * 60);
pub const SCHEDULES_TTL: Duration = Duration::from_secs(3 * 60);

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ConcertRow {
    pub id: u64,
    pub title: String,
    pub artist: String,
    pub venue: String,
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ScheduleRow {
    pub id: u64,
    pub starts_at: NaiveDateTime,
    pub total_seats: u64,
}

/// Cached catalog reads over a lazily connecting MySQL pool.
pub struct CatalogCache {
    pool: Pool,
    timeout: Duration,
    list: Cache<(), Arc<Vec<ConcertRow>>>,
    concerts: Cache<u64, Option<Arc<ConcertRow>>>,
    schedules: Cache<u64, Option<Arc<Vec<ScheduleRow>>>>,
}

impl CatalogCache {
    /// A catalog over `mysql_url`; nothing connects until the first read.
    pub fn new(mysql_url: &str, timeout: Duration) -> anyhow::Result<Self> {
        let opts = Opts::from_url(mysql_url).context("parsing MYSQL_URL")?;
        Ok(CatalogCache {
            pool: Pool::new(opts),
            timeout,
            list: Cache::builder().time_to_live(CONCERT_LIST_TTL).build(),
            concerts: cache(CONCERT_TTL),
            schedules: cache(SCHEDULES_TTL),
        })
    }

    pub async fn concerts(&self) -> Result<Arc<Vec<ConcertRow>>, CatalogError> {
        self.list
            .try_get_with((), self.bounded(load_concerts(&self.pool)))
            .await
            .map_err(|shared| (*shared).clone())
    }

    /// The concert, or 404 CONCERT_NOT_FOUND (an unknown id is cached too).
    pub async fn concert(&self, concert_id: u64) -> Result<Arc<ConcertRow>, CatalogError> {
        self.concerts
            .try_get_with(
                concert_id,
                self.bounded(load_concert(&self.pool, concert_id)),
            )
            .await
            .map_err(|shared| (*shared).clone())?
            .ok_or(CatalogError::ConcertNotFound)
    }

    /// The concert's schedules, or 404 CONCERT_NOT_FOUND.
    pub async fn schedules(&self, concert_id: u64) -> Result<Arc<Vec<ScheduleRow>>, CatalogError> {
        self.schedules
            .try_get_with(
                concert_id,
                self.bounded(load_schedules(&self.pool, concert_id)),
            )
            .await
            .map_err(|shared| (*shared).clone())?
            .ok_or(CatalogError::ConcertNotFound)
    }

    /// Bounds one load by the timeout; any MySQL failure becomes 503 (logged, not shown).
    async fn bounded<T>(
        &self,
        load: impl Future<Output = anyhow::Result<T>>,
    ) -> Result<T, CatalogError> {
        match tokio::time::timeout(self.timeout, load).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(err)) => {
                tracing::warn!(error = format!("{err:#}"), "catalog read failed");
                Err(CatalogError::Unavailable)
            }
            Err(_) => {
                tracing::warn!(
                    timeout_ms = self.timeout.as_millis() as u64,
                    "MySQL timed out"
                );
                Err(CatalogError::Unavailable)
            }
        }
    }

    /// Whether MySQL answers `SELECT 1` within the timeout (for `/health`; not cached).
    pub async fn ping(&self) -> bool {
        let pool = self.pool.clone();
        let probe = async move {
            let mut conn = pool.get_conn().await.context("connecting to MySQL")?;
            conn.query_drop("SELECT 1").await.context("SELECT 1")?;
            anyhow::Ok(())
        };
        matches!(tokio::time::timeout(self.timeout, probe).await, Ok(Ok(())))
    }

    /// Closes the pool's connections.
    pub async fn close(&self) {
        let _ = self.pool.clone().disconnect().await;
    }
}

fn cache<K, V>(ttl: Duration) -> Cache<K, V>
where
    K: std::hash::Hash + Eq + Send + Sync + 'static,
    V: Clone + Send + Sync + 'static,
{
    Cache::builder()
        .max_capacity(10_000)
        .time_to_live(ttl)
        .build()
}

async fn load_concerts(pool: &Pool) -> anyhow::Result<Arc<Vec<ConcertRow>>> {
    let mut conn = pool.get_conn().await.context("connecting to MySQL")?;
    let rows: Vec<(u64, String, String, String)> = conn
        .query("SELECT id, title, artist, venue FROM concerts ORDER BY id")
        .await
        .context("reading concerts")?;
    Ok(Arc::new(rows.into_iter().map(concert_row).collect()))
}

async fn load_concert(pool: &Pool, concert_id: u64) -> anyhow::Result<Option<Arc<ConcertRow>>> {
    let mut conn = pool.get_conn().await.context("connecting to MySQL")?;
    let row: Option<(u64, String, String, String)> = conn
        .exec_first(
            "SELECT id, title, artist, venue FROM concerts WHERE id = ?",
            (concert_id,),
        )
        .await
        .context("reading a concert")?;
    Ok(row.map(|r| Arc::new(concert_row(r))))
}

async fn load_schedules(
    pool: &Pool,
    concert_id: u64,
) -> anyhow::Result<Option<Arc<Vec<ScheduleRow>>>> {
    let mut conn = pool.get_conn().await.context("connecting to MySQL")?;
    let exists: Option<u64> = conn
        .exec_first("SELECT id FROM concerts WHERE id = ?", (concert_id,))
        .await
        .context("reading a concert")?;
    if exists.is_none() {
        return Ok(None);
    }
    let rows: Vec<(u64, NaiveDateTime, u64)> = conn
        .exec(
            "SELECT s.id, s.starts_at, COUNT(seats.seat_no)
             FROM schedules s LEFT JOIN seats ON seats.schedule_id = s.id
             WHERE s.concert_id = ? GROUP BY s.id, s.starts_at ORDER BY s.starts_at, s.id",
            (concert_id,),
        )
        .await
        .context("reading schedules")?;
    Ok(Some(Arc::new(
        rows.into_iter()
            .map(|(id, starts_at, total_seats)| ScheduleRow {
                id,
                starts_at,
                total_seats,
            })
            .collect(),
    )))
}

fn concert_row((id, title, artist, venue): (u64, String, String, String)) -> ConcertRow {
    ConcertRow {
        id,
        title,
        artist,
        venue,
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    #[tokio::test]
    async fn concurrent_misses_on_one_key_load_it_once() {
        let cache: Cache<u64, Option<Arc<Vec<ScheduleRow>>>> = cache(SCHEDULES_TTL);
        let loads = Arc::new(AtomicUsize::new(0));
        let callers = (0..50).map(|_| {
            let cache = cache.clone();
            let loads = loads.clone();
            async move {
                cache
                    .try_get_with(1, async move {
                        loads.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        Ok::<_, CatalogError>(Some(Arc::new(Vec::new())))
                    })
                    .await
                    .is_ok()
            }
        });
        let answers = futures::future::join_all(callers).await;
        assert!(answers.iter().all(|ok| *ok));
        assert_eq!(loads.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn a_failed_load_is_not_cached() {
        let cache: Cache<u64, Option<Arc<Vec<ScheduleRow>>>> = cache(SCHEDULES_TTL);
        let failed = cache
            .try_get_with(1, async {
                Err::<_, CatalogError>(CatalogError::Unavailable)
            })
            .await;
        assert!(failed.is_err());
        let loaded = cache
            .try_get_with(1, async { Ok::<_, CatalogError>(None) })
            .await;
        assert!(matches!(loaded, Ok(None)));
    }
}
