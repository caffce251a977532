"""Building modules whose weights are loaded right after: :func:`no_random_init`.

A module's constructor draws every weight at random (``nn.Linear``'s Kaiming init, our truncated normals);
when the weights are then loaded from a file, that work is thrown away, and for the default model it is the
largest part of ``from_pretrained`` on a CPU. Inside :func:`no_random_init`, the in-place random fills of
tensors (``normal_``, ``uniform_``, ...) write zeros instead: cheap, and inside every init's range (a
truncated normal's rejection loop ends at once). Everything else a constructor computes (RoPE tables,
masks, constant buffers) is computed as usual. The mode is a torch-function mode, so it is local to the
calling thread.

Use it only when every parameter and persistent buffer is loaded afterwards (a strict ``load_state_dict``):
a weight that is not loaded stays zero.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import torch
from torch.overrides import TorchFunctionMode

# the in-place random fills of a tensor, and the torch.nn.init functions that draw (those that dispatch to a
# torch-function mode reach it as themselves, and what they call inside is not seen again)
_TENSOR_FILLS = ("normal_", "uniform_", "log_normal_", "exponential_", "geometric_", "cauchy_", "random_", "bernoulli_")
_INIT_FILLS = ("uniform_", "normal_", "trunc_normal_", "kaiming_uniform_", "kaiming_normal_", "xavier_uniform_",
               "xavier_normal_", "orthogonal_", "sparse_")
RANDOM_FILLS: frozenset[Callable[..., Any]] = frozenset(
    [getattr(torch.Tensor, n) for n in _TENSOR_FILLS if hasattr(torch.Tensor, n)]
    + [getattr(torch.nn.init, n) for n in _INIT_FILLS if hasattr(torch.nn.init, n)]
)


class _ZeroRandomFills(TorchFunctionMode):
    def __init__(self) -> None:
        super().__init__()
        self.skipped = 0  # random fills replaced by zeros (for tests)

    def __torch_function__(self, func: Callable[..., Any], types: Any, args: tuple = (), kwargs: dict | None = None) -> Any:
        if func in RANDOM_FILLS:
            self.skipped += 1
            kw = kwargs or {}
            target = args[0] if args else kw.get("tensor", kw.get("self"))
            with torch.no_grad():
                return target.zero_()
        return func(*args, **(kwargs or {}))


@contextmanager
def no_random_init() -> Iterator[_ZeroRandomFills]:
    """Within the block, modules are built without drawing random weights (zeros instead); see the module doc."""
    mode = _ZeroRandomFills()
    with mode:
        yield mode
