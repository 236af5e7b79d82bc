"""Graph attention: one step of MGG-Net's Graph Correlation Learning (GCL, Eq. 2).

The K attribute groups of a face are the nodes of a complete directed graph. Node i receives
a message from every other node j, projected by the receiver's own matrix W_gi; it scores
each message with its own vector w_ei, normalises the scores with a softmax over j ≠ i, and
mixes the weighted messages into its own feature:

    m_ij  = W_gi f_j                                      message from j to i   (N, K, K, D)
    s_ij  = w_ei · relu(m_ij)                             score                 (N, K, K)
    e_ij  = exp(s_ij) / Σ_{k≠i} exp(s_ik),  e_ii = 0      affinity (softmax over j ≠ i)
    z_i   = (1 − α) f_i + α Σ_{j≠i} e_ij m_ij
    f_i'  = relu(z_i)

The graph is directed: m_ij uses W_gi, not W_gj, and s_ij uses w_ei, so e_ij ≠ e_ji.

Two Functions do the work. ``GraphMessages`` is the batched GEMM that builds every m_ij
(``matmul``, cuBLAS on a GPU); ``GraphAttention`` is the rest, fused: scores, masked softmax,
weighted sum, residual and relu, in one NumPy expression chain or one CUDA kernel
(``kernels/graph_attention.cu``). The engine chains their backwards.
"""
from __future__ import annotations

import numpy as np

from ..autograd import Function, Tensor
from ..backend import get_array_module, kernel_backend
from ..kernels import launch, output

# The public names (lessons and users import these; the rest may move).
__all__ = ["graph_attention", "GraphAttention", "graph_attention_numpy",
           "graph_attention_backward_numpy", "graph_attention_kernel",
           "graph_attention_backward_kernel", "threads_for"]


class GraphMessages(Function):
    """m[n, i, j] = W_i f[n, j] for f (N, K, D) and W (K, D_out, D): every receiver i
    projects every sender j with its own matrix.

    dW_i = Σ_n Σ_j dm[n, i, j] f[n, j]ᵀ,   df[n, j] = Σ_i W_iᵀ dm[n, i, j].
    """
    def forward(self, f, w):
        self.f, self.w = f, w
        # (N, 1, K, D) @ (1, K, D, D_out) -> (N, K, K, D_out): row j of f times W_iᵀ
        return f[:, None] @ w.transpose(0, 2, 1)[None]

    def backward(self, gm):
        gf = (gm @ self.w[None]).sum(axis=1) if self.needs_input_grad[0] else None
        # (N, K, D_out, K) @ (N, 1, K, D) -> (N, K, D_out, D), summed over the batch
        gw = (gm.transpose(0, 1, 3, 2) @ self.f[:, None]).sum(axis=0) \
            if self.needs_input_grad[1] else None
        return gf, gw


class GraphAttention(Function):
    """Scores, softmax over j ≠ i, weighted sum, residual and relu, for messages m
    (N, K, K, D), features f (N, K, D) and score vectors w_e (K, D). Returns f' (N, K, D);
    keeps the affinity e (N, K, K) as ``self.e``.

    Backward, from gy = dL/df' (every product below is per sample n, receiver i):

        dz_i   = gy_i · [z_i > 0]                       (relu; z > 0 exactly where f' > 0)
        df_i   = (1 − α) dz_i                           (the residual path)
        da_i   = α dz_i                                 (a_i = Σ_j e_ij m_ij)
        de_ij  = da_i · m_ij
        ds_ij  = e_ij (de_ij − Σ_{k≠i} e_ik de_ik)      (softmax; 0 on the diagonal, e_ii = 0)
        dm_ij  = e_ij da_i + ds_ij w_ei · [m_ij > 0]    (weighted sum + score)
        dw_ei  = Σ_n Σ_j ds_ij relu(m_ij)
    """
    def __init__(self, alpha):
        self.alpha = alpha

    def forward(self, m, f, w_e):
        if kernel_backend(m) == "numpy":
            y, self.e = graph_attention_numpy(m, f, w_e, self.alpha)
        else:
            y, self.e = graph_attention_kernel(m, f, w_e, self.alpha)
        self.m, self.w_e, self.y = m, w_e, y
        return y

    def backward(self, gy):
        args = (gy, self.m, self.w_e, self.y, self.e, self.alpha)
        if kernel_backend(gy) == "numpy":
            return graph_attention_backward_numpy(*args)
        return graph_attention_backward_kernel(*args)


# --- the NumPy twin ------------------------------------------------------------------------

def graph_attention_numpy(m, f, w_e, alpha):
    """Forward of ``GraphAttention`` in array operations; returns (f', e)."""
    xp = get_array_module(m)
    k = m.shape[1]
    scores = (xp.maximum(m, 0) * w_e[None, :, None, :]).sum(axis=-1)       # s_ij
    scores = xp.where(xp.eye(k, dtype=bool), -xp.inf, scores)              # leave out j = i
    scores = xp.exp(scores - scores.max(axis=-1, keepdims=True))           # exp(-inf) = 0
    e = scores / scores.sum(axis=-1, keepdims=True)
    mixed = (e[..., None] * m).sum(axis=2)                                 # Σ_j e_ij m_ij
    y = xp.maximum((1 - alpha) * f + alpha * mixed, 0)
    return y, e


def graph_attention_backward_numpy(gy, m, w_e, y, e, alpha):
    """Backward of ``GraphAttention`` (the equations in its docstring); returns (dm, df, dw_e)."""
    gz = gy * (y > 0)
    ga = alpha * gz
    ge = (ga[:, :, None, :] * m).sum(axis=-1)
    gs = e * (ge - (e * ge).sum(axis=-1, keepdims=True))
    gm = e[..., None] * ga[:, :, None, :] + gs[..., None] * w_e[None, :, None, :] * (m > 0)
    gw_e = (gs[..., None] * get_array_module(m).maximum(m, 0)).sum(axis=(0, 2))
    return gm, (1 - alpha) * gz, gw_e


# --- the CUDA kernel (on a GPU, or on the CPU through the emulator) ------------------------

KERNEL_FAMILY = "graph_attention"


def threads_for(d):
    """Threads per block: a power of two (the tree reduction needs one), at most 128."""
    return int(min(128, 1 << max(int(d) - 1, 0).bit_length()))


def launch_per_row(name, m, args):
    """Run kernel ``name`` with one block per (sample, receiver) row of m (N, K, K, D), and
    room in shared memory for the row's K per-neighbour numbers."""
    n, k, _, d = m.shape
    launch(KERNEL_FAMILY, name, args, grid=(n * k,), block=threads_for(d),
           shared_mem=k * m.itemsize)


def graph_attention_kernel(m, f, w_e, alpha):
    """Forward of ``GraphAttention`` through the kernel; returns (f', e)."""
    y, e = output(f, f.shape), output(m, m.shape[:3])
    run_forward_kernel(m, f, w_e, alpha, y, e)
    return y, e


def graph_attention_backward_kernel(gy, m, w_e, y, e, alpha):
    """Backward of ``GraphAttention`` through the kernel; returns (dm, df, dw_e)."""
    gm, gf, gw_e_rows = output(m, m.shape), output(y, y.shape), output(y, y.shape)
    run_backward_kernel(gy, m, w_e, y, e, alpha, gm, gf, gw_e_rows)
    return gm, gf, gw_e_rows.sum(axis=0)        # dw_e: the rows' shares summed over the batch


def run_forward_kernel(m, f, w_e, alpha, y, e):
    """Launch ``graph_attention_forward``: writes f' into y (N, K, D) and e into e (N, K, K)."""
    k, d = m.shape[1], m.shape[3]
    launch_per_row("graph_attention_forward", m,
                   (m, f, w_e, y, e, np.int32(k), np.int32(d), m.dtype.type(alpha)))


def run_backward_kernel(gy, m, w_e, y, e, alpha, gm, gf, gw_e_rows):
    """Launch ``graph_attention_backward``: writes dm (N, K, K, D), the residual's df (N, K, D)
    and each row's share of dw_e (N, K, D)."""
    k, d = m.shape[1], m.shape[3]
    launch_per_row("graph_attention_backward", m,
                   (gy, m, w_e, y, e, gm, gf, gw_e_rows, np.int32(k), np.int32(d),
                    m.dtype.type(alpha)))


# --- the public function -------------------------------------------------------------------

def graph_messages(f: Tensor, w_g: Tensor) -> Tensor:
    """Every message m[n, i, j] = W_gi f[n, j], shape (N, K, K, D_out)."""
    return GraphMessages()(f, w_g)


def graph_attention(f: Tensor, w_g: Tensor, w_e: Tensor, alpha: float = 0.5,
                    return_affinity: bool = False) -> Tensor | tuple[Tensor, Tensor]:
    """One GCL step (MGG-Net Eq. 2) for a batch of group features.

    f: (N, K, D) features of K groups; w_g: (K, D, D), W_gi projects every message that node i
    receives; w_e: (K, D), w_ei scores them; alpha: the weight of the messages against the
    node's own feature (a number; 0 keeps relu(f), 1 keeps only the messages).

    Returns f' (N, K, D); with ``return_affinity=True``, (f', e) where e (N, K, K) is the
    affinity e_ij (row i sums to 1 over j ≠ i, e_ii = 0) as a Tensor outside the graph.
    """
    check_shapes(f, w_g, w_e)
    fn = GraphAttention(float(alpha))
    y = fn(graph_messages(f, w_g), f, w_e)
    return (y, Tensor(fn.e)) if return_affinity else y


def check_shapes(f, w_g, w_e):
    if f.ndim != 3:
        raise ValueError(f"graph_attention: f must be (N, K, D), got shape {f.shape}")
    n, k, d = f.shape
    if k < 2:
        raise ValueError(f"graph_attention: needs at least 2 groups (a softmax over j ≠ i), "
                         f"got K={k}")
    if tuple(w_g.shape) != (k, d, d):
        raise ValueError(f"graph_attention: w_g must be (K, D, D) = {(k, d, d)} for f of shape "
                         f"{f.shape} (the residual needs D_out = D), got {w_g.shape}")
    if tuple(w_e.shape) != (k, d):
        raise ValueError(f"graph_attention: w_e must be (K, D) = {(k, d)}, got {w_e.shape}")
