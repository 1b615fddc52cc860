//! What a queue operation can end in besides success: the refusals the queue scripts raise,
//! or a failure of Redis itself.

use crate::store::StoreError;

#[derive(Clone, Debug, thiserror::Error)]
pub enum QueueError {
    #[error("concert not found")]
    ConcertNotFound,
    /// The concert's line has been non-empty for 25 days on end (lua/lib/queue.lua).
    #[error("the concert's queue cannot take new entries until its line drains")]
    QueueFull,
    #[error("the queue token is not active for this concert")]
    TokenNotActive,
    #[error(transparent)]
    Store(StoreError),
}

impl QueueError {
    /// Every code the queue scripts raise, with the error it stands for.
    pub const SCRIPT_CODES: &'static [(&'static str, QueueError)] = &[
        ("CONCERT_NOT_FOUND", QueueError::ConcertNotFound),
        ("QUEUE_FULL", QueueError::QueueFull),
    ];
}

impl From<StoreError> for QueueError {
    fn from(err: StoreError) -> Self {
        err.code()
            .and_then(|code| {
                QueueError::SCRIPT_CODES
                    .iter()
                    .find(|(known, _)| *known == code)
            })
            .map(|(_, mapped)| mapped.clone())
            .unwrap_or(QueueError::Store(err))
    }
}
