//! What anyone may read about a concert's pre-queue draw (GET /api/concerts/{id}/queue/
//! fairness and .../fairness/order): the commitment from the moment the pre-queue starts;
//! the seed, the pre-queue's size and its HMACs in queue order once it opened. Plain reads
//! of `q:life`, `q:settings` and `q:pre`.

use serde::Serialize;

use super::draw::{COMMITMENT_FIELD, OPENED_AT_FIELD, SEED_FIELD, SIZE_FIELD};
use super::{Queue, QueueError};
use crate::time::rfc3339_millis;

/// Longest page of the order.
pub const MAX_ORDER_PAGE: u64 = 1000;

/// The public answer about a concert's draw.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Fairness {
    pub concert_id: u64,
    /// When the pre-queue opens (after the opening: when it was set to, or when it opened
    /// if an operator opened it early).
    pub opens_at: Option<String>,
    /// SHA-256 of the seed's 32 bytes, lowercase hex.
    pub commitment: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub seed: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub pre_queue_size: Option<u64>,
}

/// One page of the opened pre-queue's HMACs, in queue order.
#[derive(Clone, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct FairnessOrder {
    pub concert_id: u64,
    pub offset: u64,
    pub limit: u64,
    pub pre_queue_size: u64,
    pub hmacs: Vec<String>,
}

impl Queue {
    /// The concert's draw as the public may see it: 404 CONCERT_NOT_FOUND, or NO_PRE_QUEUE
    /// for a concert that never had one.
    #[tracing::instrument(name = "read_fairness", skip(self))]
    pub async fn fairness(&self, concert_id: u64) -> Result<Fairness, QueueError> {
        let keys = self.store.keys.queue(concert_id);
        type Draw = (Option<String>, Option<String>, Option<u64>, Option<u64>);
        let (exists, opens_at, (commitment, seed, opened_at, size)): (bool, Option<u64>, Draw) =
            self.store
                .pipeline(
                    redis::pipe()
                        .exists(&keys.meta)
                        .hget(&keys.settings, "opensAt")
                        .cmd("HMGET")
                        .arg(&keys.life)
                        .arg(COMMITMENT_FIELD)
                        .arg(SEED_FIELD)
                        .arg(OPENED_AT_FIELD)
                        .arg(SIZE_FIELD),
                )
                .await?;
        if !exists {
            return Err(QueueError::ConcertNotFound);
        }
        let commitment = commitment.ok_or(QueueError::NoPreQueue)?;
        let opened = opened_at.is_some();
        Ok(Fairness {
            concert_id,
            opens_at: opens_at.or(opened_at).map(rfc3339_millis),
            commitment,
            seed: seed.filter(|_| opened),
            pre_queue_size: size.filter(|_| opened),
        })
    }

    /// `limit` HMACs (1 to MAX_ORDER_PAGE) from place `offset` (0 = first) of the opened
    /// pre-queue, lowercase hex; 409 NOT_OPENED before it opened.
    #[tracing::instrument(name = "read_fairness_order", skip(self))]
    pub async fn fairness_order(
        &self,
        concert_id: u64,
        offset: u64,
        limit: u64,
    ) -> Result<FairnessOrder, QueueError> {
        let fairness = self.fairness(concert_id).await?;
        let size = fairness.pre_queue_size.ok_or(QueueError::NotOpened)?;
        let keys = self.store.keys.queue(concert_id);
        let members: Vec<String> = if offset >= size {
            Vec::new()
        } else {
            let last = offset.saturating_add(limit).min(size) - 1;
            self.store
                .query(redis::cmd("ZRANGE").arg(&keys.pre).arg(offset).arg(last))
                .await?
        };
        Ok(FairnessOrder {
            concert_id,
            offset,
            limit,
            pre_queue_size: size,
            hmacs: members
                .into_iter()
                .map(|m| m.split(':').next().unwrap_or_default().to_string())
                .collect(),
        })
    }
}
