//! How elementwise kernels (activations, optimizer updates, batch gathers) split over the
//! threads of the current rayon pool (feature `rayon`); without it, or outside a pool, they
//! run on the calling thread.
//!
//! One contiguous part per thread, rather than many small ones: the caller takes the left
//! half of every split and the other workers steal the right, so a part stays on the thread
//! that ran it at the previous call (and at the products around it), and its cache lines do
//! not move between cores. An elementwise result does not depend on where the parts are
//! cut, so every thread count gives the same bits.

/// How many parts a job of `len` elements is split into: one per thread of the current
/// rayon pool, fewer if a part would be shorter than `min`; 1 without `rayon`, outside a
/// pool, or for a short job.
pub(crate) fn ways(len: usize, min: usize) -> usize {
    // The length test comes first, and only a rayon worker splits: asking for the thread
    // count from outside a pool starts the global pool (its threads allocate as they
    // start), and a join from outside a pool queues the job through the pool's injector,
    // which allocates. A small network, or a caller not in a pool, never touches rayon.
    #[cfg(feature = "rayon")]
    if len >= 2 * min.max(1) && rayon::current_thread_index().is_some() {
        return rayon::current_num_threads().min(len / min.max(1)).max(1);
    }
    let _ = (len, min);
    1
}

/// Where a job of `len` elements over `ways > 1` parts is cut in two: in proportion to the
/// parts each side gets, at a multiple of `multiple`.
pub(crate) fn cut(len: usize, ways: usize, multiple: usize) -> usize {
    (len / ways * (ways / 2))
        .next_multiple_of(multiple)
        .min(len)
}

/// Runs both closures, in parallel with `rayon` (the caller runs `left`).
pub(crate) fn join<A: Send, B: Send>(
    left: impl FnOnce() -> A + Send,
    right: impl FnOnce() -> B + Send,
) -> (A, B) {
    #[cfg(feature = "rayon")]
    return rayon::join(left, right);
    #[cfg(not(feature = "rayon"))]
    (left(), right())
}

/// Runs both closures: in parallel (the caller runs `left`) when `worth` holds and this is
/// a worker of a rayon pool of several threads, else one after the other on this thread
/// (never starting a pool, so never allocating).
pub(crate) fn join_if<A: Send, B: Send>(
    worth: bool,
    left: impl FnOnce() -> A + Send,
    right: impl FnOnce() -> B + Send,
) -> (A, B) {
    #[cfg(feature = "rayon")]
    if worth && rayon::current_thread_index().is_some() && rayon::current_num_threads() > 1 {
        return rayon::join(left, right);
    }
    let _ = worth;
    (left(), right())
}
