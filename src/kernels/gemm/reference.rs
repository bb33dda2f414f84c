//! The plain triple loop that the fast [`super::gemm`] is tested against.

use crate::error::Result;

/// The plain triple loop, the twin tests compare with: same contract as [`super::gemm`].
///
/// `C (m×n) = op(A)·op(B) + beta·C`, every matrix row-major and contiguous. Each element is
/// one `f32` accumulator summed over `k` in ascending order (no fused multiply-add), so the
/// result is deterministic and easy to reason about; `beta == 0.0` never reads `C`.
///
/// # Errors
/// The same length checks as [`super::gemm`] (no scratch is needed here).
#[allow(clippy::too_many_arguments)] // the BLAS signature: every argument is a dimension or operand
pub fn gemm_reference(
    trans_a: bool,
    trans_b: bool,
    m: usize,
    n: usize,
    k: usize,
    a: &[f32],
    b: &[f32],
    beta: f32,
    c: &mut [f32],
) -> Result<()> {
    super::check_operands(m, n, k, a.len(), b.len(), c.len())?;
    for i in 0..m {
        for j in 0..n {
            let mut acc = 0.0f32;
            for p in 0..k {
                let av = if trans_a { a[p * m + i] } else { a[i * k + p] };
                let bv = if trans_b { b[j * k + p] } else { b[p * n + j] };
                acc += av * bv;
            }
            let cij = &mut c[i * n + j];
            *cij = if beta == 0.0 { acc } else { acc + beta * *cij };
        }
    }
    Ok(())
}
