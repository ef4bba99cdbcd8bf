"""The setup of a symbolic comparison: declared symbols, functions and options (hashable)."""

from __future__ import annotations

import functools
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import sympy as sp

DEFAULT_RTOL = 1e-8
DEFAULT_ATOL = 1e-12


@dataclass(frozen=True)
class _Setup:
    """Everything a comparison depends on besides the two values; hashable for caches."""

    symbols: tuple[tuple[str, sp.Symbol], ...]  # in the caller's order (for messages)
    functions: tuple[tuple[str, sp.Lambda], ...]
    domain: tuple[tuple[str, tuple[float, float]], ...]
    rtol: float
    atol: float
    samples: int
    seed: int
    syntax: str = "python"
    form: tuple[str, ...] = ()
    mode: str | None = None
    tolerant: bool = False  # the rubric gave rtol or atol: tolerances apply to exact values too
    series_order: int | None = None  # compare answers with O(x**n) by their polynomial part

    @staticmethod
    def make(symbols: Mapping[str, sp.Symbol], functions: Mapping[str, sp.Lambda] | None,
             domain: Mapping[str, tuple[float, float]] | None, rtol: float | None,
             atol: float | None, samples: int, seed: int, *, syntax: str = "python",
             form: tuple[str, ...] = (), mode: str | None = None,
             series_order: int | None = None) -> _Setup:
        from grader.checks.vocabulary import COMPARE_MODES, FORMS, INPUT_SYNTAXES

        if syntax not in INPUT_SYNTAXES:
            raise ValueError(f"input_syntax must be one of {', '.join(INPUT_SYNTAXES)}")
        if any(f not in FORMS for f in form):
            raise ValueError(f"form must list some of {', '.join(FORMS)}")
        if mode is not None and mode not in COMPARE_MODES:
            raise ValueError(f"compare must be one of {', '.join(COMPARE_MODES)}")
        return _Setup(
            symbols=tuple((str(k), v) for k, v in symbols.items()),
            functions=tuple(sorted((functions or {}).items())),
            domain=tuple(sorted((k, (float(v[0]), float(v[1])))
                                for k, v in (domain or {}).items())),
            rtol=DEFAULT_RTOL if rtol is None else float(rtol),
            atol=DEFAULT_ATOL if atol is None else float(atol),
            samples=max(1, int(samples)),
            seed=int(seed),
            syntax=syntax,
            form=tuple(form),
            mode=mode,
            tolerant=rtol is not None or atol is not None,
            series_order=None if series_order is None else int(series_order),
        )

    @property
    def declared(self) -> dict[str, sp.Symbol]:
        return dict(self.symbols)

    @property
    def names(self) -> str:
        return ", ".join(name for name, _ in self.symbols) or "(none)"


def declare(symbols: Mapping[str, Any], assumptions: Mapping[str, str] | None = None,
            domain: Mapping[str, tuple[float, float]] | None = None) -> dict[str, sp.Symbol]:
    """The declared symbols: given ones (or names), plus assumptions and domain signs.

    Raises ``ValueError`` for an assumption sympy does not know and sympy's own error for
    contradictory ones; both are rubric errors, caught at load time by the rubric loader.
    """
    from grader.checks.vocabulary import ASSUMPTIONS

    out: dict[str, sp.Symbol] = {}
    for name, given in symbols.items():
        symbol = given if isinstance(given, sp.Symbol) else sp.Symbol(str(name))
        words = (assumptions or {}).get(name, "").split()
        unknown = [w for w in words if w not in ASSUMPTIONS]
        if unknown:
            raise ValueError(f"unknown assumption {unknown[0]!r} for {name}; allowed: "
                             f"{', '.join(ASSUMPTIONS)}")
        extra = dict.fromkeys(words, True)
        bounds = (domain or {}).get(name)
        signs = ("positive", "negative", "nonnegative", "nonpositive")
        signed = any(w in extra for w in signs) or any(
            getattr(symbol, f"is_{w}") is True for w in signs)
        if bounds is not None:
            extra.setdefault("real", True)
            low, high = float(bounds[0]), float(bounds[1])
            if not signed:
                if low > 0:
                    extra["positive"] = True
                elif low >= 0:
                    extra["nonnegative"] = True
                elif high < 0:
                    extra["negative"] = True
                elif high <= 0:
                    extra["nonpositive"] = True
        if extra:
            kept = {k: v for k, v in symbol.assumptions0.items()
                    if k in ASSUMPTIONS and v is True}
            symbol = sp.Symbol(str(name), **{**kept, **extra})
        out[str(name)] = symbol
    return out


def _declared(names: tuple[str, ...], reference_value: Any) -> dict[str, sp.Symbol]:
    """``Symbol(name)`` for each declared name, keeping the reference's assumptions.

    When the trusted reference expression uses ``Symbol('x', positive=True)`` that symbol
    is the declared one, so sampling honours its assumptions.
    """
    found: dict[str, sp.Symbol] = {}
    for obj in _sympy_objects(reference_value):
        for s in obj.free_symbols:
            if isinstance(s, sp.Symbol) and s.name in names:
                found.setdefault(s.name, s)
    return {n: found.get(n, sp.Symbol(n)) for n in names}


def _sympy_objects(value: Any) -> Iterator[Any]:
    if isinstance(value, sp.Basic | sp.MatrixBase):
        yield value
    elif isinstance(value, Mapping):
        for v in value.values():
            yield from _sympy_objects(v)
    elif isinstance(value, list | tuple):
        for v in value:
            yield from _sympy_objects(v)


@functools.lru_cache(maxsize=128)
def _functions(items: tuple[tuple[str, tuple[str, str]], ...],
               symbols: tuple[tuple[str, Any], ...]) -> dict[str, Any]:
    """The rubric's functions ``name = [param, body]`` as sympy Lambdas (cached)."""
    out: dict[str, Any] = {}
    if not items:
        return out
    from grader.parse import parse_expression

    for name, (param, body) in items:
        p = sp.Symbol(param)
        out[name] = sp.Lambda(p, parse_expression(body, symbols={**dict(symbols), param: p}))
    return out
