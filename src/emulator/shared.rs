//! The state every request handler and every [`Emulator`](super::Emulator)
//! handle share, and the one way to lock a part of it.

use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use super::config::EmulatorConfig;
use super::faults::Fault;
use super::journal::Journal;
use super::login::BotKeys;
use super::rooms::Rooms;
use super::seed::seeded_store;
use super::sessions::{Entitlements, Sessions};
use super::store::Store;

/// The state every request handler and every handle share.
pub(super) struct Shared {
    pub(super) store: Mutex<Store>,
    pub(super) sessions: Mutex<Sessions>,
    pub(super) faults: Mutex<VecDeque<Fault>>,
    /// Injected into the next calls under `/agent`.
    pub(super) agent_faults: Mutex<VecDeque<Fault>>,
    pub(super) rooms: Mutex<Rooms>,
    pub(super) latency: Mutex<Duration>,
    pub(super) journal: Mutex<Journal>,
    pub(super) bots: BotKeys,
    pub(super) bot_entitlements: Entitlements,
    pub(super) page_size: usize,
}

impl Shared {
    pub(super) fn new(config: EmulatorConfig) -> Result<Shared, String> {
        Ok(Shared {
            store: Mutex::new(seeded_store(&config)?),
            sessions: Mutex::new(Sessions::new(&config.session_tokens)),
            faults: Mutex::new(VecDeque::new()),
            agent_faults: Mutex::new(VecDeque::new()),
            rooms: Mutex::new(Rooms::new(config.rooms.clone(), &config.key_manager_tokens)),
            latency: Mutex::new(Duration::ZERO),
            journal: Mutex::new(Journal::default()),
            bots: BotKeys::new(&config.bots)?,
            bot_entitlements: config.bot_entitlements,
            page_size: config.page_size.max(1),
        })
    }
}

/// Locks a mutex, ignoring poisoning: a panicked test must not hide the state from the next assertion.
pub(super) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}
