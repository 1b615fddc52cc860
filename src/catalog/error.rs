//! What a catalog read can end in besides success.

#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum CatalogError {
    #[error("concert not found")]
    ConcertNotFound,
    /// MySQL did not answer, or not in time (the cause is logged where it happened).
    #[error("the catalog database is unavailable")]
    Unavailable,
}
