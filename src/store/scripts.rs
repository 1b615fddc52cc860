//! The Lua scripts, one per state transition, compiled in and hashed once at start-up.
//! `redis::Script` calls EVALSHA and, on NOSCRIPT (a restarted or flushed Redis),
//! loads the script and retries once.

use redis::Script;

macro_rules! queue_script {
    ($file:literal) => {
        Script::new(concat!(
            include_str!("../../lua/lib/queue.lua"),
            include_str!(concat!("../../lua/", $file))
        ))
    };
}

/// Every script the engine runs, each with its SHA1 computed once.
#[derive(Debug)]
pub struct Scripts {
    pub issue_token: Script,
    pub queue_status: Script,
    pub activate: Script,
}

impl Scripts {
    pub fn load() -> Self {
        Scripts {
            issue_token: queue_script!("issue_token.lua"),
            queue_status: queue_script!("queue_status.lua"),
            activate: queue_script!("activate.lua"),
        }
    }
}

impl Default for Scripts {
    fn default() -> Self {
        Self::load()
    }
}
