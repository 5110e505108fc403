//! Work split over threads: the two stages that are mostly CPU, parsing a
//! large tree and planning it, each hand a run of their input to a thread
//! of its own. A run whose thread cannot start (a process at its thread
//! limit) is worked on the calling thread, never lost and never a panic.

use std::sync::{Mutex, PoisonError};

/// How many threads this process may run at once (1 when unknown).
pub fn cores() -> usize {
    std::thread::available_parallelism().map_or(1, usize::from)
}

/// `work` on each of `runs`, each on a scoped thread named `name`; the
/// results in `runs` order. A single run is worked on the calling thread.
/// A panic in `work` goes on as itself.
pub fn each_on_a_thread<T, R, F>(name: &str, runs: Vec<T>, work: F) -> Vec<R>
where
    T: Send,
    R: Send,
    F: Fn(T) -> R + Sync,
{
    if runs.len() < 2 {
        return runs.into_iter().map(work).collect();
    }
    // Each run behind a lock, so that one whose thread could not start is
    // still there for this thread to take.
    let slots: Vec<Mutex<Option<T>>> = runs.into_iter().map(|run| Mutex::new(Some(run))).collect();
    let take = |slot: &Mutex<Option<T>>| {
        let run = slot.lock().unwrap_or_else(PoisonError::into_inner).take();
        run.expect("each run is taken once")
    };
    let (work, take) = (&work, &take);
    std::thread::scope(|scope| {
        let threads: Vec<_> = slots
            .iter()
            .map(|slot| {
                std::thread::Builder::new()
                    .name(name.to_string())
                    .spawn_scoped(scope, move || work(take(slot)))
                    .map_err(|_| slot)
            })
            .collect();
        threads
            .into_iter()
            .map(|thread| match thread {
                Ok(thread) => thread
                    .join()
                    .unwrap_or_else(|panic| std::panic::resume_unwind(panic)),
                // No thread to be had: this one works the run.
                Err(slot) => work(take(slot)),
            })
            .collect()
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn results_come_in_the_order_of_the_runs_each_worked_on_a_thread_of_its_own() {
        let runs: Vec<u64> = (0..6).collect();
        let caller = std::thread::current().id();
        let results = each_on_a_thread("groupsync-test", runs, |run| {
            // The first runs take longest: the order must come from the runs.
            std::thread::sleep(std::time::Duration::from_millis(30 - 5 * run));
            let here = std::thread::current();
            (
                run * 10,
                here.name().map(str::to_owned),
                here.id() != caller,
            )
        });
        let expected: Vec<_> = (0..6)
            .map(|run| (run * 10, Some("groupsync-test".to_string()), true))
            .collect();
        assert_eq!(results, expected);
    }

    #[test]
    fn a_single_run_is_worked_on_the_calling_thread() {
        let caller = std::thread::current().id();
        let results = each_on_a_thread("groupsync-test", vec![1], |run| {
            (run, std::thread::current().id() == caller)
        });
        assert_eq!(results, [(1, true)]);
    }

    #[test]
    #[should_panic(expected = "run 3 failed")]
    fn a_panic_in_a_run_goes_on_as_itself() {
        each_on_a_thread("groupsync-test", (0..4).collect(), |run: u32| {
            assert!(run != 3, "run {run} failed");
        });
    }
}
