"""Convolution kernels on NHWC arrays: the plain im2col reference and the fast blocked kernel.

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
the product where that is cheaper, and the input gradient is a few accumulated products per
stride phase (:func:`input_grad`).
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

    def _cols(self, xp, lo, hi, buf, ones: bool):
        """The windows of images lo..hi copied into ``buf`` as rows, then a ones column if ``ones``."""
        view = _windows(xp[lo:hi], self.kernel, self.stride, self.out_hw)
        rows = view.shape[0] * view.shape[1] * view.shape[2]
        cols = buf[:rows * (self.window + ones)].reshape(rows, self.window + ones)
        row, item = cols.strides
        oh, ow, (_, kw, c) = view.shape[1], view.shape[2], view.shape[3:]
        np.copyto(as_strided(cols, view.shape, (row * oh * ow, row * ow, row, item * kw * c, item * c, item)), view)
        if ones:
            cols[:, -1] = 1
        return cols

    def _buffer(self, n, dtype):
        rows = max(hi - lo for lo, hi in self.blocks(n, np.dtype(dtype).itemsize)) * self.out_hw[0] * self.out_hw[1]
        return np.empty(rows * (self.window + 1), dtype)

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
        buf = self._buffer(n, xp.dtype)
        for lo, hi in blocks:
            ob = o[lo:hi] if keep else o[:hi - lo]
            matmul(self._cols(xp, lo, hi, buf, self.fold), Wk, out=ob.reshape(-1, c_out))
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
        buf = self._buffer(n, g.dtype)
        for lo, hi in self.blocks(n, g.dtype.itemsize):
            do, da_block = act_grad(g[lo:hi], None if o is None else o[lo:hi], s[lo:hi], a)
            if da_block is not None:
                da = da_block if da is None else da + da_block
            matmul_add(self._cols(xp, lo, hi, buf, True).T, do.reshape(-1, c_out), dWk)
            if need_dx:
                input_grad(do, W, self.in_shape, self.stride, self.pads(), out=dx[lo:hi])
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


def _grid(n: int, out: int, k: int, s: int, before: int) -> int:
    """Rows (or columns) per image of the phase grid of :func:`input_grad` along one axis.

    It must hold every phase row the input's rows fall on, and every output: the taps' contributions
    reach out + (k - 1) // s rows, but those that run past the grid land on the first rows of the
    next image (or row), and may, where those rows are the zero border's (dropped): the grid is then
    shorter by that much, and so are the products.
    """
    first = min(((p - before) % s + before) // s for p in range(s))  # the first phase row an input row uses
    return max(-(-(n + before) // s), out + (k - 1) // s - first, out)


def input_grad(do: np.ndarray, W: np.ndarray, in_shape, stride, pads, out=None) -> np.ndarray:
    """dL/dx of a convolution as kh·kw accumulated products, with no scatter of windows.

    The padded input splits into sh·sw stride phases (rows ≡ p mod sh, columns ≡ q mod sw); tap
    (i, j) of every window lands in phase (i mod sh, j mod sw), shifted by (i // sh, j // sw) on that
    phase's grid. With the output gradient laid on the same grid (zero where there is no output),
    each tap's contribution is one product added onto a contiguous block of rows of its phase, in
    place. The phases are then interleaved into dx (``out`` if given).
    """
    n, (h, w, c) = do.shape[0], in_shape
    kh, kw, _, k = W.shape
    (sh, sw), (oh, ow) = stride, do.shape[1:3]
    (pt, _), (pl, _) = pads
    gh, gw = _grid(h, oh, kh, sh, pt), _grid(w, ow, kw, sw, pl)
    rows = n * gh * gw
    grid = np.empty((n, gh, gw, k), do.dtype)
    grid[:, :oh, :ow] = do
    grid[:, oh:], grid[:, :oh, ow:] = 0, 0
    grid = grid.reshape(rows, k)
    slack = ((kh - 1) // sh) * gw + (kw - 1) // sw  # the last taps' blocks run past the grid: never read
    phases = np.empty((sh, sw, rows + slack, c), do.dtype)
    for p in range(min(sh, kh), sh):
        phases[p] = 0
    for q in range(min(sw, kw), sw):
        phases[:, q] = 0
    for i in range(kh):
        for j in range(kw):
            shift = (i // sh) * gw + j // sw
            if shift == 0:  # the phase's first tap (i, j) = (p, q) covers all its rows: no zeroing needed
                matmul(grid, W[i, j].T, out=phases[i % sh, j % sw, :rows])
            else:
                matmul_add(grid, W[i, j].T, phases[i % sh, j % sw, shift:shift + rows])
    dx = np.empty((n, h, w, c), do.dtype) if out is None else out
    for p in range(sh):
        y0 = (p - pt) % sh
        for q in range(sw):
            x0 = (q - pl) % sw
            g = phases[p, q, :rows].reshape(n, gh, gw, c)
            dx[:, y0::sh, x0::sw] = g[:, (y0 + pt) // sh:, (x0 + pl) // sw:][:, :len(range(y0, h, sh)),
                                                                              :len(range(x0, w, sw))]
    return dx
