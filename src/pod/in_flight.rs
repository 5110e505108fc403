//! Many requests at once, never more than `concurrency` in flight, their
//! answers handed back in the order they were asked for: what reading many
//! lists, or everything a saved plan touches, needs.

use std::future::Future;

use tokio::task::JoinSet;

/// Runs `task` on each of `items`, at most `concurrency` at a time, each on
/// a task of its own; the answers in `items` order. A task is made only
/// when there is room for it (100,000 waiting tasks would hold megabytes
/// for nothing). Dropping the future stops every task still running. A
/// task's panic goes on as itself.
pub async fn in_order<T, A, F, Fut>(items: Vec<T>, concurrency: usize, task: F) -> Vec<A>
where
    A: Send + 'static,
    F: Fn(T) -> Fut,
    Fut: Future<Output = A> + Send + 'static,
{
    let mut answers = Vec::with_capacity(items.len());
    let mut waiting = items.into_iter().enumerate();
    let mut running = JoinSet::new();
    loop {
        while running.len() < concurrency.max(1) {
            let Some((index, item)) = waiting.next() else {
                break;
            };
            let answer = task(item);
            running.spawn(async move { (index, answer.await) });
        }
        let Some(done) = running.join_next().await else {
            break;
        };
        answers.push(done.unwrap_or_else(|failed| std::panic::resume_unwind(failed.into_panic())));
    }
    answers.sort_by_key(|(index, _)| *index);
    answers.into_iter().map(|(_, answer)| answer).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn answers_come_in_the_order_asked_with_no_more_than_concurrency_in_flight() {
        let now = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        // Tasks made and not yet finished: never more than may run.
        let (made, finished) = (Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
        let items: Vec<u64> = (0..20).collect();
        let answers = in_order(items, 3, |item| {
            made.fetch_add(1, Ordering::SeqCst);
            let (now, most, made, finished) =
                (now.clone(), most.clone(), made.clone(), finished.clone());
            async move {
                let in_flight = now.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(in_flight, Ordering::SeqCst);
                let unfinished = made.load(Ordering::SeqCst) - finished.load(Ordering::SeqCst);
                assert!(unfinished <= 3, "{unfinished} tasks made before their turn");
                // Later items finish first: the order must come from the index.
                tokio::time::sleep(Duration::from_millis(20 - item)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                finished.fetch_add(1, Ordering::SeqCst);
                item * 10
            }
        })
        .await;
        assert_eq!(answers, (0..20).map(|item| item * 10).collect::<Vec<_>>());
        assert_eq!(most.load(Ordering::SeqCst), 3);
    }
}
