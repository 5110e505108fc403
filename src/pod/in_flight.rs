//! Many requests at once, never more than `concurrency` in flight, their
//! answers handed back in the order they were asked for: what reading many
//! lists, or everything a saved plan touches, needs.

use std::future::Future;
use std::sync::Arc;

use tokio::sync::Semaphore;
use tokio::task::JoinSet;

/// Runs `task` on each of `items`, at most `concurrency` at a time, each on
/// a task of its own; the answers in `items` order. Dropping the future
/// stops every task still running. A task's panic goes on as itself.
pub async fn in_order<T, A, F, Fut>(items: Vec<T>, concurrency: usize, task: F) -> Vec<A>
where
    T: Send + 'static,
    A: Send + 'static,
    F: Fn(T) -> Fut,
    Fut: Future<Output = A> + Send + 'static,
{
    let permits = Arc::new(Semaphore::new(concurrency.max(1)));
    let mut running = JoinSet::new();
    for (index, item) in items.into_iter().enumerate() {
        let (permits, answer) = (permits.clone(), task(item));
        running.spawn(async move {
            let _permit = permits.acquire_owned().await.expect("never closed");
            (index, answer.await)
        });
    }
    let mut answers = Vec::with_capacity(running.len());
    while let Some(done) = running.join_next().await {
        answers.push(done.unwrap_or_else(|failed| std::panic::resume_unwind(failed.into_panic())));
    }
    answers.sort_by_key(|(index, _)| *index);
    answers.into_iter().map(|(_, answer)| answer).collect()
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn answers_come_in_the_order_asked_with_no_more_than_concurrency_in_flight() {
        let now = Arc::new(AtomicUsize::new(0));
        let most = Arc::new(AtomicUsize::new(0));
        let items: Vec<u64> = (0..20).collect();
        let answers = in_order(items, 3, |item| {
            let (now, most) = (now.clone(), most.clone());
            async move {
                let in_flight = now.fetch_add(1, Ordering::SeqCst) + 1;
                most.fetch_max(in_flight, Ordering::SeqCst);
                // Later items finish first: the order must come from the index.
                tokio::time::sleep(Duration::from_millis(20 - item)).await;
                now.fetch_sub(1, Ordering::SeqCst);
                item * 10
            }
        })
        .await;
        assert_eq!(answers, (0..20).map(|item| item * 10).collect::<Vec<_>>());
        assert_eq!(most.load(Ordering::SeqCst), 3);
    }
}
