"""Memory accounting without memory: a live-storage tracer (``LiveMemory``) for steps run on fake tensors, modules
built with fake storage (``fake_module``), and the process's resident-memory counters for the measured side of a
check. Used by ``benchmarks/memory_plan.py`` (SVD) and :mod:`interanimate.training.wan_memory` (Wan)."""

from __future__ import annotations

import weakref
from collections import defaultdict
from pathlib import Path

import torch
from torch._subclasses.fake_tensor import FakeTensorMode
from torch.utils._python_dispatch import TorchDispatchMode
from torch.utils._pytree import tree_leaves
from torch.utils.weak import WeakIdKeyDictionary

GiB = 2 ** 30


class LiveMemory(TorchDispatchMode):
    """Bytes of live tensor storages by kind, and the peak of their sum: every op's outputs are counted, in the kind
    of the current ``phase``, until their storage is freed (the idea of torch's ``MemTracker``, without its
    per-module bookkeeping, which refuses a module called twice in one step — the VAE encodes the frames and then
    the reference — and loops over every module after every op). Sizes are rounded up to the CUDA caching
    allocator's 512-byte blocks. Tensors that exist before are registered with ``track``; gradients are relabelled
    ``grad`` as they are accumulated."""

    def __init__(self):
        super().__init__()
        self.kind_of = WeakIdKeyDictionary()  # storage -> (kind, bytes)
        self.current: dict[str, int] = defaultdict(int)
        self.peak: dict[str, int] = {}
        self.phase = "activations"

    @property
    def total(self) -> int:
        return sum(self.current.values())

    def track(self, kind: str, tensors) -> None:
        for t in tensors:
            self._add(t, kind)

    def watch_grads(self, params) -> None:
        for p in params:
            p.register_post_accumulate_grad_hook(lambda p: self._relabel(p.grad, "grads"))

    def _add(self, t, kind: str) -> None:
        st = t.untyped_storage()
        if st in self.kind_of:
            return
        size = -(-st.nbytes() // 512) * 512
        self.kind_of[st] = (kind, size)
        self.current[kind] += size
        weakref.finalize(st, self._free, kind, size)

    def _free(self, kind: str, size: int) -> None:
        self.current[kind] -= size

    def _relabel(self, t, kind: str) -> None:
        if t is None:
            return
        st = t.untyped_storage()
        if st not in self.kind_of:
            self._add(t, kind)
            return
        old, size = self.kind_of[st]
        if old != kind:  # the first finalizer subtracts from the first kind: move the bytes back when freed
            self.current[old] -= size
            self.current[kind] += size
            self.kind_of[st] = (kind, size)
            weakref.finalize(st, self._move, old, kind, size)

    def _move(self, old: str, kind: str, size: int) -> None:
        self.current[old] += size
        self.current[kind] -= size

    def __torch_dispatch__(self, func, types, args=(), kwargs=None):
        out = func(*args, **(kwargs or {}))
        for t in tree_leaves(out):
            if isinstance(t, torch.Tensor):
                self._add(t, self.phase)
        if self.total > sum(self.peak.values()):
            self.peak = dict(self.current)
        return out


def fake_module(build, dtype: torch.dtype, mode: FakeTensorMode):
    """``build()`` on the meta device, cast to ``dtype`` there, then given fake storage (no memory, no init)."""
    with torch.device("meta"):
        module = build()
    module.to("meta")  # diffusers' AlphaBlender builds torch.Tensor([alpha]), which ignores the device context
    for t in [*module.parameters(), *module.buffers()]:
        if t.is_floating_point():
            t.data = t.data.to(dtype)
    with mode:
        module.to_empty(device="cpu")
    return module


def rss_status(field: str) -> int:
    """A ``/proc/self/status`` memory field (``VmRSS``, ``VmHWM``) in bytes (Linux)."""
    for line in Path("/proc/self/status").read_text().splitlines():
        if line.startswith(field + ":"):
            return int(line.split()[1]) * 1024
    raise RuntimeError(f"no {field} in /proc/self/status")


def reset_peak() -> int:
    """Reset the process's peak resident memory to the current one (Linux); returns the current RSS in bytes."""
    Path("/proc/self/clear_refs").write_text("5")  # VmHWM := VmRSS
    return rss_status("VmRSS")
