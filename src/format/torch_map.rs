//! Where each PyTorch `state_dict` tensor lives in a nanonn network: names, shapes and the
//! index permutations between PyTorch's layouts and nanonn's (std only; see
//! [`super::safetensors`] for the table).

use std::format;
use std::string::String;
use std::vec;
use std::vec::Vec;

use super::FileError;
use crate::layers::{AnyLayer, Layer};
use crate::net::Net;
use crate::tensor::Shape;

/// Which of the network's regions a tensor is in.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Region {
    Params,
    Buffers,
}

/// One PyTorch tensor.
pub(crate) struct Entry {
    pub(crate) name: String,
    /// PyTorch's shape.
    pub(crate) shape: Vec<usize>,
    pub(crate) region: Region,
    /// Start of the tensor's block in the region.
    pub(crate) offset: usize,
    /// `map[k]`: where, from `offset`, PyTorch's element `k` (row-major) is in nanonn; `None`
    /// when the layouts agree.
    pub(crate) map: Option<Vec<usize>>,
    /// PyTorch's second recurrent bias: nanonn keeps one bias, the sum of PyTorch's two, so
    /// this tensor is added on import and exported as zeros.
    pub(crate) add: bool,
}

fn entry(name: String, shape: Vec<usize>, region: Region, offset: usize) -> Entry {
    Entry {
        name,
        shape,
        region,
        offset,
        map: None,
        add: false,
    }
}

/// Row-major indices of `dims` (PyTorch's order), each mapped by `f(index tuple)`.
fn permutation(dims: [usize; 4], f: impl Fn([usize; 4]) -> usize) -> Vec<usize> {
    let mut out = Vec::with_capacity(dims.iter().product());
    for a in 0..dims[0] {
        for b in 0..dims[1] {
            for c in 0..dims[2] {
                for d in 0..dims[3] {
                    out.push(f([a, b, c, d]));
                }
            }
        }
    }
    out
}

/// After a `Flatten` of an `[H, W, C]` image, PyTorch's feature `(c·H + h)·W + w` is
/// nanonn's `(h·W + w)·C + c` (PyTorch flattens NCHW, nanonn NHWC).
fn flatten_order(h: usize, w: usize, c: usize) -> Vec<usize> {
    permutation([c, h, w, 1], |[c_, h_, w_, _]| (h_ * w + w_) * c + c_)
}

/// `nn.RNN` / `nn.LSTM` (one layer, `batch_first=True`) with `gates` gates: nanonn's stacked
/// `W` `[F + H, G·H]` is PyTorch's `weight_ih_l0` `[G·H, F]` and `weight_hh_l0` `[G·H, H]`
/// transposed; its one bias is the sum of `bias_ih_l0` and `bias_hh_l0`.
fn recurrent(i: usize, f: usize, h: usize, gates: usize, p: usize) -> [Entry; 4] {
    let g = gates * h;
    let name = |suffix: &str| format!("{i}.{suffix}");
    let mut ih = entry(name("weight_ih_l0"), vec![g, f], Region::Params, p);
    ih.map = Some(permutation([g, f, 1, 1], |[j, x, _, _]| x * g + j));
    let mut hh = entry(name("weight_hh_l0"), vec![g, h], Region::Params, p);
    hh.map = Some(permutation([g, h, 1, 1], |[j, x, _, _]| (f + x) * g + j));
    let bias = p + (f + h) * g;
    let mut bias_hh = entry(name("bias_hh_l0"), vec![g], Region::Params, bias);
    bias_hh.add = true;
    [
        ih,
        hh,
        entry(name("bias_ih_l0"), vec![g], Region::Params, bias),
        bias_hh,
    ]
}

/// The PyTorch tensors of `net`, layer by layer.
pub(crate) fn entries<M: AsRef<[f32]> + AsMut<[f32]>>(
    net: &Net<'_, M>,
) -> Result<Vec<Entry>, FileError> {
    let mut out = Vec::new();
    // Features in nanonn's order after a Flatten of an image, until a layer consumes them.
    let mut features: Option<Vec<usize>> = None;
    for (i, (layer, slot)) in net.layers().iter().zip(net.plan().slots()).enumerate() {
        let (p, b) = (slot.params.start, slot.buffers.start);
        let name = |suffix: &str| format!("{i}.{suffix}");
        match layer {
            AnyLayer::Dense(d) => {
                let (n_in, n_out) = (d.inputs, d.outputs);
                let mut w = entry(name("weight"), vec![n_out, n_in], Region::Params, p);
                let order = features.take();
                w.map = Some(permutation([n_out, n_in, 1, 1], |[o, t, _, _]| {
                    order.as_ref().map_or(t, |f| f[t]) * n_out + o
                }));
                out.push(w);
                out.push(entry(
                    name("bias"),
                    vec![n_out],
                    Region::Params,
                    p + n_in * n_out,
                ));
            }
            AnyLayer::Conv2D(c) => {
                let ((kh, kw), ci, co) = (c.kernel, c.in_channels, c.out_channels);
                let mut w = entry(name("weight"), vec![co, ci, kh, kw], Region::Params, p);
                w.map = Some(permutation([co, ci, kh, kw], |[o, n, y, x]| {
                    ((y * kw + x) * ci + n) * co + o
                }));
                out.push(w);
                if c.bias {
                    out.push(entry(
                        name("bias"),
                        vec![co],
                        Region::Params,
                        p + kh * kw * ci * co,
                    ));
                }
            }
            AnyLayer::ConvTranspose2D(c) => {
                let ((kh, kw), ci, co) = (c.kernel, c.in_channels, c.out_channels);
                let mut w = entry(name("weight"), vec![ci, co, kh, kw], Region::Params, p);
                w.map = Some(permutation([ci, co, kh, kw], |[n, o, y, x]| {
                    ((y * kw + x) * co + o) * ci + n
                }));
                out.push(w);
                if c.bias {
                    out.push(entry(
                        name("bias"),
                        vec![co],
                        Region::Params,
                        p + kh * kw * ci * co,
                    ));
                }
            }
            AnyLayer::BatchNorm(bn) => {
                let c = bn.channels;
                let tensors = [
                    ("weight", Region::Params, p),
                    ("bias", Region::Params, p + c),
                    ("running_mean", Region::Buffers, b),
                    ("running_var", Region::Buffers, b + c),
                ];
                for (suffix, region, offset) in tensors {
                    let mut e = entry(name(suffix), vec![c], region, offset);
                    e.map = features.clone();
                    out.push(e);
                }
            }
            AnyLayer::Rnn(l) => out.extend(recurrent(i, l.input_size, l.hidden_size, 1, p)),
            AnyLayer::Lstm(l) => out.extend(recurrent(i, l.input_size, l.hidden_size, 4, p)),
            AnyLayer::Flatten(_) => {
                let input: Shape = slot.input;
                features = match (input.rank(), input.dim(0), input.dim(1), input.dim(2)) {
                    (3, Some(h), Some(w), Some(c)) => Some(flatten_order(h, w, c)),
                    _ => None,
                };
                continue;
            }
            // Elementwise layers keep the feature order.
            AnyLayer::Activation(_) | AnyLayer::Dropout(_) => continue,
            _ if slot.params.is_empty() && slot.buffers.is_empty() => {}
            other => {
                return Err(FileError::SafeTensors(format!(
                    "layer {i} ({}) has no PyTorch mapping",
                    other.name()
                )));
            }
        }
        if !matches!(layer, AnyLayer::BatchNorm(_)) {
            features = None;
        }
    }
    Ok(out)
}
