"""Size checks: refuse numbers that sympy would make huge, or be slow to simplify.

Sympy does automatic simplification while building, and a few of its operations blow up on
small input: powers of numbers, roots of large numbers, ``exp`` of logarithms, sums and
products that multiply numbers out. These checks run on the already-built arguments,
before sympy gets to run the operation, and once more over the finished result.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

import sympy

from grader.parse.limits import (
    MAX_EXP_FLOAT_ARG,
    MAX_FLOAT_MAGNITUDE,
    MAX_POW_EXPONENT,
    MAX_RESULT_DIGITS,
    MAX_ROOT_WORK,
    MAX_ROOTS,
)
from grader.parse.source import _Call, _Source

_LOG10_2 = math.log10(2)
_MAX_RESULT_BITS = math.ceil(MAX_RESULT_DIGITS / _LOG10_2)


def _digits(number: Any) -> float:
    """Decimal size of a number: digits of numerator/denominator, or of a Float's magnitude."""
    if isinstance(number, sympy.Rational):
        return max(number.p.bit_length(), number.q.bit_length()) * _LOG10_2
    if isinstance(number, sympy.Float):
        _sign, mantissa, exponent, bits = number._mpf_
        return abs(exponent + bits) * _LOG10_2 if mantissa else 0.0
    return 0.0


def _exceeds(number: Any, limit: int) -> bool:
    """Whether ``|number| > limit`` for a Rational or Float, without making huge values."""
    if isinstance(number, sympy.Rational):
        return bool(abs(number.p) > limit * number.q)
    return bool(abs(float(number)) > limit)


def _check_number(call: _Call, number: Any) -> None:
    if isinstance(number, sympy.Rational):
        if max(number.p.bit_length(), number.q.bit_length()) > _MAX_RESULT_BITS:
            call.fail(f"{call.name}(...) gives a number with more than {MAX_RESULT_DIGITS} digits")
    elif isinstance(number, sympy.Float):
        _sign, mantissa, exponent, bits = number._mpf_
        if mantissa and (exponent + bits) * _LOG10_2 > MAX_FLOAT_MAGNITUDE + 1:
            call.fail(f"{call.name}(...) gives a float larger than 1e{MAX_FLOAT_MAGNITUDE}")


def _check_built(call: _Call, result: Any) -> None:
    """Refuse a just-built object whose own numbers are too large (deeper ones were checked)."""
    if isinstance(result, sympy.Number):
        _check_number(call, result)
    elif isinstance(result, sympy.Add | sympy.Mul) and result.args:
        _check_number(call, result.args[0])  # the numeric term/coefficient sorts first


def _raised_numbers(base: Any) -> list[Any]:
    """The numbers sympy would actually raise to a power when it evaluates ``base**e``."""
    found = []
    stack = [base]
    while stack:
        item = stack.pop()
        if isinstance(item, sympy.Rational | sympy.Float):
            found.append(item)
        elif isinstance(item, sympy.Mul):  # (a*b)**n distributes over the factors
            stack.extend(item.args)
        elif isinstance(item, sympy.Pow):  # (b**c)**n may become b**(c*n)
            stack.append(item.base)
    return found


def _check_pow(call: _Call, base: Any, exponent: Any) -> None:
    """Refuse a power of numbers whose value would be huge or costly to simplify."""
    if base is sympy.E:  # E**x is exp(x), which turns exp(k*log(n)) into n**k
        _check_exp(call, exponent)
        return
    if not isinstance(exponent, sympy.Rational | sympy.Float):
        return
    numbers = _raised_numbers(base)
    if not numbers:
        return
    if _exceeds(exponent, MAX_POW_EXPONENT):
        call.fail(
            f"a power of a number with an exponent larger than {MAX_POW_EXPONENT} is not allowed"
        )
    if max(_digits(n) for n in numbers) * abs(float(exponent)) > MAX_RESULT_DIGITS:
        call.fail(f"the power would have more than {MAX_RESULT_DIGITS} digits")
    if isinstance(exponent, sympy.Rational) and exponent.q != 1:
        for number in numbers:
            if not isinstance(number, sympy.Rational):
                continue
            if _root_work(number, exponent) > MAX_ROOT_WORK:
                call.fail(
                    "a fractional power of so large a number is not allowed "
                    f"(digits times root index is over {MAX_ROOT_WORK})"
                )
            call.budget.roots.add((number, exponent.q))
        if len(call.budget.roots) > MAX_ROOTS:
            call.fail(f"more than {MAX_ROOTS} different roots of numbers in one expression")


def _root_work(number: Any, exponent: Any) -> float:
    """How hard sympy works to simplify ``number**(p/q)``: digits times ``q``.

    Sympy factors the number and may build powers up to ``q - 1`` of its factors.
    """
    digits = (number.p.bit_length() + number.q.bit_length()) * _LOG10_2
    return float(digits * exponent.q)


def _check_exp(call: _Call, argument: Any) -> None:
    """Refuse exp(x) that sympy would turn into a huge power or a costly float."""
    for term in sympy.Add.make_args(argument):
        if isinstance(term, sympy.Float) and _exceeds(term, MAX_EXP_FLOAT_ARG):
            call.fail(f"{call.name} of a float larger than {MAX_EXP_FLOAT_ARG} is not allowed")
        if not isinstance(term, sympy.Expr):
            continue  # sympy refuses it later, with its own message
        coeff, rest = term.as_coeff_Mul()
        if isinstance(rest, sympy.log) and len(rest.args) == 1:
            _check_pow(call, rest.args[0], coeff)


def _check_add(call: _Call, args: Sequence[Any]) -> None:
    """Refuse a sum whose exact coefficients, once combined, could have too many digits."""
    sizes: dict[Any, float] = {}
    for arg in args:
        for term in sympy.Add.make_args(arg):
            if not isinstance(term, sympy.Expr):
                continue  # sympy refuses it later, with its own message
            coeff, rest = term.as_coeff_Mul()
            if isinstance(coeff, sympy.Rational):
                sizes[rest] = sizes.get(rest, 0.0) + _digits(coeff)
                if sizes[rest] > MAX_RESULT_DIGITS:
                    call.fail(
                        f"the sum would have a number with more than {MAX_RESULT_DIGITS} digits"
                    )


def _check_mul(call: _Call, args: Sequence[Any]) -> None:
    """Refuse a product whose numbers, or numbers under roots, sympy would multiply out."""
    exact = 0.0
    radical = 0.0
    for arg in args:
        for factor in sympy.Mul.make_args(arg):
            if isinstance(factor, sympy.Rational):
                exact += _digits(factor)
            elif (
                isinstance(factor, sympy.Pow)
                and isinstance(factor.base, sympy.Rational)
                and isinstance(factor.exp, sympy.Rational)
                and factor.exp.q != 1
            ):
                radical += _root_work(factor.base, factor.exp)
    if exact > MAX_RESULT_DIGITS:
        call.fail(f"the product would have more than {MAX_RESULT_DIGITS} digits")
    if radical > MAX_ROOT_WORK:
        call.fail(
            "the product has roots of too large numbers "
            f"(digits times root index is over {MAX_ROOT_WORK} in all)"
        )


def _check_final(src: _Source, result: Any) -> None:
    """Last pass over every number in the result, whatever sympy did while building."""
    numbers = result.atoms(sympy.Number) if isinstance(result, sympy.Basic) else ()
    call = _Call("the expression", [], {}, None, src)
    for number in numbers:
        _check_number(call, number)
