"""The symbolic comparison engine: sympy expressions compared by sampling, then by the CAS.

Decision rule of :func:`compare` for one expression (dicts, lists and matrices apply it
entry by entry; shapes and keys must match):

0. **Declare.** Each declared name becomes one ``Symbol``: the reference's own symbol of
   that name (keeping its assumptions), plus the rubric's ``assumptions`` for it (any of
   ``real positive negative nonnegative nonpositive nonzero integer complex``), plus what its
   ``domain = [low, high]`` implies when no sign is given: ``real``, and ``positive``
   (low > 0), ``nonnegative`` (low >= 0), ``negative`` (high < 0) or ``nonpositive``
   (high <= 0). So the CAS and the sampling work on the same set of values: with
   ``x`` nonnegative, ``sqrt(x**2)`` is ``x``; for a plain ``x`` it is not.
1. **Normalise** both sides. Every free symbol is replaced by the declared symbol of the
   same name (a student's ``Symbol('w', real=True)`` is another object than
   ``Symbol('w')``). Applied undefined functions named in ``functions`` (``sigma(z)``) are
   replaced by their ``Lambda``, then derivatives and substitutions are carried out, so
   ``Derivative(sigma(z), z)`` becomes the explicit derivative. A symbol name that is not
   declared, or an undefined function that is not given, makes the answer NOT equal.
2. **Sample.** Up to ``3 * samples`` candidate points are drawn (``numpy`` generator seeded
   by ``seed``) with exact rational coordinates of random denominators (not a grid). In
   ``domain.get(name)`` when a domain is given; otherwise half of them in ``[-2, 2]`` and
   half far beyond it (sizes up to ``10**6``), on the side the symbol's sign allows
   (positive, nonnegative, negative, nonpositive; nonzero avoids 0); integer symbols take
   integers in -10..10 and up to ``10**6`` in size. A symbol with no assumption takes real
   values (the grader's default, whatever sympy assumes); one declared ``complex`` takes
   Gaussian rationals ``a + b*I``, ``a`` and ``b`` drawn as a real coordinate is, one
   point in four on the real axis and one in eight on the imaginary axis (where the branch
   cuts of roots and logarithms lie), so ``re(x)``, ``conjugate(x)``, ``log(exp(x))`` and
   ``sqrt(x*y)`` against ``sqrt(x)*sqrt(y)`` differ. The first ``samples`` points where the
   expected value is finite and real are kept (if fewer than half of ``samples`` are
   real, the finite complex ones are kept too). Both sides are evaluated there to 30
   digits: a whitelist evaluator over mpmath for the elementary functions, ``evalf(n=30,
   subs=...)`` for anything else. Where ``|a - e| > atol + rtol * |e|`` (defaults
   ``rtol=1e-8``, ``atol=1e-12``) the point is re-evaluated at 60, 250, 1000 and 4000
   digits until the values agree or neither lost its digits to cancellation (so
   ``cosh(1000*x)**2 - sinh(1000*x)**2`` is 1); a point that still differs is a
   counterexample and the answer is NOT equal. Nothing overrules a counterexample, not
   even the CAS. Far out, an overflow is no evidence. Then each symbol takes values just
   past the largest constants of the two sides (``c + 1``, ``2c + 1`` and their
   negatives, within the domain and the assumptions; a domain's ends and halfway to
   them), where ``Min(n, 10**5)`` and ``n`` part. A small integer domain (fewer points
   than ``3 * samples``) is sampled whole. Identical normalised expressions are equal
   without sampling.

   **Exact values.** When neither side has a float and the rubric gave no ``rtol`` or
   ``atol``, the tolerance is what the precision resolves (``rtol=1e-20``,
   ``atol=1e-25``) and: constants are compared exactly (rationals as they are, others by
   sympy's strict adaptive ``evalf``, the minimal polynomial or the CAS; agreement to 1000
   digits counts as equal unless some part of a side is astronomically small or large,
   then the CAS decides or it is undecidable); two rational functions over the
   rationals (any degree and size) are decided by an identity test at random points
   modulo the prime ``2**61 - 1`` (:mod:`grader.checks.algebra.exact`), unless an integer
   symbol has a finite domain; its "identical" comes before sampling (which cancellation
   could fool), its "different" after (for the message). Other expressions are also
   evaluated at two points of the box to 120 digits (a difference of ``10**-30`` shows);
   where a part of them is beyond ``10**80`` in size there, agreement is no evidence and
   the verdict is the CAS's or undecidable. Interval ends, set elements, equations and relations use
   the same exact rules.

   **Boundary points** (:mod:`grader.checks.algebra.boundaries`). Where a side has
   ``sign``, ``Heaviside``, ``Abs``, ``floor``, ``ceiling``, ``frac``, ``Mod``, ``Min``,
   ``Max``, ``atan2`` or a ``Piecewise``, both are also evaluated exactly at the points
   where those switch, which random points never meet: the real zeros of the arguments
   of ``sign``/``Heaviside``/``Abs`` and of ``lhs - rhs`` of each ``Piecewise``
   condition, points where a rounded argument is an integer, where two ``Min``/``Max``
   arguments are equal. They are found by ``solveset`` under a budget of 2 s, one symbol
   at a time with the others at points of the box; a difference there is NOT equal
   (``Heaviside(x, 1)`` against ``(1 + sign(x))/2`` at 0, ``floor(x)`` against
   ``ceiling(x) - 1``). A point where a side is undefined is no difference (the
   grader compares where both are defined, so ``Abs(x)/x`` is ``sign(x)``). When the
   switch points of a jump (not ``Abs``, ``Min``, ``Max``, which are continuous) cannot be
   found (``sign(x - cos(x))``), the answer is equal only if the CAS proves it, else
   undecidable.
3. **No counterexample.** When at least 12 distinct points agree (or neither side has a
   free symbol, so the one evaluation is exact enough) the answer is equal ("equal at N
   sample points") and the CAS is skipped: sampling has decided and ``simplify`` could
   only confirm it. Otherwise the CAS is tried: ``e - a`` is tested for zero after
   ``expand`` (skipped when large powers would blow up), ``cancel``, then ``simplify``
   under a budget of 2 s of CPU time (``signal.setitimer``; in a thread other than the
   main one only the cheap steps run). Zero means equal.
4. **CAS undecided.** Equal if at least half of ``samples`` distinct points agreed;
   otherwise undecidable (``equal=None``): the expected value is undefined at too many
   points, or its symbols take too few distinct values (small integer domains).
5. **Form** (only when the check asks, ``form = [...]``): an answer equal by 1-4 must
   also be ``factored`` (a product whose polynomial factors are irreducible over the
   rationals with no integer content, ``2*(x - 1)`` but not ``2*x - 2`` or
   ``(x + 2)*(2*x + 6)``), ``expanded`` (``expand`` leaves it unchanged) or have
   ``no_derivative`` (no unevaluated ``Derivative``, ``Subs`` or ``Integral``), else it
   is NOT equal, with a message saying the value is right but the form is not. Sympy
   evaluates a number times a sum as it builds it, so ``2*(x - 1)`` typed as text is
   read as ``2*x - 2``.

Floats are numbers like any other (``0.099`` equals ``99/1000`` within tolerance).

Other kinds of expected value:

* **Equations** (``Eq``) are equal when ``lhs - rhs`` of both agree up to a nonzero
  constant factor (so swapped sides and scaled equations are equal), or else when they
  have the same solution set under the declared assumptions and domain: with one
  unknown by ``solveset`` (over the integers, reals or complex numbers), with several by
  the rule of systems below; a solution of one that is not one of the other (found by
  solving for one unknown at a few points) makes them NOT equal. ``x**2 = 4`` is not
  ``x = 2``; ``x*y = 1`` is ``y = 1/x``; ``(x - 2)**2 = 0`` is ``x = 2``. When sympy
  cannot find or compare the solution sets the verdict is undecidable. With one free
  symbol, an answer that is not an equation (``x >= 1 and x <= 1`` for ``x = 1``) is
  compared by the set it denotes, as below.
* **Inequalities, intervals and sets** are compared by the set of real numbers they
  denote. A relation (``<, <=, >, >=, !=``, ``Eq``, ``And``/``Or``/``Not`` of them) in one
  free symbol is turned into a set by sympy (``as_set``), cut to the values its
  assumptions and domain allow (``log(x) < 0`` is ``0 < x < 1`` for a positive x);
  sets (``Interval``, ``FiniteSet``, ``Union``, ``Intersection``, ``EmptySet``,
  ``Reals``) are taken as they are. Two sets are equal when sympy's canonical forms
  break into the same intervals and points, endpoints equal (exactly for exact values,
  else within the tolerance) and each endpoint open or closed alike (``x > 2``, ``2 <
  x`` and ``Interval.open(2, oo)`` are one set; ``x >= 2`` is not).
  Finite sets of expressions are matched element by element in any order. Relations in
  several variables are equal when both are the same kind of inequality (``>`` and
  ``<`` counted as one, after moving terms) with ``lhs - rhs`` a *positive* constant
  multiple of each other (any nonzero multiple for ``!=``); otherwise they are NOT equal
  when a sample point (or a point on the expected boundary, found by solving for one
  variable) satisfies one and not the other, and undecidable when neither is found.
* **Systems** (``compare = "system"``): a list of equations (an expression counts as
  ``expr = 0``) stands for its set of solutions in the declared symbols that occur. Both
  lists are solved with ``sympy.solve(..., dict=True)`` under the time budget. Every
  solution of each side (a family, when some unknowns stay free: sampled at several
  points) must satisfy every equation of the other side within the tolerance; a
  solution that does not is a counterexample (NOT equal). With no counterexample the
  systems are equal when both are polynomial (sympy's solutions of those are complete)
  and both could be solved; otherwise undecidable. Polynomial systems are also compared
  exactly: the same complex solutions exactly when each polynomial of one lies in the
  radical of the other's ideal (a Groebner basis decides it), so a quintic sympy cannot
  solve is still decided; sympy's "no solutions" alone is never taken as proof, and
  different complex solutions with real unknowns leave the verdict undecidable.
  Multiplicities do not count: ``(x - 1)**2 = 0`` and ``x = 1`` have the same solutions.
* **Order terms and polynomials**: with ``series_order = n`` both sides lose their
  ``O(...)`` and are compared below ``x**n``; without it an answer with an order term
  the expected value lacks is NOT equal (the message says to remove it), and two values
  with the same order term compare by the rest (so a mistake can hold one). A
  ``Poly`` compares as its expression.
* **Matrices** are compared entry by entry after their shapes, which must match: a row
  where a column is expected is NOT equal (the hint says transposed); a flat Python
  list, which has no orientation, is read in the orientation of the expected vector.

Text answers are read by :func:`grader.parse.parse_expression` in the check's
``input_syntax`` (``python``, or ``math`` where ``^`` is a power and ``2x`` is ``2*x``),
with the declared symbols and functions as the only names.

Every comparison runs under a budget of 8 s of the grader's CPU time in the main thread
(and 4 times that on the clock, for one that waits instead of computing), so that a
loaded machine does not change a verdict; one that runs out is undecidable, never a
verdict. Results are cached (LRU, 4096 entries) by the structure of
expected, received and every option, so a batch of identical answers is compared once.
"""

from __future__ import annotations

from grader.checks.algebra.cache import clear_cache
from grader.checks.algebra.comparing import compare, compare_with
from grader.checks.algebra.display import mathml
from grader.checks.algebra.reading import parse_text
from grader.checks.algebra.setup import DEFAULT_ATOL, DEFAULT_RTOL, declare

__all__ = ["DEFAULT_ATOL", "DEFAULT_RTOL", "clear_cache", "compare", "compare_with", "declare",
           "mathml", "parse_text"]
