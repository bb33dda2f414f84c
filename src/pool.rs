//! Running training on a rayon pool whose idle workers wait actively (feature `rayon`).
//!
//! A product of the MNIST MLP takes well under a millisecond, and waking a sleeping rayon
//! worker can take longer than that (measured at 1–4 ms on a shared 2-vCPU VM, where an
//! idle vCPU is halted), which would leave the other threads unused. OpenMP runtimes spin
//! for a while before sleeping for this reason; [`install_active`] does the same for the
//! length of one call.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};

/// Runs `f` on `pool` (as `pool.install(f)`) while the pool's other workers wait actively:
/// each loops on `rayon::yield_now`, running any job `f` forks, and spins otherwise. They go
/// back to sleep when `f` returns.
///
/// Use it around a training loop (or a benchmark) on a dedicated pool; it keeps every
/// thread of the pool busy-waiting, so do not use it on a pool shared with other work.
pub fn install_active<R: Send>(pool: &rayon::ThreadPool, f: impl FnOnce() -> R + Send) -> R {
    let done = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&done);
    pool.install(|| {
        let me = rayon::current_thread_index();
        rayon::spawn_broadcast(move |ctx| {
            // Not on the thread that runs `f`: it must stay free to return.
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
