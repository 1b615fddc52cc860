//! What a queue operation can end in besides success: the refusals the queue scripts raise,
//! the operator's settings out of range, or a failure of Redis itself.

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
    /// Every seat of the concert is sold: the queue is closed.
    #[error("every seat of the concert is sold")]
    SoldOut,
    /// A queue setting out of range; the text names the setting first.
    #[error("{0}")]
    InvalidSetting(String),
    /// The concert never had a pre-queue, so there is no draw to show.
    #[error("the concert has no pre-queue")]
    NoPreQueue,
    /// The pre-queue has not opened: its order is not published yet.
    #[error("the pre-queue has not opened yet")]
    NotOpened,
    /// The buyer to evict is not in the concert's queue.
    #[error("the buyer is not in the concert's queue")]
    NotInQueue,
    #[error(transparent)]
    Store(StoreError),
}

impl QueueError {
    /// Every code the queue scripts raise, with the error it stands for (INVALID_SETTING
    /// keeps the script's text, see `From<StoreError>`).
    pub const SCRIPT_CODES: &'static [(&'static str, QueueError)] = &[
        ("CONCERT_NOT_FOUND", QueueError::ConcertNotFound),
        ("QUEUE_FULL", QueueError::QueueFull),
        ("SOLD_OUT", QueueError::SoldOut),
        ("INVALID_SETTING", QueueError::InvalidSetting(String::new())),
    ];
}

impl From<StoreError> for QueueError {
    fn from(err: StoreError) -> Self {
        if let StoreError::Code { code, detail } = &err {
            if code == "INVALID_SETTING" {
                return QueueError::InvalidSetting(detail.clone());
            }
        }
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
