"""The numeric comparison engine: numbers, arrays, nested lists and dicts, within tolerances.

Tolerance rule: a received number ``a`` equals the expected ``e`` when
``|a - e| <= atol + rtol * |e|`` (relative to the *expected* value; for complex
numbers ``|.|`` is the complex modulus). Defaults when a tolerance is ``None``:
``rtol = 1e-6`` and ``atol = 1e-9``. When the expected value is an integer (a Python
``int`` or numpy integer, scalar or array) and *no* tolerance option is given, equality
is exact, but an exactly integral float (``661.0``) equals ``661``. When only one
tolerance is given the other takes its default above. A float within a billionth of the
boundary is decided again in exact decimal arithmetic on the numbers as written (their
shortest ``repr``), so ``1.05`` is within 5% of ``1`` although ``1.05 - 1`` is
``0.050000000000000044`` in binary.

Instead of ``rtol``/``atol`` a check may ask for ``sigfigs = n`` (both numbers, rounded
half-up to ``n`` significant figures, are the same number: ``0.1429`` and ``0.14285``
both round to ``0.1429`` = 1/7 at 4 figures) or ``decimals = d`` (the same, rounded to
``d`` digits after the point). Rounding works on the decimal text of each number, so
``0.04985`` rounds up to ``0.0499`` as a person would; the number of digits the student
wrote is not checked.

Other rules: a bool is not a number (``True`` is not ``1`` and ``1`` is not ``True``)
unless ``bool_as_number``; NaN never equals anything unless ``equal_nan`` (then NaN
equals NaN); an infinity equals only the same infinity; complex numbers compare both
parts; shapes must match exactly (no broadcasting), and a mismatch names both shapes;
a wrong entry is named by its first index. Dicts compare by key, naming missing and
extra keys. Text received where a number is expected is read by a small parser of
numbers, fractions and bracketed lists (nothing is evaluated), falling back to the
whitelist parser :func:`grader.parse.parse_expression` for expressions such as
``sqrt(2)/2``.

Options on the whole value: ``unordered`` compares the top-level list, tuple or array
(its rows, for 2-D) as a multiset: every expected element is matched to a different
received one by a maximum bipartite matching under the tolerance (never by sorting, so
``[1.0, 1.0000001]`` against ``[1.0000001, 1.0]`` and near-equal neighbours are safe).
``up_to_sign`` accepts ``e`` or ``-e`` as a whole (eigenvectors); ``up_to_scale``
accepts ``k * e`` for one positive factor ``k`` (any nonzero ``k`` together with
``up_to_sign``), fitted by least squares and then checked entry by entry with the float
tolerance. With ``unordered`` these two apply to each element.

``compare`` never raises: a comparison the grader itself cannot do (its own bug, or
options that contradict each other) comes back as ``Comparison(equal=None)`` with a
message saying so.
"""

from __future__ import annotations

from grader.checks.numbers.arrays import array_diff
from grader.checks.numbers.reading import parse_text, squeezed
from grader.checks.numbers.rule import DEFAULT_ATOL, DEFAULT_RTOL, options_problem
from grader.checks.numbers.whole import compare

__all__ = ["DEFAULT_ATOL", "DEFAULT_RTOL", "array_diff", "compare", "options_problem",
           "parse_text", "squeezed"]
