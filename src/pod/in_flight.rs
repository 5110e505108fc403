//! Many requests at once, never more than `concurrency` in flight, their
//! answers handed back in the order they were asked for: what reading many
//! lists (for a refresh or an import), or everything a saved plan touches,
//! needs.

use std::convert::Infallible;
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
    let answers = until_failure(items, concurrency, |item| {
        let answer = task(item);
        async move { Ok::<A, Infallible>(answer.await) }
    })
    .await;
    match answers {
        Ok(answers) => answers,
        Err(never) => match never {},
    }
}

/// As [`in_order`], for tasks that can fail: the first failure to come back
/// ends the run and is returned; no task is made after it, and the tasks
/// still running are stopped (a pod that refuses one read refuses them all,
/// and would be asked thousands more times for nothing).
pub async fn until_failure<T, A, E, F, Fut>(
    items: Vec<T>,
    concurrency: usize,
    task: F,
) -> Result<Vec<A>, E>
where
    A: Send + 'static,
    E: Send + 'static,
    F: Fn(T) -> Fut,
    Fut: Future<Output = Result<A, E>> + Send + 'static,
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
        let (index, answer) =
            done.unwrap_or_else(|failed| std::panic::resume_unwind(failed.into_panic()));
        answers.push((index, answer?));
    }
    answers.sort_by_key(|(index, _)| *index);
    Ok(answers.into_iter().map(|(_, answer)| answer).collect())
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

    #[tokio::test]
    async fn the_first_failure_ends_the_run_and_no_task_is_made_after_it() {
        let made = Arc::new(AtomicUsize::new(0));
        let items: Vec<u64> = (0..100).collect();
        let answer = until_failure(items, 4, |item| {
            made.fetch_add(1, Ordering::SeqCst);
            async move {
                if item == 5 {
                    return Err(format!("item {item} refused"));
                }
                // The others outlast the failure: the run must not wait for them.
                tokio::time::sleep(Duration::from_millis(if item < 5 { 1 } else { 2_000 })).await;
                Ok(item)
            }
        })
        .await;
        assert_eq!(answer, Err("item 5 refused".to_string()));
        let made = made.load(Ordering::SeqCst);
        assert!(made <= 9, "{made} tasks made, of 100");
    }

    #[tokio::test]
    async fn without_a_failure_every_answer_comes_in_order() {
        let answers = until_failure((0..10).collect(), 3, |item: u32| async move {
            Ok::<u32, String>(item + 1)
        })
        .await;
        assert_eq!(answers, Ok((1..11).collect::<Vec<_>>()));
    }
}
