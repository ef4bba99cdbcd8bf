"""Calls of students' functions: literal argument lists and seeded random draws.

A function or property check calls the student's function on the rubric's literal
``inputs`` (edge cases), then on those a reference generator (``inputs_from``) returns,
then on ``count`` calls drawn by :func:`generate_calls` from the check's ``[random]``
table with a generator seeded by its ``seed`` (the same inputs on every run and machine).
Everything here is trusted data of the course staff.
"""

from __future__ import annotations

import copy
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    import numpy as np

@dataclass(frozen=True, kw_only=True)
class Call:
    """One call of a function answer: positional and keyword arguments (trusted data)."""

    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)

    def display(self) -> str:
        """Render the call's arguments the way a student would type them."""
        parts = [_short(a) for a in self.args]
        parts += [f"{k}={_short(v)}" for k, v in self.kwargs.items()]
        return "(" + ", ".join(parts) + ")"


def _short(value: Any) -> str:
    try:
        import numpy as np

        if isinstance(value, np.ndarray):
            return "np.array(" + repr(value.tolist()) + ")"
    except ImportError:  # pragma: no cover - numpy is a core dependency
        pass
    return repr(value)


@dataclass(frozen=True, kw_only=True)
class ArgGenerator:
    """How one argument of a generated call is drawn (see ``GENERATORS`` for the kinds)."""

    kind: str  # uniform | normal | integer | choice | spd | constant
    low: float = 0.0
    high: float = 1.0
    mean: float = 0.0
    std: float = 1.0
    shape: tuple[int, ...] = ()  # () draws a single number
    values: tuple[Any, ...] = ()  # choice
    n: int = 2  # spd: the matrix is n x n
    eigenvalues: tuple[float, float] = (0.5, 5.0)  # spd: eigenvalues drawn in this range
    value: Any = None  # constant


@dataclass(frozen=True, kw_only=True)
class RandomInputs:
    """``count`` calls whose arguments are drawn from a generator seeded with ``seed``."""

    count: int
    seed: int
    args: tuple[ArgGenerator, ...] = ()
    kwargs: tuple[tuple[str, ArgGenerator], ...] = ()


# The keys each generator kind takes besides `kind`; documented in docs/rubrics.md.
GENERATORS: dict[str, tuple[str, ...]] = {
    "uniform": ("low", "high", "shape"),  # floats in [low, high)
    "normal": ("mean", "std", "shape"),  # Gaussian floats
    "integer": ("low", "high", "shape"),  # integers in [low, high], both included
    "choice": ("values",),  # one of the listed values
    "spd": ("n", "eigenvalues"),  # symmetric positive definite n x n, random eigenbasis
    "constant": ("value",),  # always this value
}


def reference_outputs(func: Any, calls: tuple[Call, ...]) -> list[Any]:
    """The reference's output for each call (arguments copied: a function may mutate them)."""
    return [func(*copy.deepcopy(c.args), **copy.deepcopy(dict(c.kwargs))) for c in calls]


def generate_calls(spec: RandomInputs) -> tuple[Call, ...]:
    """The ``count`` calls of a ``[random]`` table, drawn from ``default_rng(seed)``.

    Arguments are drawn call by call, positional ones first, in order; scalars come out
    as Python ``float``/``int`` and shaped draws as numpy arrays.
    """
    import numpy as np

    rng = np.random.default_rng(spec.seed)
    calls = []
    for _ in range(spec.count):
        args = tuple(_draw(rng, g) for g in spec.args)
        kwargs = {name: _draw(rng, g) for name, g in spec.kwargs}
        calls.append(Call(args=args, kwargs=kwargs))
    return tuple(calls)


def _draw(rng: np.random.Generator, g: ArgGenerator) -> Any:
    import numpy as np

    size = g.shape or None
    value: Any
    if g.kind == "uniform":
        value = rng.uniform(g.low, g.high, size=size)
    elif g.kind == "normal":
        value = rng.normal(g.mean, g.std, size=size)
    elif g.kind == "integer":
        value = rng.integers(int(g.low), int(g.high), size=size, endpoint=True)
        return int(value) if size is None else value
    elif g.kind == "choice":
        return copy.deepcopy(g.values[int(rng.integers(len(g.values)))])
    elif g.kind == "spd":
        q, _ = np.linalg.qr(rng.normal(size=(g.n, g.n)))
        eigenvalues = rng.uniform(g.eigenvalues[0], g.eigenvalues[1], size=g.n)
        h = q @ np.diag(eigenvalues) @ q.T
        return (h + h.T) / 2  # exactly symmetric
    elif g.kind == "constant":
        return copy.deepcopy(g.value)
    else:  # the rubric loader admits only the kinds above; reaching here is our bug
        raise ValueError(f"unknown generator kind {g.kind!r}")
    return float(value) if size is None else value


