"""A dense sample of inputs around a check's own: where a mutant is looked at beyond them.

Each of the check's calls with one argument changed at a time (small changes first: an
int moved by one, a float scaled; then the edges: 0, a probability's 0 and 1, an array
of zeros), then calls with every argument drawn at random near the original. Shapes and
types are kept (an array stays an array of its shape, a symmetric matrix symmetric, a
probability in [0, 1], an int odd in every call odd), so the sample stays in the space
the check's inputs come from. The generator is seeded: the same sample on
every run.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from grader.calls import Call

PER_CALL = 8  # random calls drawn around each of the check's calls
LIMIT = 200  # calls in a sample at most


def dense_sample(calls: Sequence[Call], *, seed: int = 0, per_call: int = PER_CALL,
                 limit: int = LIMIT) -> list[Call]:
    """Calls near the check's ``calls`` and not among them (see the module's docstring)."""
    import numpy as np

    rng = np.random.default_rng(seed)
    steps = _int_steps(calls)
    out: list[Call] = []
    for call in calls:
        for i, arg in enumerate(call.args):
            out += [Call(args=(*call.args[:i], v, *call.args[i + 1:]), kwargs=call.kwargs)
                    for v in variants(arg, rng, steps.get(i, 1))]
        for key, arg in call.kwargs.items():
            out += [Call(args=call.args, kwargs={**call.kwargs, key: v})
                    for v in variants(arg, rng, steps.get(key, 1))]
    for call in calls:
        for _ in range(per_call):
            out.append(Call(args=tuple(drawn(a, rng, steps.get(i, 1))
                                       for i, a in enumerate(call.args)),
                            kwargs={k: drawn(v, rng, steps.get(k, 1))
                                    for k, v in call.kwargs.items()}))
    own = {_key(c) for c in calls}
    unique: dict[str, Call] = {}
    for c in out:
        if _key(c) not in own:
            unique.setdefault(_key(c), c)
    return list(unique.values())[:limit]


def _int_steps(calls: Sequence[Call]) -> dict[int | str, int]:
    """2 for an int argument of one parity in every one of at least 3 calls, kept in it.

    The inputs say what the check's space is: ``n`` odd in all of a majority vote's
    calls means a committee of an odd size, and an even one would test code the contract
    never runs.
    """
    import numpy as np

    seen: dict[int | str, list[Any]] = {}
    for call in calls:
        for i, a in enumerate(call.args):
            seen.setdefault(i, []).append(a)
        for k, a in call.kwargs.items():
            seen.setdefault(k, []).append(a)
    steps: dict[int | str, int] = {}
    for where, values in seen.items():
        ints = [int(v) for v in values if isinstance(v, int | np.integer)
                and not isinstance(v, bool | np.bool_)]
        if len(calls) >= 3 and len(ints) == len(calls) and len({v % 2 for v in ints}) == 1:
            steps[where] = 2
    return steps


def _key(call: Call) -> str:
    return call.display()


def _is_number(value: Any) -> bool:
    import numpy as np

    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_)


def _is_probability(value: Any) -> bool:
    return isinstance(value, float) and 0.0 <= value <= 1.0


def variants(value: Any, rng: Any, step: int = 1) -> list[Any]:
    """Values near ``value`` of its type, nearest first, then the edges of its range (0, 1,
    an array of zeros); none for what is not numeric."""
    import numpy as np

    if isinstance(value, bool | np.bool_):
        return []
    if isinstance(value, int | np.integer):
        v = int(value)
        low = 0 if v >= 0 else None
        near = [v + step, v + 2 * step, v - step, v + 5 * step, 0 if v % step == 0 else v]
        return [n for n in dict.fromkeys(near) if (low is None or n >= low) and n != v]
    if _is_probability(value):
        edges = [value / 2, (1 + value) / 2, 1 - value, 0.0, 1.0]
        return [x for x in dict.fromkeys(edges) if x != value]
    if isinstance(value, float | np.floating):
        x = float(value)
        return [x * 1.5, x * 0.5, -x, x + 0.37, 0.0] if x else [0.3, -0.3, 1.0]
    if isinstance(value, np.ndarray) and value.dtype.kind in "iuf":
        if value.dtype.kind in "iu":
            return [value + 1, np.zeros_like(value)]
        return [value * 1.5, _symmetric_like(value, value + rng.normal(0, 0.3, value.shape)),
                -value, np.zeros_like(value)]
    if isinstance(value, list | tuple) and value and all(_is_number(v) for v in value):
        bumped = [variants(v, rng)[:1] or [v] for v in value]
        return [type(value)(b[0] for b in bumped)]
    return []


def drawn(value: Any, rng: Any, step: int = 1) -> Any:
    """A random value near ``value``, of its type and shape."""
    import numpy as np

    if isinstance(value, bool | np.bool_):
        return value
    if isinstance(value, int | np.integer):
        v = int(value) + step * int(rng.integers(-2 // step, 4 // step + 1))
        return v if int(value) < 0 or v >= 0 else int(value)
    if _is_probability(value):
        return float(rng.uniform(0.0, 1.0))
    if isinstance(value, float | np.floating):
        return float(value) * float(rng.uniform(0.3, 2.0)) + float(rng.normal(0, 0.3))
    if isinstance(value, np.ndarray) and value.dtype.kind in "iuf":
        if value.dtype.kind in "iu":
            return value + rng.integers(-1, 3, value.shape)
        noisy = value * rng.uniform(0.5, 1.5) + rng.normal(0, 0.3, value.shape)
        return _symmetric_like(value, noisy)
    if isinstance(value, list | tuple) and all(_is_number(v) for v in value):
        return type(value)(drawn(v, rng) for v in value)
    return value


def _symmetric_like(original: Any, noisy: Any) -> Any:
    """``noisy``, made symmetric when ``original`` is a symmetric matrix."""
    import numpy as np

    if (original.ndim == 2 and original.shape[0] == original.shape[1]
            and np.allclose(original, original.T)):
        return (noisy + noisy.T) / 2
    return noisy
