"""The same two-branch network written in PyTorch, from the same spec and the same parameters.

An independent implementation (autograd instead of hand-written backward passes) for the
cross-checks and the benchmark. Requires ``torch``; nothing else in the package imports it.
Layout: PyTorch works in NCHW with OIHW conv weights; the twin converts on the way in and out
so that its parameters and gradients use the NumPy network's keys and shapes.
"""

from __future__ import annotations

import numpy as np
import torch
import torch.nn.functional as F

from derive.engine.layers import conv_pads


class TorchTwin:
    """PyTorch twin of a :class:`derive.network.Network`, holding a copy of its parameters.

    ``channels_last``: images and conv weights in PyTorch's channels-last memory format (NHWC in
    memory under NCHW indexing), the one its CPU convolutions run fastest in.
    """

    def __init__(self, net, dtype=torch.float64, channels_last: bool = False):
        self.net, self.dtype = net, dtype
        self.format = torch.channels_last if channels_last else torch.contiguous_format
        self.params = {k: self._laid_out(torch.tensor(_to_torch(k, v, net), dtype=dtype)).requires_grad_(True)
                       for k, v in net.params.items()}

    def _laid_out(self, t: torch.Tensor) -> torch.Tensor:
        return t.contiguous(memory_format=self.format) if t.ndim == 4 else t

    def tensor(self, x: np.ndarray) -> torch.Tensor:
        """NHWC images (or masks) as an NCHW tensor of the twin's dtype (and memory format)."""
        t = torch.as_tensor(np.asarray(x), dtype=self.dtype)
        return self._laid_out(t.permute(0, 3, 1, 2)) if t.ndim == 4 else t

    def branch(self, x: torch.Tensor, b: int, masks: dict | None = None, start: int = 0) -> dict[str, torch.Tensor]:
        """Outputs (after dropout) of every layer of branch b, by layer name; ``x`` is the input of layer ``start``."""
        outs, h = {}, x
        for i in range(start, len(self.net.layers)):
            h = self.layer(i, h, b)
            name = self.net.layers[i].name
            if masks and name in masks:
                h = h * self.tensor(masks[name])
            outs[name] = h
        return outs

    def layer(self, i: int, h: torch.Tensor, b: int) -> torch.Tensor:
        """Layer i of branch b (its activation included) on its input h."""
        net, p = self.net, self.params
        layer = net.layers[i]
        k = net.key(layer.name, b)
        if layer.type == "dense" and h.ndim == 4:
            h = h.permute(0, 2, 3, 1).reshape(h.shape[0], -1)  # (h, w, c) order
        if layer.type == "conv":
            (pt, pb), (pl, pr) = conv_pads(h.shape[2], h.shape[3], layer.kernel, layer.stride, layer.padding)
            if pt == pb and pl == pr:
                o = F.conv2d(h, p[k + ".W"], p[k + ".b"], stride=layer.stride, padding=(pt, pl))
            else:  # TensorFlow's SAME puts the odd pixel after: pad explicitly
                o = F.conv2d(F.pad(h, (pl, pr, pt, pb)), p[k + ".W"], p[k + ".b"], stride=layer.stride)
        elif layer.type == "maxpool":
            o = F.max_pool2d(h, layer.kernel, layer.stride)
        else:
            o = h @ p[k + ".W"] + p[k + ".b"]
        return _activation(layer.activation, o, p.get(k + ".a"), net.spec.prelu)

    def loss(self, x1, x2, l, masks=None) -> torch.Tensor:
        """The network's loss (pair loss, plus the KL term if the network has one) on NumPy inputs."""
        lt = torch.as_tensor(np.asarray(l), dtype=self.dtype)
        return self.loss_tensors(self.tensor(x1), self.tensor(x2), lt, masks or [{}, {}])

    def loss_tensors(self, t1: torch.Tensor, t2: torch.Tensor, lt: torch.Tensor, masks, start: int = 0) -> torch.Tensor:
        """The loss on inputs already converted to tensors; ``masks`` as in ``Cache.masks``.

        ``t1``, ``t2`` feed layer ``start`` of each branch (0: the images, NCHW), so that the top
        of the network can be run alone from the inputs of its lower dense layer.
        """
        o1 = self.branch(t1, 0, masks[0], start)
        o2 = self.branch(t2, 1, masks[1], start)
        last = self.net.names[-1]
        diff = (o1[last] - o2[last]).reshape(len(lt), -1)
        D = 0.5 * (diff * diff).sum(dim=1)
        loss = torch.mean(lt * F.relu(1 - D) + (1 - lt) * D)
        kl = self.net.kl
        if kl is not None:
            s = o1[kl.layer]
            act = torch.sigmoid(s) if kl.reading == "sigmoid" else s
            rho_hat = act.mean(dim=0)
            loss = loss + kl.beta * torch.sum(kl.rho * torch.log(kl.rho / rho_hat)
                                              + (1 - kl.rho) * torch.log((1 - kl.rho) / (1 - rho_hat)))
        return loss

    def grads(self, x1, x2, l, masks=None) -> tuple[float, dict[str, np.ndarray]]:
        """Loss and gradients by autograd, in the NumPy network's keys and layouts."""
        for t in self.params.values():
            t.grad = None
        loss = self.loss(x1, x2, l, masks)
        loss.backward()
        grads = {k: _from_torch(k, t.grad.detach().numpy(), self.net) for k, t in self.params.items()}
        return float(loss.detach()), grads


def _activation(kind: str, o: torch.Tensor, a, convention: str) -> torch.Tensor:
    if kind == "relu":
        return F.relu(o)
    if kind == "tanh":
        return torch.tanh(o)
    if kind == "sigmoid":
        return torch.sigmoid(o)
    if kind == "linear":
        return o
    if convention == "element":  # slopes shaped like one output; where(o > 0) gives PReLU'(0) = a
        return torch.where(o > 0, o, a * o)
    return F.prelu(o, a.reshape(1) if convention == "scalar" else a)


def _is_conv_weight(key: str, net) -> bool:
    return key.endswith(".W") and net.params[key].ndim == 4


def _to_torch(key: str, v: np.ndarray, net) -> np.ndarray:
    if _is_conv_weight(key, net):
        return v.transpose(3, 2, 0, 1).copy()  # HWIO -> OIHW
    if key.endswith(".a") and v.ndim == 3:
        return v.transpose(2, 0, 1).copy()  # per-element slopes HWC -> CHW
    return v.copy()


def _from_torch(key: str, g: np.ndarray, net) -> np.ndarray:
    if _is_conv_weight(key, net):
        return g.transpose(2, 3, 1, 0)
    if key.endswith(".a") and g.ndim == 3:
        return g.transpose(1, 2, 0)
    return g
