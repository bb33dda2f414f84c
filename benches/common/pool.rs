//! Running a benchmark on a rayon pool whose idle workers wait actively.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Runs `f` on `pool` while the pool's other workers wait actively: each loops on
/// `rayon::yield_now` (running any job `f` forks) and spins otherwise, as OpenMP runtimes do
/// by default. Without this, every product waits for a sleeping thread to wake up, which
/// on a shared VM with a halted idle vCPU takes milliseconds.
pub fn active_workers<R: Send>(pool: &rayon::ThreadPool, f: impl FnOnce() -> R + Send) -> R {
    let done = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&done);
    pool.install(|| {
        let me = rayon::current_thread_index();
        rayon::spawn_broadcast(move |ctx| {
            if Some(ctx.index()) == me {
                return;
            }
            while !flag.load(Ordering::Relaxed) {
                if rayon::yield_now() != Some(rayon::Yield::Executed) {
                    std::hint::spin_loop();
                }
            }
        });
        let result = f();
        done.store(true, Ordering::Relaxed);
        result
    })
}
