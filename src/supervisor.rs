//! Long-lived tasks that survive their own bugs. A task run by [`supervise`] that panics is
//! caught, logged once at error level in the log's own format (not as a backtrace on stderr),
//! counted by its kind ([`panics`]), and started again after a backoff: one bug stops one
//! node's scans or one instance's slow log for seconds, not until the process restarts.

use std::any::Any;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::panic::{AssertUnwindSafe, PanicHookInfo};
use std::pin::Pin;
use std::sync::Once;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::time::Instant;

/// The kinds of long-lived task: the `task` label of `dcs_exporter_task_panics_total`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, strum::IntoStaticStr, strum::VariantArray)]
#[strum(serialize_all = "snake_case")]
pub enum Task {
    /// A node's scan loop (a DCS node or a `[[redis]]` target).
    Scan,
    /// A cloud's look-up of its instances and nodes, which keeps their scan loops.
    Discovery,
    /// An instance's slow-log poller.
    SlowLog,
    /// An instance's key-analysis poller.
    KeyAnalysis,
    /// A `[[redis]]` target's walk of its keys.
    KeyScan,
    /// A DBSS resource's poller.
    Dbss,
    /// An account's renewal of its temporary credentials.
    Credentials,
}

impl Task {
    pub fn as_str(self) -> &'static str {
        self.into()
    }
}

const TASKS: usize = <Task as strum::VariantArray>::VARIANTS.len();

/// Panics caught since the process started, by kind (a process fact, like its CPU time).
static PANICS: [AtomicU64; TASKS] = [const { AtomicU64::new(0) }; TASKS];

/// The first wait before a task that panicked is started again; it doubles with each panic in
/// a row, up to [`MAX_BACKOFF`].
const FIRST_BACKOFF: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(60);
/// A run this long without a panic starts the backoff afresh.
const HEALTHY_RUN: Duration = Duration::from_secs(300);

/// Panics caught, by kind of task, every kind listed.
pub fn panics() -> impl Iterator<Item = (Task, u64)> {
    <Task as strum::VariantArray>::VARIANTS
        .iter()
        .map(|&task| (task, PANICS[task as usize].load(Ordering::Relaxed)))
}

/// Runs the task `start` makes until it returns. When it panics, the panic is logged and
/// counted, and a new one is started after the backoff. `span`'s fields name the task's
/// target in that line: an error-level span, so that it is on whenever the line is, entered
/// for that line only, so that the task's own spans do not repeat its fields.
pub async fn supervise<F, Fut>(task: Task, span: tracing::Span, mut start: F)
where
    F: FnMut() -> Fut,
    Fut: Future<Output = ()>,
{
    install_hook();
    let mut in_a_row: u32 = 0;
    loop {
        let started = Instant::now();
        let run = Caught {
            task,
            future: Box::pin(start()),
            first_poll: true,
        };
        let Err(panic) = run.await else {
            return;
        };
        if started.elapsed() >= HEALTHY_RUN {
            in_a_row = 0;
        }
        let wait = FIRST_BACKOFF
            .saturating_mul(1 << in_a_row.min(6))
            .min(MAX_BACKOFF);
        in_a_row = in_a_row.saturating_add(1);
        PANICS[task as usize].fetch_add(1, Ordering::Relaxed);
        {
            let _entered = span.enter();
            tracing::error!(
                task = task.as_str(),
                panic = %crate::upstream_text::clean(&panic.message, &[]),
                location = panic.location.as_deref().unwrap_or("unknown"),
                restart_in_ms = u64::try_from(wait.as_millis()).unwrap_or(u64::MAX),
                "a task panicked: it is started again after a backoff"
            );
        }
        tokio::time::sleep(wait).await;
    }
}

/// What a caught panic said, and where.
struct Panic {
    message: String,
    location: Option<String>,
}

thread_local! {
    /// Whether this thread is polling a supervised task: its panics are logged by the
    /// supervisor, not by the default hook.
    static SUPERVISED: Cell<bool> = const { Cell::new(false) };
    /// Where the last supervised panic of this thread happened, for the supervisor.
    static LOCATION: RefCell<Option<String>> = const { RefCell::new(None) };
}

/// A task's future, its panics caught: `Err` when it panicked.
struct Caught<Fut> {
    task: Task,
    future: Pin<Box<Fut>>,
    first_poll: bool,
}

impl<Fut: Future<Output = ()>> Future for Caught<Fut> {
    type Output = Result<(), Panic>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = &mut *self;
        let first_poll = std::mem::replace(&mut this.first_poll, false);
        let (task, future) = (this.task, &mut this.future);
        let outer = SUPERVISED.with(|s| s.replace(true));
        let polled = std::panic::catch_unwind(AssertUnwindSafe(|| {
            if first_poll {
                debug_panic::at_start(task);
            }
            future.as_mut().poll(cx)
        }));
        SUPERVISED.with(|s| s.set(outer));
        match polled {
            Ok(poll) => poll.map(Ok),
            Err(payload) => Poll::Ready(Err(Panic {
                message: payload_text(payload.as_ref()),
                location: LOCATION.with(|l| l.borrow_mut().take()),
            })),
        }
    }
}

fn payload_text(payload: &(dyn Any + Send)) -> String {
    if let Some(text) = payload.downcast_ref::<&str>() {
        (*text).to_string()
    } else if let Some(text) = payload.downcast_ref::<String>() {
        text.clone()
    } else {
        "(no message)".to_string()
    }
}

/// Installs, once, a panic hook that keeps a supervised task's panic for its supervisor to
/// log, and hands every other panic to the hook there was before.
fn install_hook() {
    static INSTALLED: Once = Once::new();
    INSTALLED.call_once(|| {
        let previous = std::panic::take_hook();
        std::panic::set_hook(Box::new(move |info: &PanicHookInfo<'_>| {
            if SUPERVISED.with(Cell::get) {
                let location = info
                    .location()
                    .map(|l| format!("{}:{}", l.file(), l.line()));
                LOCATION.with(|l| *l.borrow_mut() = location);
            } else {
                previous(info);
            }
        }));
    });
}

/// A panic on demand, for tests of the supervision through the real binary: debug builds
/// only, so that nothing a user sets can reach it in a release build.
/// `DCS_EXPORTER_DEBUG_PANIC=slow_log:2,scan:1` makes the first two slow-log pollers and the
/// first scan loop to start panic as they start.
mod debug_panic {
    #[cfg(debug_assertions)]
    pub(super) fn at_start(task: super::Task) {
        use std::sync::OnceLock;
        use std::sync::atomic::{AtomicU64, Ordering};

        static LEFT: OnceLock<Vec<(super::Task, AtomicU64)>> = OnceLock::new();
        let left = LEFT.get_or_init(|| {
            let spec = std::env::var("DCS_EXPORTER_DEBUG_PANIC").unwrap_or_default();
            spec.split(',')
                .filter_map(|part| {
                    let (name, count) = part.split_once(':')?;
                    let task = <super::Task as strum::VariantArray>::VARIANTS
                        .iter()
                        .find(|t| t.as_str() == name.trim())?;
                    Some((*task, AtomicU64::new(count.trim().parse().ok()?)))
                })
                .collect()
        });
        let due = left.iter().find(|(t, _)| *t == task).is_some_and(|(_, n)| {
            n.fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
                .is_ok()
        });
        if due {
            panic!("a panic asked for by DCS_EXPORTER_DEBUG_PANIC");
        }
    }

    #[cfg(not(debug_assertions))]
    #[inline(always)]
    pub(super) fn at_start(_task: super::Task) {}
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test(start_paused = true)]
    async fn a_panicking_task_is_restarted_with_backoff_and_counted() {
        let runs = std::sync::Arc::new(AtomicU64::new(0));
        let before: u64 = panics()
            .filter(|(t, _)| *t == Task::Dbss)
            .map(|(_, n)| n)
            .sum();
        let counted = std::sync::Arc::clone(&runs);
        let started = Instant::now();
        supervise(Task::Dbss, tracing::Span::none(), move || {
            let run = counted.fetch_add(1, Ordering::Relaxed);
            async move {
                tokio::task::yield_now().await;
                if run < 3 {
                    panic!("run {run} fails");
                }
            }
        })
        .await;
        assert_eq!(runs.load(Ordering::Relaxed), 4);
        // 1 s, 2 s, 4 s of backoff.
        assert_eq!(started.elapsed().as_secs(), 7);
        let after: u64 = panics()
            .filter(|(t, _)| *t == Task::Dbss)
            .map(|(_, n)| n)
            .sum();
        assert!(after >= before + 3);
        assert_eq!(panics().count(), TASKS);
    }
}
