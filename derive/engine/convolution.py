"""Convolution kernels on NHWC arrays: the plain im2col reference and the fast blocked ones.

A kernel is built for one layer (window, stride, padding, input shape) and offers ``pads`` (the
zero border it reads around its input), ``forward(xp, W, b, act, a, out) -> (o, s, ctx)`` on the
padded input, the activation ``act`` (slopes ``a``) included, and ``backward(g, ctx, W, act_grad,
o, s, a, need_dx) -> (dx, dW, db, da)`` from the gradient g of the activation. The network writes
each activation straight into the padded buffer of the layer that reads it, so no kernel copies
its input to pad it.

:class:`Plain` is the straightforward implementation (one im2col copy of the whole batch, one
product, the input gradient as a scatter of every window tap), kept as the reference that the
fast kernel is tested against. :class:`Blocked` does the same arithmetic a few images at a time,
so that the windows, the products and the activation of a block stay in the CPU's cache instead
of streaming tens of megabytes through memory: the windows are not kept for the backward pass
but copied again from the padded input (which the network holds anyway), the bias is folded into
the product where that is cheaper (and db comes out of the weight product), and the input
gradient is one product per stride phase (:class:`InputGrad`). :class:`Planes` is the variant
for the first layer's few colour channels. Measured and not kept: Winograd's F(2x2, 3x3) for the
stride-1 layers (its transforms, NumPy passes over four times the data, cost as much as the
products they save).
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import as_strided

from derive.engine.products import column_sums, matmul, matmul_add
from derive.shapes import out_size, same_padding

FOLD_BIAS_BELOW = 64  # window sizes (kh·kw·C) under which a ones column beats a separate bias pass
BLOCK_BYTES = 1 << 20  # the windows of one block of images: well inside a core's L2 cache


def conv_pads(h: int, w: int, kernel, stride, padding: str) -> tuple[tuple[int, int], tuple[int, int]]:
    """Padding ((top, bottom), (left, right)) of a conv layer on an h x w input."""
    if padding == "valid":
        return (0, 0), (0, 0)
    return same_padding(h, kernel[0], stride[0]), same_padding(w, kernel[1], stride[1])


def padded_empty(n: int, shape, pads, dtype) -> tuple[np.ndarray, np.ndarray]:
    """A buffer (n, H + pads, W + pads, C) with a zero border, and the view of its interior (to fill)."""
    (pt, pb), (pl, pr) = pads
    h, w, c = shape
    buf = np.empty((n, h + pt + pb, w + pl + pr, c), dtype)
    buf[:, :pt], buf[:, pt + h:] = 0, 0
    buf[:, pt:pt + h, :pl], buf[:, pt:pt + h, pl + w:] = 0, 0
    return buf, buf[:, pt:pt + h, pl:pl + w]


def padded(x: np.ndarray, pads) -> np.ndarray:
    """x with a zero border (x itself, made contiguous, when there is none)."""
    if not any(pads[0] + pads[1]):
        return np.ascontiguousarray(x)
    buf, inner = padded_empty(x.shape[0], x.shape[1:], pads, x.dtype)
    inner[...] = x
    return buf


def windows(x: np.ndarray, kernel, stride, padding: str) -> np.ndarray:
    """A strided view (N, OH, OW, kh, kw, C) of every window of the (padded) input; no copy."""
    n, h, w, c = x.shape
    pads = conv_pads(h, w, kernel, stride, padding)
    return _windows(padded(x, pads), kernel, stride, (out_size(h, kernel[0], stride[0], padding),
                                                     out_size(w, kernel[1], stride[1], padding)))


def _windows(xp, kernel, stride, out_hw) -> np.ndarray:
    (kh, kw), (sh, sw), (oh, ow) = kernel, stride, out_hw
    s_n, s_h, s_w, s_c = xp.strides
    return as_strided(xp, (xp.shape[0], oh, ow, kh, kw, xp.shape[3]), (s_n, s_h * sh, s_w * sw, s_h, s_w, s_c),
                      writeable=False)


class Plain:
    """The reference: im2col (one copy, one product) forward, col2im by a scatter of every tap backward."""

    def __init__(self, kernel, stride, padding: str, in_shape):
        self.kernel, self.stride, self.padding = tuple(kernel), tuple(stride), padding
        self.in_shape = tuple(in_shape)
        h, w = self.in_shape[:2]
        self.out_hw = (out_size(h, kernel[0], stride[0], padding), out_size(w, kernel[1], stride[1], padding))

    def pads(self):
        """The zero border this kernel reads around its input."""
        h, w = self.in_shape[:2]
        return conv_pads(h, w, self.kernel, self.stride, self.padding)

    def forward(self, xp: np.ndarray, W: np.ndarray, b: np.ndarray, act, a=None, out=None,
                keep: bool = True):
        """Pre-activation o and activation s (into ``out`` if given) of the padded input xp, and a context.

        ``keep`` is accepted for the interface: this kernel always returns o.
        """
        n, c_out = xp.shape[0], W.shape[3]
        cols = _windows(xp, self.kernel, self.stride, self.out_hw).reshape(n * self.out_hw[0] * self.out_hw[1], -1)
        o = matmul(cols, W.reshape(-1, c_out))
        o += b
        o = o.reshape((n,) + self.out_hw + (c_out,))
        return o, act(o, a, out=out), cols

    def backward(self, g, cols, W, act_grad, o=None, s=None, a=None, need_dx: bool = True):
        """Gradients (dx, dW, db, da) from g = dL/ds; dx is None when not needed (the first layer)."""
        do, da = act_grad(g, o, s, a)
        do2 = do.reshape(-1, W.shape[3])
        dW = matmul(cols.T, do2).reshape(W.shape)
        return (self._input_grad(do2, W) if need_dx else None), dW, column_sums(do2), da

    def _input_grad(self, do2, W):
        """Per tap, one product added onto a strided slice of the padded input's gradient."""
        n = do2.shape[0] // (self.out_hw[0] * self.out_hw[1])
        h, w, c = self.in_shape
        (kh, kw), (sh, sw), (oh, ow) = self.kernel, self.stride, self.out_hw
        (pt, pb), (pl, pr) = self.pads()
        # VALID may leave trailing rows unused; the buffer covers every position a window touches.
        hp, wp = max(h + pt + pb, (oh - 1) * sh + kh), max(w + pl + pr, (ow - 1) * sw + kw)
        dxp = np.zeros((n, hp, wp, c), dtype=do2.dtype)
        for i in range(kh):
            for j in range(kw):
                dxp[:, i:i + sh * (oh - 1) + 1:sh, j:j + sw * (ow - 1) + 1:sw] += \
                    matmul(do2, W[i, j].T).reshape(n, oh, ow, c)
        return dxp[:, pt:pt + h, pl:pl + w]


class Blocked(Plain):
    """The same convolution a block of images at a time, activation and bias fused in (see the module)."""

    def __init__(self, kernel, stride, padding: str, in_shape, block_bytes: int = BLOCK_BYTES):
        super().__init__(kernel, stride, padding, in_shape)
        self.window = self.kernel[0] * self.kernel[1] * self.in_shape[2]
        self.fold = self.window < FOLD_BIAS_BELOW
        self.block_bytes = block_bytes

    def blocks(self, n: int, itemsize: int):
        """(first, last) image of each block: as many images as fit ``block_bytes`` of windows, at least one."""
        per_image = self.out_hw[0] * self.out_hw[1] * (self.window + self.fold) * itemsize
        step = max(1, min(n, self.block_bytes // per_image))
        return [(lo, min(n, lo + step)) for lo in range(0, n, step)]

    def _copier(self, xp, step: int, ones: bool):
        """A function (lo, hi) -> the windows of images lo..hi as rows (and a ones column if ``ones``).

        The rows go into one buffer for ``step`` images, made once; so is the ones column.
        """
        view = _windows(xp, self.kernel, self.stride, self.out_hw)
        per = self.out_hw[0] * self.out_hw[1]
        buf = np.empty((step * per, self.window + ones), xp.dtype)
        row, item = buf.strides
        oh, ow, (kh, kw, c) = self.out_hw[0], self.out_hw[1], view.shape[3:]
        into = as_strided(buf, (step, oh, ow, kh, kw, c), (row * oh * ow, row * ow, row, item * kw * c, item * c, item))
        if ones:
            buf[:, -1] = 1

        def cols(lo, hi):
            np.copyto(into[:hi - lo], view[lo:hi])
            return buf[:(hi - lo) * per]

        return cols

    def forward(self, xp, W, b, act, a=None, out=None, keep: bool = True):
        """Pre-activation o and activation s (into ``out`` if given); the context is xp itself.

        With ``keep=False`` the pre-activation lives one block at a time and o comes back None
        (for activations whose derivative needs only s): one array less written to memory.
        """
        n, c_out = xp.shape[0], W.shape[3]
        Wk = W.reshape(self.window, c_out)
        if self.fold:
            Wk = np.concatenate([Wk, b[None]])
        blocks = self.blocks(n, xp.dtype.itemsize)
        step = max(hi - lo for lo, hi in blocks)
        o = np.empty(((n if keep else step),) + self.out_hw + (c_out,), xp.dtype)
        s = out if out is not None else np.empty((n,) + o.shape[1:], xp.dtype)
        cols = self._copier(xp, step, self.fold)
        for lo, hi in blocks:
            ob = o[lo:hi] if keep else o[:hi - lo]
            matmul(cols(lo, hi), Wk, out=ob.reshape(-1, c_out))
            if not self.fold:
                ob += b
            act(ob, a, out=s[lo:hi])
        return (o if keep else None), s, xp

    def backward(self, g, xp, W, act_grad, o=None, s=None, a=None, need_dx: bool = True):
        """Gradients (dx, dW, db, da) from g = dL/ds, block by block; the windows are copied again from xp."""
        n, c_out = g.shape[0], W.shape[3]
        dWk = np.zeros((self.window + 1, c_out), g.dtype)  # the last row, from a ones column, is db
        da = None
        dx = np.empty((n,) + self.in_shape, g.dtype) if need_dx else None
        blocks = self.blocks(n, g.dtype.itemsize)
        step = max(hi - lo for lo, hi in blocks)
        cols = self._copier(xp, step, True)
        into = InputGrad(W.shape, self.in_shape, self.stride, self.pads(), self.out_hw, step, g.dtype) if need_dx \
            else None
        weights = into.weights(W) if need_dx else None
        for lo, hi in blocks:
            do, da_block = act_grad(g[lo:hi], None if o is None else o[lo:hi], s[lo:hi], a)
            if da_block is not None:
                da = da_block if da is None else da + da_block
            matmul_add(cols(lo, hi).T, do.reshape(-1, c_out), dWk)
            if need_dx:
                into(do, weights, dx[lo:hi])
        return dx, dWk[:-1].reshape(W.shape), dWk[-1].copy(), da


class Planes(Blocked):
    """Stride-1 convolutions of inputs with few channels (the first layer's colour planes), another im2col.

    In NHWC, a window row of such an input is a handful of numbers, and copying windows is all
    overhead. Here the padded input is turned once into channel planes, flat per channel, so that
    every (tap, channel) row of the transposed window matrix is one contiguous run of a plane,
    shifted by the tap's offset; the product, taken with that matrix transposed, comes out NHWC on
    the padded grid (rows past the image's edge are computed and left unread).
    """

    MAX_CHANNELS = 4

    @classmethod
    def applies(cls, kernel, stride, in_shape) -> bool:
        """Whether this kernel suits a layer: stride 1 and at most MAX_CHANNELS input channels."""
        return tuple(stride) == (1, 1) and in_shape[2] <= cls.MAX_CHANNELS

    def __init__(self, kernel, stride, padding: str, in_shape, block_bytes: int = BLOCK_BYTES):
        super().__init__(kernel, stride, padding, in_shape, block_bytes)
        self.fold = True  # a ones row in the window matrix costs one contiguous run
        (pt, pb), (pl, pr) = self.pads()
        self.grid = (self.in_shape[0] + pt + pb, self.in_shape[1] + pl + pr)
        self.shifts = [i * self.grid[1] + j for i in range(self.kernel[0]) for j in range(self.kernel[1])]

    def blocks(self, n: int, itemsize: int):
        """(first, last) image of each block, as many as fit ``block_bytes`` of windows on the grid."""
        per_image = self.grid[0] * self.grid[1] * (self.window + 1) * itemsize
        step = max(1, min(n, self.block_bytes // per_image))
        return [(lo, min(n, lo + step)) for lo in range(0, n, step)]

    def planes(self, xp: np.ndarray) -> np.ndarray:
        """The padded input as one flat plane per channel, with zeros after the last image for the shifts."""
        n, c = xp.shape[0], xp.shape[3]
        rows = n * self.grid[0] * self.grid[1]
        out = np.empty((c, rows + self.shifts[-1]), xp.dtype)
        out[:, :rows].reshape(c, n, *self.grid)[...] = xp.transpose(3, 0, 1, 2)
        out[:, rows:] = 0
        return out

    def _cols_t(self, planes, lo, hi, buf):
        """The transposed window matrix (taps·channels + 1, grid rows) of images lo..hi, in ``buf``."""
        per = self.grid[0] * self.grid[1]
        r0, r1 = lo * per, hi * per
        c = planes.shape[0]
        cols = buf[:(self.window + 1) * (r1 - r0)].reshape(self.window + 1, r1 - r0)
        for t, shift in enumerate(self.shifts):
            cols[t * c:(t + 1) * c] = planes[:, r0 + shift:r1 + shift]
        cols[-1] = 1
        return cols

    def _buffer(self, n, dtype):
        step = max(hi - lo for lo, hi in self.blocks(n, np.dtype(dtype).itemsize))
        return np.empty(step * self.grid[0] * self.grid[1] * (self.window + 1), dtype)

    def _on_grid(self, a: np.ndarray, n: int) -> np.ndarray:
        return a.reshape(n, *self.grid, a.shape[-1])[:, :self.out_hw[0], :self.out_hw[1]]

    def forward(self, xp, W, b, act, a=None, out=None, keep: bool = True):
        """Pre-activation o (a view of the grid; None unless ``keep``) and activation s; the context is the planes."""
        n, c_out = xp.shape[0], W.shape[3]
        Wk = np.concatenate([W.reshape(self.window, c_out), b[None]])
        planes, buf = self.planes(xp), self._buffer(n, xp.dtype)
        blocks = self.blocks(n, xp.dtype.itemsize)
        per = self.grid[0] * self.grid[1]
        grid = np.empty(((n if keep else max(hi - lo for lo, hi in blocks)) * per, c_out), xp.dtype)
        s = out if out is not None else np.empty((n,) + self.out_hw + (c_out,), xp.dtype)
        for lo, hi in blocks:
            rows = grid[lo * per:hi * per] if keep else grid[:(hi - lo) * per]
            matmul(self._cols_t(planes, lo, hi, buf).T, Wk, out=rows)
            act(self._on_grid(rows, hi - lo), a, out=s[lo:hi])
        return (self._on_grid(grid, n) if keep else None), s, planes

    def backward(self, g, planes, W, act_grad, o=None, s=None, a=None, need_dx: bool = True):
        """Gradients (dx, dW, db, da) from g = dL/ds, block by block, on the grid (zero where no output)."""
        n, c_out = g.shape[0], W.shape[3]
        per = self.grid[0] * self.grid[1]
        dWk = np.zeros((self.window + 1, c_out), g.dtype)
        da = None
        dx = np.empty((n,) + self.in_shape, g.dtype) if need_dx else None
        buf = self._buffer(n, g.dtype)
        step = max(hi - lo for lo, hi in self.blocks(n, g.dtype.itemsize))
        grid = np.zeros((step * per, c_out), g.dtype)  # only the outputs' rows are written: the rest stays 0
        for lo, hi in self.blocks(n, g.dtype.itemsize):
            rows = grid[:(hi - lo) * per]
            do, da_block = act_grad(g[lo:hi], None if o is None else o[lo:hi], s[lo:hi], a,
                                    out=self._on_grid(rows, hi - lo))
            if da_block is not None:
                da = da_block if da is None else da + da_block
            matmul_add(self._cols_t(planes, lo, hi, buf), rows, dWk)
            if need_dx:
                input_grad(do, W, self.in_shape, self.stride, self.pads(), out=dx[lo:hi])
        return dx, dWk[:-1].reshape(W.shape), dWk[-1].copy(), da


def kernel(kernel, stride, padding: str, in_shape):
    """The fast kernel for a conv layer: channel planes for few input channels at stride 1, else blocks."""
    kind = Planes if Planes.applies(kernel, stride, in_shape) else Blocked
    return kind(kernel, stride, padding, in_shape)


class InputGrad:
    """dL/dx of a convolution: a correlation of the zero-bordered output gradient with the flipped taps.

    The input's rows and columns split into sh·sw stride phases (padded row ≡ p mod sh, column ≡ q
    mod sw); the input positions of one phase receive the taps (i, j) with i ≡ p, j ≡ q only, from
    the outputs next to them. So each phase is one window matrix of the output gradient (its own
    taps' windows, copied block by block from a zero-bordered buffer) times those taps' weights:
    one product per phase, no scatter and no accumulation; a stride-1 layer has one phase, whose
    product is dx itself. Buffers are made once for blocks of up to ``n`` images.
    """

    def __init__(self, W_shape, in_shape, stride, pads, out_hw, n: int, dtype):
        (h, w, _), (kh, kw, _, k) = in_shape, W_shape
        (sh, sw), (oh, ow) = stride, out_hw
        (pt, _), (pl, _) = pads
        self.n, self.stride, self.out_hw = n, stride, out_hw
        phases = []
        for p in range(sh):
            ti, y0 = list(range(p, kh, sh)), (p - pt) % sh
            for q in range(sw):
                tj, x0 = list(range(q, kw, sw)), (q - pl) % sw
                phases.append((p, q, ti, tj, y0, x0, (y0 + pt) // sh, (x0 + pl) // sw,
                               len(range(y0, h, sh)), len(range(x0, w, sw))))
        # the output gradient inside a zero border wide enough for every phase's windows
        self.top, self.left = max(len(ph[2]) for ph in phases) - 1, max(len(ph[3]) for ph in phases) - 1
        rows = self.top + max([oh] + [ph[6] + ph[8] for ph in phases])
        cols = self.left + max([ow] + [ph[7] + ph[9] for ph in phases])
        self.border = np.zeros((n, rows, cols, k), dtype)
        s_n, s_h, s_w, s_c = self.border.strides
        item = self.border.itemsize
        self.phases = []
        for p, q, ti, tj, y0, x0, gy0, gx0, ny, nx in phases:
            if not ti or not tj:  # a stride larger than the window: no tap reaches this phase
                self.phases.append((p, q, ti, tj, (slice(y0, None, sh), slice(x0, None, sw)), None, None, None))
                continue
            m, r = len(ti), len(tj)
            start = self.border[:, gy0 - m + 1 + self.top:, gx0 - r + 1 + self.left:]
            windows = as_strided(start, (n, ny, nx, m, r, k), (s_n, s_h, s_w, s_h, s_w, s_c), writeable=False)
            buf = np.empty((n * ny * nx, m * r * k), dtype)
            row = buf.strides[0]
            into = as_strided(buf, (n, ny, nx, m, r, k), (row * ny * nx, row * nx, row, item * r * k, item * k, item))
            self.phases.append((p, q, ti, tj, (slice(y0, None, sh), slice(x0, None, sw)), windows, into, buf))

    def weights(self, W: np.ndarray) -> list:
        """Each phase's taps, flipped and stacked as rows (taps · C_out, C_in): the right factor of its product."""
        sh, sw = self.stride
        out = []
        for p, q, ti, tj, *_ in self.phases:
            m, r = len(ti), len(tj)
            out.append(None if not m or not r else np.concatenate(
                [W[p + (m - 1 - u) * sh, q + (r - 1 - v) * sw].T for u in range(m) for v in range(r)]))
        return out

    def __call__(self, do: np.ndarray, weights: list, out: np.ndarray) -> np.ndarray:
        """dx of a block of images (at most ``n``) into ``out`` from their output gradient ``do``."""
        b, (oh, ow) = do.shape[0], self.out_hw
        self.border[:b, self.top:self.top + oh, self.left:self.left + ow] = do
        for (_, _, _, _, where, windows, into, buf), Wp in zip(self.phases, weights):
            target = out[:, where[0], where[1]]
            if Wp is None:
                target[...] = 0
                continue
            np.copyto(into[:b], windows[:b])
            cols = buf[:b * target.shape[1] * target.shape[2]]
            if target.flags.c_contiguous:  # stride 1: the phase is dx
                matmul(cols, Wp, out=target.reshape(cols.shape[0], -1))
            else:
                target[...] = matmul(cols, Wp).reshape(target.shape)
        return out


def input_grad(do: np.ndarray, W: np.ndarray, in_shape, stride, pads, out=None) -> np.ndarray:
    """dL/dx of a convolution from its output gradient (see :class:`InputGrad`), into ``out`` if given."""
    out = np.empty((do.shape[0],) + tuple(in_shape), do.dtype) if out is None else out
    grad = InputGrad(W.shape, in_shape, stride, pads, do.shape[1:3], do.shape[0], do.dtype)
    return grad(do, grad.weights(W), out)
