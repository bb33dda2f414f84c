//! What the GEMM benches compare nanonn with, and how they keep it on one thread.

/// Runs `f` on one thread: with `rayon`, in a pool of one, so that nanonn does not spread
/// the product over the global pool (whose other threads the CPU-time clock would miss).
pub fn one_thread<R: Send>(f: impl FnOnce() -> R + Send) -> R {
    #[cfg(feature = "rayon")]
    {
        use std::sync::OnceLock;
        static POOL: OnceLock<rayon::ThreadPool> = OnceLock::new();
        let pool = POOL.get_or_init(|| {
            let pool = rayon::ThreadPoolBuilder::new().num_threads(1).build();
            pool.expect("a rayon pool of one thread")
        });
        pool.install(f)
    }
    #[cfg(not(feature = "rayon"))]
    f()
}

/// `out (m×n) = op(A)·B` by `matrixmultiply::sgemm`: `a` is `m×k`, or `k×m` when `trans_a`;
/// `b` is `k×n`; all row-major.
pub fn matrixmultiply_sgemm(
    trans_a: bool,
    (m, n, k): (usize, usize, usize),
    a: &[f32],
    b: &[f32],
    out: &mut [f32],
) {
    assert!(a.len() == m * k && b.len() == k * n && out.len() == m * n);
    // Stored A is m×k (row stride k) or, transposed, k×m (element (i, p) at p*m + i).
    let (rsa, csa) = if trans_a {
        (1, m as isize)
    } else {
        (k as isize, 1)
    };
    // SAFETY: the lengths are checked above, so the pointers and strides describe the live
    // buffers a (m·k), b (k·n) and out (m·n) exactly; `out` is borrowed mutably, so it does
    // not alias `a` or `b`.
    unsafe {
        matrixmultiply::sgemm(
            m,
            k,
            n,
            1.0,
            a.as_ptr(),
            rsa,
            csa,
            b.as_ptr(),
            n as isize,
            1,
            0.0,
            out.as_mut_ptr(),
            n as isize,
            1,
        );
    }
}
