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

Numbers as written: integers stay exact at any size, inside lists too (past int64 a list
is kept as Python numbers and compared entry by entry by the scalar rule, never through
floats), and a literal a float cannot hold is never turned into ``inf`` or ``0.0``:
``1e400`` and ``1e-400`` stay the exact Fraction they write (so ``1e400`` is not
``2e400``, and is within ``rtol = 1e-6`` of ``1.0000001e400``), and literals beyond
``10**±4000`` are refused ("beyond the grader's range"). An exact number is never equal
to an infinity.

Options on the whole value: ``unordered`` compares the top-level list, tuple, set or
array (its rows, for 2-D) as a multiset: every expected element is matched to a
different received one by a maximum bipartite matching under the tolerance (never by
sorting, so ``[1.0, 1.0000001]`` against ``[1.0000001, 1.0]`` and near-equal neighbours
are safe). A Python ``set`` or ``frozenset`` is accepted only there; without
``unordered`` a set is not a list. ``squeeze`` drops every length-1 axis on both sides
before comparing (a ``(3, 1)`` column equals a ``(3,)`` vector, ``[[5]]`` equals ``5``);
with ``unordered`` the top axis is kept, since it holds the elements. Without it, shapes
stay strict.

``up_to_sign`` alone accepts ``e`` or ``-e`` as a whole, entry by entry under the number
rule (eigenvectors of a fixed length). ``up_to_scale`` accepts ``k * e`` for a real
``k > 0`` (any real ``k != 0`` together with ``up_to_sign``), compared as directions: a
vector whose Euclidean norm is at most ``atol`` is the zero vector, which equals the zero
vector only and never a non-zero one (so rounding noise such as
``[2.2e-16, -1.1e-16, 4.4e-16]`` is no eigenvector); otherwise ``k`` is the least-squares
factor (the answer's projection on ``e``) and the sine of the angle between the answer
``a`` and ``e``, ``|a - k*e| / |a|`` in the Euclidean norm, must be at most
``rtol + atol / |e|`` (the tolerance rule ``atol + rtol*|e|`` applied to the answer
rescaled to the expected's length), so zero entries need no ``atol`` of their own and
``2*e`` passes even with both tolerances 0; ``k < 0`` needs ``up_to_sign``. Under
``sigfigs`` or ``decimals``, ``a / k`` and ``e`` agree entry by entry when rounded. With
``unordered`` these two apply to each element.

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
