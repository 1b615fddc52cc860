//! The Lua scripts, one per state transition, compiled in and hashed once at start-up.
//! `redis::Script` calls EVALSHA and, on NOSCRIPT (a restarted or flushed Redis),
//! loads the script and retries once.
//!
//! Each script starts with the shebang `#!lua` (Redis 7): a script so flagged may write,
//! so a Redis that refuses writes (out of memory, a read-only replica) refuses the whole
//! call before it starts (`OOM`, `READONLY`), never halfway through its writes. Without
//! it, Redis would check only at the first write command that needs memory, after writes
//! that free memory (DEL, ZREM) had already run.

use redis::Script;

macro_rules! queue_script {
    ($file:literal) => {
        Script::new(concat!(
            "#!lua\n",
            include_str!("../../lua/lib/common.lua"),
            include_str!("../../lua/lib/concert.lua"),
            include_str!("../../lua/lib/queue.lua"),
            include_str!(concat!("../../lua/", $file))
        ))
    };
}

macro_rules! booking_script {
    ($file:literal) => {
        Script::new(concat!(
            "#!lua\n",
            include_str!("../../lua/lib/common.lua"),
            include_str!("../../lua/lib/concert.lua"),
            include_str!("../../lua/lib/booking.lua"),
            include_str!(concat!("../../lua/", $file))
        ))
    };
}

/// Every script the engine runs, each with its SHA1 computed once.
#[derive(Debug)]
pub struct Scripts {
    pub issue_token: Script,
    pub queue_status: Script,
    pub queue_snapshot: Script,
    pub activate: Script,
    pub open_prequeue: Script,
    pub configure_queue: Script,
    pub evict_buyer: Script,
    pub queue_figures: Script,
    pub seat_map: Script,
    pub available_seats: Script,
    pub hold_seat: Script,
    pub cancel_reservation: Script,
    pub pay_reservation: Script,
    pub begin_payment: Script,
    pub debit_wallet: Script,
    pub confirm_payment: Script,
    pub abort_payment: Script,
    pub void_debit: Script,
    pub charge_wallet: Script,
    pub release_lapsed_holds: Script,
}

impl Scripts {
    pub fn load() -> Self {
        Scripts {
            issue_token: queue_script!("issue_token.lua"),
            queue_status: queue_script!("queue_status.lua"),
            queue_snapshot: queue_script!("queue_snapshot.lua"),
            activate: queue_script!("activate.lua"),
            open_prequeue: queue_script!("open_prequeue.lua"),
            configure_queue: queue_script!("configure_queue.lua"),
            evict_buyer: queue_script!("evict_buyer.lua"),
            queue_figures: queue_script!("queue_figures.lua"),
            seat_map: booking_script!("seat_map.lua"),
            available_seats: booking_script!("available_seats.lua"),
            hold_seat: booking_script!("hold_seat.lua"),
            cancel_reservation: booking_script!("cancel_reservation.lua"),
            pay_reservation: booking_script!("pay_reservation.lua"),
            begin_payment: booking_script!("begin_payment.lua"),
            debit_wallet: booking_script!("debit_wallet.lua"),
            confirm_payment: booking_script!("confirm_payment.lua"),
            abort_payment: booking_script!("abort_payment.lua"),
            void_debit: booking_script!("void_debit.lua"),
            charge_wallet: booking_script!("charge_wallet.lua"),
            release_lapsed_holds: booking_script!("release_lapsed_holds.lua"),
        }
    }
}

impl Scripts {
    /// Every script with its name (its file under lua/, without `.lua`), so tools can map
    /// an EVALSHA's hash back to the script it runs.
    pub fn named(&self) -> [(&'static str, &Script); 20] {
        [
            ("issue_token", &self.issue_token),
            ("queue_status", &self.queue_status),
            ("queue_snapshot", &self.queue_snapshot),
            ("activate", &self.activate),
            ("open_prequeue", &self.open_prequeue),
            ("configure_queue", &self.configure_queue),
            ("evict_buyer", &self.evict_buyer),
            ("queue_figures", &self.queue_figures),
            ("seat_map", &self.seat_map),
            ("available_seats", &self.available_seats),
            ("hold_seat", &self.hold_seat),
            ("cancel_reservation", &self.cancel_reservation),
            ("pay_reservation", &self.pay_reservation),
            ("begin_payment", &self.begin_payment),
            ("debit_wallet", &self.debit_wallet),
            ("confirm_payment", &self.confirm_payment),
            ("abort_payment", &self.abort_payment),
            ("void_debit", &self.void_debit),
            ("charge_wallet", &self.charge_wallet),
            ("release_lapsed_holds", &self.release_lapsed_holds),
        ]
    }
}

impl Default for Scripts {
    fn default() -> Self {
        Self::load()
    }
}
