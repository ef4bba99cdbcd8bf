"""Tables of equal forms and near misses for the symbolic comparator and its grade()."""

from __future__ import annotations

import signal
import threading
import time
import types
from typing import Any

import numpy as np
import pytest
import sympy as sp

from grader.answers import MISSING, CallableAnswer, Rejected
from grader.checks import Evidence
from grader.checks.algebra import compare
from grader.checks.options import Mistake
from grader.checks.protocol import CheckSpec
from grader.checks.registry import make_check
from grader.checks.symbolic import grade

w, b, x, t, lam, y, z = sp.symbols("w b x t lam y z")
beta1, beta2, m = sp.symbols("beta1 beta2 m")
sigma = sp.Function("sigma")
SIGMA = sp.Lambda(z, 1 / (1 + sp.exp(-z)))

HW2 = {n: sp.Symbol(n) for n in ("w", "b", "x", "t", "lam")}
FUNCS = {"sigma": SIGMA}

s = 1 / (1 + sp.exp(-(w * x + b)))  # explicit sigmoid
S = sigma(w * x + b)  # the same with the undefined function
DL_DW = lam * w + x * (s - t) * s * (1 - s)
TANH = sp.tanh((w * x + b) / 2)

xr = sp.Symbol("x", real=True)
wr = sp.Symbol("w", real=True)
xp = sp.Symbol("x", positive=True)
yp = sp.Symbol("y", positive=True)
tp = sp.Symbol("t", integer=True, positive=True)
n_np = sp.Symbol("n", integer=True, nonpositive=True)
n_int = sp.Symbol("n", integer=True)
k_int = sp.Symbol("k", integer=True)

GRADIENT_FORMS_EQUAL = [
    DL_DW,
    lam * w + x * (S - t) * S * (1 - S),
    lam * w + x * (S - t) * (S - S**2),
    lam * w + (S - t) * sp.Derivative(S, w),
    lam * w + (S - t) * S.diff(w),
    lam * w + (S - t) * sp.Derivative(sigma(z), z).subs(z, w * x + b) * x,
    lam * w + x * (s - t) * sp.exp(-(w * x + b)) / (1 + sp.exp(-(w * x + b))) ** 2,
    lam * wr + xr * (s - t) * s * (1 - s),  # the student's symbols carry assumptions
    sp.expand(lam * w + x * (s - t) * s * (1 - s)),
    lam * w + x * (S - t) * S * (1 - S) * sp.Float(1.0),
    lam * w + x * ((1 + TANH) / 2 - t) * (1 - TANH**2) / 4,  # sigma(z) = (1 + tanh(z/2))/2
]

GRADIENT_NEAR_MISSES = [
    lam * w - x * (s - t) * s * (1 - s),  # sign of the data term
    lam * w + x * (t - s) * s * (1 - s),  # target and prediction swapped
    -lam * w + x * (s - t) * s * (1 - s),  # sign of the regulariser
    lam * w / 2 + x * (s - t) * s * (1 - s),  # lam*w/2
    lam * w + (s - t) * s * (1 - s),  # missing x
    x * (s - t) * s * (1 - s),  # missing regulariser
    lam * w + x * (s - t) * s * (1 + s),  # 1 + s
    lam * w + x * (S - t) * S,  # missing (1 - s)
    lam * w + x * (sigma(w * x - b) - t) * sigma(w * x - b) * (1 - sigma(w * x - b)),
    lam * w + x * (sigma(w + x * b) - t) * sigma(w + x * b) * (1 - sigma(w + x * b)),
    DL_DW + sp.Float(1e-6),  # a tiny constant
    DL_DW * sp.Float(1.000001),  # a tiny factor
    lam * w + x**2 * (s - t) * s * (1 - s),
    lam * w + (S - t) * sp.Derivative(S, x),  # derivative by the wrong variable
]


@pytest.mark.parametrize("form", GRADIENT_FORMS_EQUAL)
def test_gradient_forms_are_equal(form: Any) -> None:
    result = compare(DL_DW, form, symbols=HW2, functions=FUNCS)
    assert result.equal is True, result.message


@pytest.mark.parametrize("form", GRADIENT_NEAR_MISSES)
def test_gradient_near_misses_are_not_equal(form: Any) -> None:
    result = compare(DL_DW, form, symbols=HW2, functions=FUNCS)
    assert result.equal is False, result.message
    assert result.message.startswith("differs at ")
    # and symmetric: the miss as the expected value rejects the right answer too
    assert compare(form, DL_DW, symbols=HW2, functions=FUNCS).equal is False


# (expected, received, symbols, options, equal)
CASES: list[tuple[Any, Any, dict[str, Any], dict[str, Any], bool | None]] = [
    # Adam's bias correction: which beta, and the exponent
    (1 - beta1**tp, 1 - beta1**tp, {"beta1": beta1, "beta2": beta2, "t": tp}, {}, True),
    (1 - beta1**tp, 1 - beta2**tp, {"beta1": beta1, "beta2": beta2, "t": tp}, {}, False),
    (1 - beta1**tp, 1 - beta1 ** (tp - 1), {"beta1": beta1, "beta2": beta2, "t": tp}, {}, False),
    (1 - beta1**tp, 1 - beta1 ** (tp + 1), {"beta1": beta1, "beta2": beta2, "t": tp}, {}, False),
    (1 - beta1**tp, 1 - beta1 * beta1 ** (tp - 1), {"beta1": beta1, "t": tp}, {}, True),
    (m / (1 - beta1**tp), m / (1 - beta2**tp), {"m": m, "beta1": beta1, "beta2": beta2, "t": tp},
     {}, False),
    # floats
    (sp.Rational(99, 1000), 0.099, {}, {}, True),
    (sp.Rational(99, 1000), sp.Float(0.099), {}, {}, True),
    (sp.Rational(99, 1000), 0.0991, {}, {}, False),
    (sp.Rational(99, 1000), 0.099000001, {}, {}, False),
    (sp.Rational(99, 1000), 0.0990000000001, {}, {}, True),
    (x / 10, sp.Float(0.1) * x, {"x": x}, {}, True),
    (x / 10, sp.Float(0.1001) * x, {"x": x}, {}, False),
    (sp.Integer(2), 2, {}, {}, True),
    (sp.Integer(2), np.float64(2.0), {}, {}, True),
    (sp.Integer(2), 3, {}, {}, False),
    (sp.sqrt(2), 1.4142135623730951, {}, {}, True),
    (sp.sqrt(2), 1.41421356, {}, {}, True),  # off by 2.4e-9, within rtol 1e-8
    (sp.sqrt(2), 1.414213, {}, {}, False),
    (sp.pi, 3.14159, {}, {}, False),
    # branches: the declared symbol's assumptions and the domain decide
    (x, sp.sqrt(x**2), {"x": x}, {}, False),
    (xp, sp.sqrt(xp**2), {"x": xp}, {}, True),
    (xp, sp.sqrt(x**2), {"x": xp}, {}, True),  # the student's plain x is the declared one
    (x, sp.sqrt(x**2), {"x": x}, {"domain": {"x": (0.5, 3.0)}}, True),
    (sp.Abs(x), sp.sqrt(x**2), {"x": x}, {}, True),
    (xp, sp.exp(sp.log(xp)), {"x": xp}, {}, True),
    (sp.log(xp * yp), sp.log(xp) + sp.log(yp), {"x": xp, "y": yp}, {}, True),
    (sp.log(x * y), sp.log(x) + sp.log(y), {"x": x, "y": y}, {}, False),
    (sp.log(x), sp.log(-x) + sp.I * sp.pi, {"x": x}, {"domain": {"x": (-2.0, -1.0)}}, True),
    # algebra
    ((x + 1) ** 2, x**2 + 2 * x + 1, {"x": x}, {}, True),
    ((x + 1) ** 2, x**2 + 2 * x, {"x": x}, {}, False),
    ((x + 1) ** 2, x**2 + 1, {"x": x}, {}, False),
    (sp.sin(x) ** 2 + sp.cos(x) ** 2, 1, {"x": x}, {}, True),
    (x + 1, (x**2 - 1) / (x - 1), {"x": x}, {}, True),
    (sp.exp(x + y), sp.exp(x) * sp.exp(y), {"x": x, "y": y}, {}, True),
    (sp.exp(x + y), sp.exp(x) + sp.exp(y), {"x": x, "y": y}, {}, False),
    (sp.atan(x), sp.asin(x / sp.sqrt(1 + x**2)), {"x": x}, {}, True),
    # undeclared names and unknown functions
    (x + y, x + sp.Symbol("q"), {"x": x, "y": y}, {}, False),
    (x, sp.Function("f")(x), {"x": x}, {}, False),
    (x, sigma(x), {"x": x}, {"functions": {}}, False),
    (SIGMA(x), sigma(x), {"x": x}, {"functions": FUNCS}, True),
    (SIGMA(SIGMA(x)), sigma(sigma(x)), {"x": x}, {"functions": FUNCS}, True),
    # equations: up to a nonzero constant factor, either side
    (sp.Eq(y, 2 * x + 1), sp.Eq(2 * x + 1, y), {"x": x, "y": y}, {}, True),
    (sp.Eq(y, 2 * x + 1), sp.Eq(2 * y, 4 * x + 2), {"x": x, "y": y}, {}, True),
    (sp.Eq(y, 2 * x + 1), sp.Eq(-3 * y + 6 * x, -3), {"x": x, "y": y}, {}, True),
    (sp.Eq(y, 2 * x + 1), sp.Eq(y, 2 * x + 2), {"x": x, "y": y}, {}, False),
    (sp.Eq(y, 2 * x + 1), sp.Eq(y, 2 * x), {"x": x, "y": y}, {}, False),
    (sp.Eq(y, 2 * x + 1), sp.Eq(x * y, x * (2 * x + 1)), {"x": x, "y": y}, {}, False),
    (sp.Eq(y, 2 * x + 1), 2 * x + 1, {"x": x, "y": y}, {}, False),
    (2 * x + 1, sp.Eq(y, 2 * x + 1), {"x": x, "y": y}, {}, False),
    # matrices, entry by entry
    (sp.Matrix([[x, 1], [0, x]]), sp.Matrix([[x, 1], [0, x]]), {"x": x}, {}, True),
    (sp.Matrix([[x, 1], [0, x]]), sp.ImmutableMatrix([[x, 1], [0, x**2 / x]]), {"x": x}, {},
     True),
    (sp.Matrix([[x, 1], [0, x]]), sp.Matrix([[x, 1], [1, x]]), {"x": x}, {}, False),
    (sp.Matrix([[x, 1], [0, x]]), sp.Matrix([x, 1]), {"x": x}, {}, False),
    (sp.Matrix([[x, 1], [0, x]]), [[x, 1], [0, x]], {"x": x}, {}, True),
    (sp.Matrix([[1, 2], [3, 4]]), np.array([[1.0, 2.0], [3.0, 4.0]]), {}, {}, True),
    (sp.Matrix([[1, 2], [3, 4]]), np.array([[1.0, 2.0], [3.0, 4.5]]), {}, {}, False),
    (sp.Matrix([x, 2 * x]), sp.Matrix([[x, 2 * x]]), {"x": x}, {}, False),  # row vs column
    (sp.Matrix([x, 2 * x]), [x, 2 * x], {"x": x}, {}, True),  # a flat list has no orientation
    (sp.Matrix([[x, 2 * x]]), [x, 2 * x], {"x": x}, {}, True),
    (sp.Matrix([[x, 1], [0, x]]), x, {"x": x}, {}, False),
    # dicts, key by key
    ({"w": x, "b": 1}, {"w": x, "b": 1}, {"x": x}, {}, True),
    ({"w": x, "b": 1}, {"w": x, "b": 2}, {"x": x}, {}, False),
    ({"w": x, "b": 1}, {"w": x}, {"x": x}, {}, False),
    ({"w": x, "b": 1}, {sp.Symbol("w"): x, sp.Symbol("b"): 1}, {"x": x}, {}, True),
    ({"w": x, "b": 1}, [x, 1], {"x": x}, {}, False),
    # lists and tuples
    ([x, x**2], (x, x * x), {"x": x}, {}, True),
    ([x, x**2], [x, x**3], {"x": x}, {}, False),
    ([x, x**2], [x], {"x": x}, {}, False),
    # not expressions at all
    (x, None, {"x": x}, {}, False),
    (x, True, {"x": x}, {}, False),
    (x, CallableAnswer("f", "(x)"), {"x": x}, {}, False),
    (x, Rejected("the sympy expression was refused"), {"x": x}, {}, False),
    (x, MISSING, {"x": x}, {}, False),
    (x, {"x": x}, {"x": x}, {}, False),
    (x, object(), {"x": x}, {}, False),
    # undefined points: a removable singularity on the grid is no counterexample, an
    # answer undefined everywhere is one
    (tp + 1, (tp**2 - 1) / (tp - 1), {"t": tp}, {}, True),
    ((tp**2 - 1) / (tp - 1), tp + 1, {"t": tp}, {}, True),
    (tp + 2, (tp**2 - 1) / (tp - 1), {"t": tp}, {}, False),
    (x, sp.zoo * x, {"x": x}, {}, False),
    (x, sp.nan, {"x": x}, {}, False),
    (sp.Integer(1), sp.zoo, {}, {}, False),
    (x, 1 / (x - 1) / (x - sp.Rational(-921, 1000)) / (x - sp.Rational(548, 1000)),
     {"x": x}, {}, False),
    # undecidable: the expected is undefined everywhere we sample, the CAS decides
    (sp.gamma(n_np), sp.gamma(n_np + 1) / n_np, {"n": n_np}, {}, True),
    (sp.gamma(n_np), sp.gamma(n_np) + 1, {"n": n_np}, {}, None),
    # a small integer domain: three agreeing values prove nothing, the CAS decides
    (n_int * (n_int + 1) / 2, (n_int**2 + n_int) / 2, {"n": n_int},
     {"domain": {"n": (1.0, 3.0)}}, True),
    (n_int * (n_int + 1) / 2, n_int * (n_int + 1) * (n_int - 1) * (n_int - 2) * (n_int - 3)
     + n_int * (n_int + 1) / 2, {"n": n_int}, {"domain": {"n": (1.0, 3.0)}}, None),
    (sp.Eq(n_int * (n_int + 1), 2 * k_int), sp.Eq(k_int, n_int * (n_int + 1) / 2),
     {"n": n_int, "k": k_int}, {"domain": {"n": (1.0, 3.0), "k": (1.0, 3.0)}}, True),
]


@pytest.mark.parametrize(("expected", "received", "symbols", "options", "equal"), CASES)
def test_compare_table(expected: Any, received: Any, symbols: dict[str, Any],
                       options: dict[str, Any], equal: bool | None) -> None:
    result = compare(expected, received, symbols=symbols, **options)
    assert result.equal is equal, result.message
    assert result.message or equal


# (expected, received, symbols, words)
MESSAGES: list[tuple[Any, Any, dict[str, Any], tuple[str, ...]]] = [
    (x + y, x + sp.Symbol("q"), {"w": w, "b": b, "x": x, "t": t, "lam": lam, "y": y},
     ("uses symbol 'q' which is not among w, b, x, t, lam, y",)),
    (x, sp.Function("f")(x), {"x": x}, ("function 'f'",)),
    (x, sp.sqrt(x**2), {"x": x}, ("differs at x=-", "expected -", "got 0.")),
    (sp.Matrix([[x, 1], [0, x]]), sp.Matrix([x, 1]), {"x": x}, ("2x2", "2x1")),
    (sp.Matrix([[x, 1], [0, x]]), sp.Matrix([[x, 1], [1, x]]), {"x": x}, ("entry (1, 0)",)),
    ({"w": x, "b": 1, "t": 2}, {"w": x, "b": 2, "q": 2}, {"x": x},
     ("wrong: 'b'", "missing keys: 't'", "extra keys: 'q'")),
    (sp.Eq(y, x), y - x, {"x": x, "y": y}, ("equation",)),
    (x, CallableAnswer("f"), {"x": x}, ("function",)),
    (sp.Rational(99, 1000), 0.0991, {}, ("0.099", "0.0991")),
]


@pytest.mark.parametrize(("expected", "received", "symbols", "words"), MESSAGES)
def test_compare_messages(expected: Any, received: Any, symbols: dict[str, Any],
                          words: tuple[str, ...]) -> None:
    result = compare(expected, received, symbols=symbols)
    assert result.equal is False
    for word in words:
        assert word in result.message, result.message


@pytest.mark.parametrize(("received", "hint"), [
    (-DL_DW, "sign flipped"),
    (2 * DL_DW, "off by a constant factor 2.0"),
    (DL_DW / 2, "off by a constant factor 0.5"),
    (DL_DW + 1, "differs at b="),
])
def test_hints(received: Any, hint: str) -> None:
    result = compare(DL_DW, received, symbols=HW2, functions=FUNCS)
    assert result.equal is False and result.hint.startswith(hint), result.hint


def test_counterexample_names_the_point() -> None:
    result = compare(DL_DW, -DL_DW, symbols=HW2, functions=FUNCS)
    assert result.equal is False
    assert all(f"{n}=" in result.message for n in HW2)


def test_sampling_is_deterministic_and_seeded() -> None:
    first = compare(x, sp.sqrt(x**2), symbols={"x": x})
    assert first == compare(x, sp.sqrt(x**2), symbols={"x": x})
    assert compare(x, sp.sqrt(x**2), symbols={"x": x}, seed=1).equal is False


def test_hostile_expressions_return_quickly() -> None:
    start = time.monotonic()
    assert compare(x, x ** (10**6), symbols={"x": x}).equal is False
    assert compare(x ** (10**6), x ** (10**6), symbols={"x": x}).equal is True
    assert compare((x + 1) ** (10**6), (x + 1) ** (10**6) * (1 + x - x), symbols={"x": x}).equal
    for depth in (300, 1500):
        nested = x
        for _ in range(depth):
            nested = sp.sin(nested, evaluate=False)
        assert compare(x, nested, symbols={"x": x}).equal in (False, None)
    wide = sp.Add(*[x**k / k for k in range(1, 2000)])
    assert compare(x, wide, symbols={"x": x}).equal is False
    tower = sp.exp(sp.exp(sp.exp(sp.exp(sp.exp(x)))))
    assert compare(x, tower, symbols={"x": x}).equal is False
    assert compare(tower, tower * (1 + x - x), symbols={"x": x}).equal is True
    assert compare(x, 2 ** (x * 10**4000), symbols={"x": x}).equal is False
    assert time.monotonic() - start < 20


def _spin(cpu_seconds: float) -> None:
    end = time.process_time() + cpu_seconds
    while time.process_time() < end:
        pass


def test_a_budget_counts_cpu_time_and_the_clock_only_as_a_backstop() -> None:
    from grader.checks import common

    cpu = time.process_time()
    with pytest.raises(common._Timeout) as caught, common._time_limit(0.2):
        while True:
            pass
    assert caught.value.cpu and 0.15 < time.process_time() - cpu < 1.5
    # Sleeping uses no CPU time: only the backstop, 4 times the budget, ends it.
    start = time.monotonic()
    with pytest.raises(common._Timeout) as caught, common._time_limit(0.2):
        time.sleep(60)
    assert not caught.value.cpu and 0.75 < time.monotonic() - start < 3
    assert signal.getitimer(signal.ITIMER_PROF) == signal.getitimer(signal.ITIMER_REAL) \
        == (0.0, 0.0)
    assert signal.getsignal(signal.SIGPROF) == signal.SIG_DFL


def test_a_budget_is_not_used_up_by_other_processes(crowded_cpu: int) -> None:
    from grader.checks import common

    finished = False
    start = time.monotonic()
    with common._budget(0.6):  # ends its body quietly once used up
        _spin(0.2)
        finished = True
    assert finished and time.monotonic() - start > 0.6  # more than the budget, on the clock


def test_works_outside_the_main_thread() -> None:
    out: list[Any] = []
    worker = threading.Thread(target=lambda: out.append(
        compare(DL_DW, lam * w + x * (S - t) * S * (1 - S), symbols=HW2, functions=FUNCS)))
    worker.start()
    worker.join(30)
    assert out and out[0].equal is True


def test_bad_setup_is_a_grader_problem_not_an_exception() -> None:
    result = compare(x, x, symbols={"x": x}, domain={"x": "wide"})  # type: ignore[dict-item]
    assert result.equal is None and "grader problem" in result.message


# --------------------------------------------------------------------------- strings


def test_text_answers_are_parsed() -> None:
    assert compare(DL_DW, "lam*w + x*(sigma(w*x+b) - t)*sigma(w*x+b)*(1 - sigma(w*x+b))",
                   symbols=HW2, functions=FUNCS).equal is True
    assert compare(DL_DW, "lam*w - x*(sigma(w*x+b) - t)*sigma(w*x+b)*(1 - sigma(w*x+b))",
                   symbols=HW2, functions=FUNCS).equal is False
    refused = compare(x, "__import__('os').system('true')", symbols={"x": x})
    assert refused.equal is False and refused.message


# --------------------------------------------------------------------------- grade()


def _gradients(sig: Any) -> dict[str, Any]:
    return {
        "w": lam * w + x * (sig - t) * sig * (1 - sig),
        "b": (sig - t) * sig * (1 - sig),
        "x": w * (sig - t) * sig * (1 - sig),
        "t": t - sig,
        "lam": w**2 / 2,
    }


y0 = 1 / (1 + sp.exp(-(sp.Rational(1, 10) * x + sp.Rational(1, 10))))
y0_flipped = 1 / (1 + sp.exp(-(sp.Rational(1, 10) * x - sp.Rational(1, 10))))

REFERENCE = types.SimpleNamespace(
    grads=_gradients(s),
    q3_3=sp.Rational(99, 1000) - sp.Rational(1, 10) * x * (y0 - t) * y0 * (1 - y0),
    q3_3_flipped_b0=(sp.Rational(99, 1000)
                     - sp.Rational(1, 10) * x * (y0_flipped - t) * y0_flipped * (1 - y0_flipped)),
    root=xp,
)


def _spec(answer: str, **kwargs: Any) -> CheckSpec:
    kwargs.setdefault("symbols", ("w", "b", "x", "t", "lam"))
    return make_check("symbolic", answer=answer, **kwargs)


def _grade(spec: CheckSpec, received: Any) -> Any:
    module = types.ModuleType("reference")
    module.__dict__.update(vars(REFERENCE))
    return grade(spec, Evidence(received=received, reference=module), 4.0)


def _functions_spec() -> dict[str, tuple[str, str]]:
    return {"sigma": ("z", "1/(1 + exp(-z))")}


def test_grade_passed_with_sigma_form() -> None:
    spec = _spec("grads", functions=_functions_spec())
    result = _grade(spec, _gradients(S))
    assert (result.status, result.score) == ("passed", 4.0), result.message
    assert result.expected is not None and "exp" in result.expected


def test_grade_dict_partial_credit() -> None:
    received = _gradients(S)
    received["b"] = -received["b"]
    spec = _spec("grads", functions=_functions_spec(), partial=True)
    result = _grade(spec, received)
    assert result.status == "partial" and result.score == pytest.approx(4.0 * 4 / 5, abs=1e-4)
    assert "'b'" in result.message
    no_partial = _grade(_spec("grads", functions=_functions_spec()), received)
    assert no_partial.status == "failed" and no_partial.score == 0


def test_grade_dict_missing_key() -> None:
    received = _gradients(S)
    del received["lam"]
    spec = _spec("grads", functions=_functions_spec(), partial=True)
    result = _grade(spec, received)
    assert result.status == "partial" and "Missing keys: 'lam'" in result.message


def test_grade_mistake_flipped_bias_sign() -> None:
    mistake = Mistake(id="flipped-b0", feedback="The bias enters with a plus sign.", credit=0.25,
                      reference="q3_3_flipped_b0")
    spec = _spec("q3_3", symbols=("x", "t"), mistakes=(mistake,))
    correct = 0.099 - 0.1 * x * (y0 - t) * y0 * (1 - y0)
    assert _grade(spec, correct).status == "passed"
    flipped = sp.Float(0.099) - sp.Float(0.1) * x * (y0_flipped - t) * y0_flipped * (
        1 - y0_flipped)
    result = _grade(spec, flipped)
    assert (result.status, result.mistake, result.score) == ("partial", "flipped-b0", 1.0)
    assert result.message == "The bias enters with a plus sign."
    other = _grade(spec, correct + x)
    assert other.status == "failed" and other.mistake is None and "Differs at" in other.message


def test_grade_mistake_given_as_text() -> None:
    mistake = Mistake(id="half", feedback="Where did the 1/2 go?", value={"lam": "w**2"})
    spec = _spec("grads", functions=_functions_spec(), mistakes=(mistake,),
                 value={"lam": "w**2/2"})
    assert _grade(spec, {"lam": w**2 / 2}).status == "passed"
    result = _grade(spec, {"lam": w**2})
    assert (result.status, result.mistake) == ("failed", "half")
    assert _grade(spec, {"lam": w**3}).mistake is None
    # a whole-answer mistake as text, with credit, on a single expression
    sign = Mistake(id="sign", feedback="Mind the sign.", value="-x*sigma(x)", credit=0.5)
    spec = _spec("single", symbols=("x",), functions=_functions_spec(), mistakes=(sign,),
                 value="x*sigma(x)")
    assert _grade(spec, "x*sigma(x)").status == "passed"
    result = _grade(spec, -x * sigma(x))
    assert (result.status, result.mistake, result.score) == ("partial", "sign", 2.0)


def test_grade_uses_reference_assumptions() -> None:
    spec = _spec("root", symbols=("x",))
    assert _grade(spec, sp.sqrt(x**2)).status == "passed"


def test_grade_missing_rejected_and_odd_values() -> None:
    spec = _spec("q3_3", symbols=("x", "t"))
    assert _grade(spec, MISSING).status == "missing"
    assert _grade(spec, Rejected("refused")).status == "error"
    for value in (None, 3, "", CallableAnswer("q3_3"), [1, 2], {"a": 1}):
        result = _grade(spec, value)
        assert result.status == "failed" and result.score == 0, value


def test_grade_reference_bug_is_an_error() -> None:
    result = _grade(_spec("nope"), x)
    assert result.status == "error" and "grader problem" in result.message


# --------------------------------------------------------------------------- evaluator


EVALUATED = [
    DL_DW, sp.sqrt(x), sp.sqrt(-x), x ** sp.Rational(1, 3), (-x) ** sp.Rational(2, 3),
    sp.log(x), sp.log(-x * y), sp.asin(x), sp.acos(2 * x), sp.atan(x), sp.atanh(x),
    sp.acosh(x), sp.asinh(x), sp.Abs(x - y), sp.exp(sp.I * x), sp.tan(x) * sp.cot(y),
    sp.sec(x) + sp.csc(y), sp.sinh(x) / sp.cosh(y), x**y, sp.pi * sp.E, sp.Piecewise((x, x > 0),
    (-x, True)), sp.floor(3 * x), sp.Max(x, y), sp.erf(x), sp.gamma(x + 3), sp.sign(x),
    sp.Heaviside(x), sp.Float(0.1) * x + sp.Rational(1, 3), x**-3, (x - y) ** 40,
]


@pytest.mark.parametrize("expr", EVALUATED)
def test_evaluator_agrees_with_evalf(expr: Any) -> None:
    from grader.checks.common import _evaluate, _mp

    ctx = _mp()
    for xv, yv in [("0.548", "-0.921"), ("-1.5", "0.25"), ("1.75", "1.999"), ("-0.3", "-2")]:
        point = {x: sp.Rational(xv), y: sp.Rational(yv), w: sp.Rational(1, 3),
                 b: sp.Rational(-1, 7), t: sp.Rational(1, 2), lam: sp.Rational(1, 10)}
        ours = _evaluate(expr, point)
        theirs = expr.evalf(n=40, subs=point)
        if theirs.has(sp.zoo, sp.nan, sp.oo, -sp.oo):
            assert ours is None or not ctx.isfinite(ours)
            continue
        re_part, im_part = theirs.as_real_imag()
        reference = ctx.mpc(str(re_part), str(im_part))
        assert ours is not None
        assert abs(ours - reference) <= 1e-25 * (1 + abs(reference)), (expr, point, ours)


# --------------------------------------------------------------------------- options

a_, b_, c_ = sp.symbols("a b c")

# (expected, received, symbols, options, equal)
OPTION_CASES: list[tuple[Any, Any, dict[str, Any], dict[str, Any], bool | None]] = [
    # assumptions declared by name; the reference's plain symbols take them on
    (x, sp.sqrt(x**2), {"x": x}, {"assumptions": {"x": "nonnegative"}}, True),
    (x, sp.sqrt(x**2), {"x": x}, {"assumptions": {"x": "nonpositive"}}, False),
    (-x, sp.sqrt(x**2), {"x": x}, {"assumptions": {"x": "negative"}}, True),
    (sp.Integer(1), (-1) ** (2 * n_int), {"n": sp.Symbol("n")}, {"assumptions": {"n": "integer"}},
     True),
    (sp.Integer(1), (-1) ** (2 * sp.Symbol("n")), {"n": sp.Symbol("n")}, {}, False),
    # a domain implies the sign: the CAS and the sampling agree on it
    (x, sp.sqrt(x**2), {"x": x}, {"domain": {"x": (0.0, 3.0)}}, True),
    (x, sp.sqrt(x**2), {"x": x}, {"domain": {"x": (-3.0, 3.0)}}, False),
    # branches show where the expected value is complex too
    (a_ ** (b_ * c_), (a_**b_) ** c_, {"a": a_, "b": b_, "c": c_}, {}, False),
    (a_ ** (b_ * c_), (a_**b_) ** c_, {"a": a_, "b": b_, "c": c_},
     {"assumptions": {"a": "positive"}}, True),
    (2 * sp.log(a_) + sp.log(b_), sp.log(a_**2 * b_), {"a": a_, "b": b_}, {}, False),
    (sp.sqrt(x) * sp.sqrt(x), x, {"x": x}, {}, True),
    # exact rational functions: a difference hidden by the tolerance still counts
    (x**13 * 10**12 + 1, x**13 * 10**12 + 2, {"x": x}, {"domain": {"x": (1.0, 2.0)}}, False),
    (x**13 * 10**12 + 1, x**13 * 10**12 + sp.Float(1.0000000001), {"x": x}, {}, True),
    # sets and inequalities
    (x > 2, sp.Interval.open(2, sp.oo), {"x": x}, {}, True),
    (x > 2, sp.Interval(2, sp.oo), {"x": x}, {}, False),
    (sp.Interval(0, 1), sp.Interval(0, sp.Float(1.0000000001)), {}, {}, True),
    (sp.Interval(0, 1), sp.Interval(0, sp.Float(1.001)), {}, {}, False),
    (sp.FiniteSet(1, 2), sp.FiniteSet(2, 1), {}, {}, True),
    (sp.FiniteSet(x, 2 * x), sp.FiniteSet(2 * x, x + x - x), {"x": x}, {}, True),
    (sp.FiniteSet(x, 2 * x), sp.FiniteSet(2 * x, 3 * x), {"x": x}, {}, False),
    (sp.Interval(0, 1), x > 0, {"x": x}, {}, False),
    (sp.Interval(0, 1), x**2 + 1, {"x": x}, {}, False),
    (x + y > 1, y > 1 - x, {"x": x, "y": y}, {}, True),
    (x + y > 1, 2 * x + 2 * y > 2, {"x": x, "y": y}, {}, True),
    (x + y > 1, x + y >= 1, {"x": x, "y": y}, {}, False),
    (x + y > 1, x + y < 1, {"x": x, "y": y}, {}, False),
    (x * y > 0, sp.Or(sp.And(x > 0, y > 0), sp.And(x < 0, y < 0)), {"x": x, "y": y}, {},
     None),
    (x * y > 0, sp.And(x > 0, y > 0), {"x": x, "y": y}, {}, False),
    (sp.Eq(x, 1), sp.And(x >= 1, x <= 1), {"x": x}, {}, True),
    (sp.Eq(x, 1), sp.And(x >= 1, x <= 2), {"x": x}, {}, False),
    # matrices: shapes must match
    (sp.Matrix([[1, 2]]), sp.Matrix([1, 2]), {}, {}, False),
    (sp.Matrix([[1, 2]]), np.array([1.0, 2.0]), {}, {}, True),
    (sp.Matrix([[1, 2]]), np.array([[1.0], [2.0]]), {}, {}, False),
    # forms, on sympy objects (what a kernel sends)
    (x**2 - 1, (x - 1) * (x + 1), {"x": x}, {"form": ("factored",)}, True),
    (x**2 - 1, x**2 - 1, {"x": x}, {"form": ("factored",)}, False),
    (x**2 - 1, (x - 1) * (x + 1), {"x": x}, {"form": ("expanded",)}, False),
    (x**2 - 1, x**2 - 1, {"x": x}, {"form": ("expanded",)}, True),
    (2 * x, sp.Derivative(x**2, x), {"x": x}, {}, True),
    (2 * x, sp.Derivative(x**2, x), {"x": x}, {"form": ("no_derivative",)}, False),
    (2 * x, 3 * x, {"x": x}, {"form": ("expanded",)}, False),  # form never rescues a value
    # typed answers in math syntax, with form read from the text
    (x**2 - 1, "(x-1)(x+1)", {"x": x}, {"input_syntax": "math"}, True),
    (2 * x - 2, "2(x-1)", {"x": x}, {"input_syntax": "math", "form": ("factored",)}, True),
    (2 * x - 2, "2x-2", {"x": x}, {"input_syntax": "math", "form": ("factored",)}, False),
    (2 * x - 2, "2(x-1)", {"x": x}, {"input_syntax": "math", "form": ("expanded",)}, False),
    (2 * x - 2, "2x-2", {"x": x}, {"input_syntax": "math", "form": ("expanded",)}, True),
    (x**2, "x^2", {"x": x}, {}, False),  # Python syntax: '^' is refused
    # systems of equations
    ([sp.Eq(x + y, 3), sp.Eq(x - y, 1)], [sp.Eq(x, 2), sp.Eq(y, 1)], {"x": x, "y": y},
     {"mode": "system"}, True),
    ([sp.Eq(x + y, 3), sp.Eq(x - y, 1)], [sp.Eq(x, 1), sp.Eq(y, 2)], {"x": x, "y": y},
     {"mode": "system"}, False),
    ([x**2 - 1], [sp.Eq(x, 1)], {"x": x}, {"mode": "system"}, False),
    ([sp.Eq((x - 1) ** 2, 0)], [sp.Eq(x, 1)], {"x": x}, {"mode": "system"}, True),
    ([sp.Eq(x, y)], [sp.Eq(2 * x, 2 * y)], {"x": x, "y": y}, {"mode": "system"}, True),
    ([sp.Eq(x, y)], [sp.Eq(x, -y)], {"x": x, "y": y}, {"mode": "system"}, False),
    ([sp.Eq(sp.exp(x), 2)], [sp.Eq(x, sp.log(2))], {"x": x}, {"mode": "system"}, None),
    ([sp.Eq(x, 1)], [sp.Eq(x, 1), x > 0], {"x": x}, {"mode": "system"}, False),
    ([sp.Eq(x, 1)], "[x == 1]", {"x": x}, {"mode": "system"}, True),
    ([sp.Eq(x, 1)], x - 1, {"x": x}, {"mode": "system"}, True),
]


@pytest.mark.parametrize(("expected", "received", "symbols", "options", "equal"), OPTION_CASES)
def test_compare_options(expected: Any, received: Any, symbols: dict[str, Any],
                         options: dict[str, Any], equal: bool | None) -> None:
    result = compare(expected, received, symbols=symbols, **options)
    assert result.equal is equal, result.message
    assert result.message


def test_declare_merges_assumptions_and_domain() -> None:
    from grader.checks.algebra import declare

    out = declare({"x": x, "t": tp, "u": "u"}, {"x": "integer"}, {"x": (1, 5), "u": (-3, -1)})
    assert out["x"].is_integer and out["x"].is_positive
    assert out["t"] is tp  # nothing to add
    assert out["u"].is_negative and out["u"].is_real
    with pytest.raises(ValueError):
        declare({"x": x}, {"x": "happy"})
    assert compare(x, x, symbols={"x": x}, assumptions={"x": "positive negative"}).equal is None


def test_messages_and_hints_of_the_new_comparisons() -> None:
    branch = compare(a_ ** (b_ * c_), (a_**b_) ** c_, symbols={"a": a_, "b": b_, "c": c_})
    assert "complex" in branch.message and branch.hint
    ends = compare(x > 2, x >= 2, symbols={"x": x})
    assert "2 should be excluded" in ends.hint
    exact = compare(x**13 * 10**12 + 1, x**13 * 10**12 + 2, symbols={"x": x},
                    domain={"x": (1.0, 2.0)})  # within rtol at every sample point
    assert exact.equal is False and "differs" in exact.message  # no tolerance: exact values
    form = compare(x**2 - 1, "x**2 - 1", symbols={"x": x}, form=("factored",))
    assert form.message.startswith("equal in value, but it is not fully factored")
    system = compare([sp.Eq(x**2, 4)], [sp.Eq(x, 2)], symbols={"x": x}, mode="system")
    assert "x=-2" in system.message and system.hint == "a solution is lost"
    shape = compare(sp.Matrix([[1, 2]]), sp.Matrix([1, 2]), symbols={})
    assert shape.hint.startswith("transposed")
    assert compare(x, x, symbols={"x": x}, mode="sets").equal is None
    assert compare(x, x, symbols={"x": x}, input_syntax="latex").equal is None


def test_results_are_cached_by_structure() -> None:
    from grader.checks.algebra import cache

    cache.clear_cache()
    first = compare(DL_DW, -DL_DW, symbols=HW2, functions=FUNCS)
    size = len(cache._CACHE)
    again = compare(DL_DW, -(lam * w + x * (s - t) * s * (1 - s)), symbols=HW2, functions=FUNCS)
    assert again == first and len(cache._CACHE) == size
    other = compare(DL_DW, DL_DW, symbols=HW2, functions=FUNCS, rtol=1e-3)
    assert other.equal is True and len(cache._CACHE) == size + 1
    # a symbol with other assumptions is another structure
    compare(xp, xp + 0, symbols={"x": xp})
    compare(xp, x, symbols={"x": xp})
    assert len(cache._CACHE) == size + 3


def test_a_comparison_a_time_budget_ran_out_in_is_not_cached(monkeypatch) -> None:
    # A warm grading process keeps the cache across students: what the load of the
    # machine made undecided during one student's check must not decide the next one's.
    from grader.checks import Comparison
    from grader.checks.algebra import cache
    from grader.checks.common import _budget

    monkeypatch.setattr(cache, "TIME_BUDGET", 0.05)
    cache.clear_cache()
    runs: list[str] = []

    def spin(seconds: float) -> None:
        ends = time.process_time() + seconds
        while time.process_time() < ends:
            pass

    def slow_once() -> Comparison:
        runs.append("slow")
        if len(runs) == 1:
            spin(5)  # the outer budget ends it
        return Comparison(equal=True)

    first = cache._cached(x, x, "setup", lambda: cache._guarded(slow_once))[0]
    assert first.equal is None and cache.timed_out(first)
    second = cache._cached(x, x, "setup", lambda: cache._guarded(slow_once))[0]
    assert second.equal is True and len(runs) == 2
    assert cache._cached(x, x, "setup", lambda: cache._guarded(slow_once))[0].equal is True
    assert len(runs) == 2  # decided in time: remembered

    def quietly_short() -> Comparison:
        runs.append("inner")
        with _budget(0.01):  # an inner budget gives up quietly; the outcome may differ
            spin(5)
        return Comparison(equal=False)

    for _ in range(2):
        assert cache._cached(y, y, "setup", lambda: cache._guarded(quietly_short))[0] \
            .equal is False
    assert runs.count("inner") == 2
    cache.clear_cache()


def test_a_timeout_is_told_by_its_catalogue_key_not_its_words() -> None:
    from grader.checks import Comparison
    from grader.checks.algebra import cache
    from grader.messages import Message, say

    assert cache.timed_out(Comparison(equal=None, message=say("check.sym.too_long",
                                                              spent="1 s")))
    # The same English words as text, or another key: not a timeout.
    words = Message(({"text": "the answer took too long to check (1 s); it needs a human"},))
    assert not cache.timed_out(Comparison(equal=None, message=words))
    assert not cache.timed_out(Comparison(equal=None, message=say("check.sym.too_deep")))
    assert not cache.timed_out(Comparison(equal=None, message="the answer took too long"))


def test_mathml() -> None:
    from grader.checks.algebra import mathml

    assert mathml(x**2).startswith("<msup>")
    table = mathml({"w": x, "<b>": y})
    assert table is not None and table.startswith("<mtable>") and "&lt;b&gt;" in table
    assert mathml(3) is None and mathml({"w": 1}) is None


def test_grade_fills_math_and_hint() -> None:
    spec = _spec("grads", functions=_functions_spec(), partial=True)
    received = _gradients(S)
    received["t"] = -received["t"]
    result = _grade(spec, received)
    assert result.status == "partial" and result.hint == "t: sign flipped"
    assert result.expected_math and result.expected_math.startswith("<mtable>")
    assert result.received_math and "sigma" not in result.expected_math
    hidden = _grade(_spec("grads", functions=_functions_spec(), visible=False), received)
    assert hidden.expected_math is None and hidden.received_math
    text = _grade(_spec("single", symbols=("x",), value="x**2"), "x*x")
    assert text.status == "passed" and text.received_math


def test_grade_with_the_new_options() -> None:
    spec = _spec("single", symbols=("x",), value="x**2 - 1", input_syntax="math",
                 form=("factored",))
    assert _grade(spec, "(x-1)(x+1)").status == "passed"
    result = _grade(spec, "x^2 - 1")
    assert result.status == "failed" and "factored" in result.message
    system = _spec("single", symbols=("x", "y"), value=["x + y == 3", "x - y == 1"],
                   compare="system")
    assert _grade(system, [sp.Eq(x, 2), sp.Eq(y, 1)]).status == "passed"
    assert _grade(system, [sp.Eq(x, 1), sp.Eq(y, 2)]).status == "failed"
    root = _spec("single", symbols=("x",), value="x", assumptions={"x": "positive"})
    assert _grade(root, sp.sqrt(x**2)).status == "passed"


def _rubric(tmp_path: Any, check: str) -> Any:
    from grader.rubric import load_rubric

    (tmp_path / "ref.py").write_text("q = None\n")
    (tmp_path / "r.toml").write_text(f"""
[assignment]
id = "t"
reference = "ref.py"
[[questions]]
id = "q1"
points = 1
[[questions.checks]]
answer = "q"
kind = "symbolic"
value = "x"
{check}
""")
    return load_rubric(tmp_path / "r.toml")


@pytest.mark.parametrize(("check", "key", "fragment"), [
    ('symbols = ["x"]\nassumptions = { y = "positive" }', "assumptions", "not declared"),
    ('symbols = ["x"]\nassumptions = { x = "happy" }', "assumptions", "real, positive"),
    ('symbols = ["x"]\nassumptions = { x = "positive negative" }', "assumptions",
     "contradictory"),
    ('symbols = ["x"]\nassumptions = { x = "" }', "assumptions", "space-separated"),
    ('symbols = ["x"]\nassumptions = { x = 1 }', "assumptions", "space-separated"),
    ('symbols = ["x"]\ndomain = { y = [0, 1] }', "domain", "not declared"),
    ('symbols = ["x"]\ncompare = "sets"', "compare", "system"),
    ('symbols = ["x"]\nform = ["factored", "expanded"]', "form", "both"),
    ('symbols = ["x"]\nform = ["tidy"]', "form", "no_derivative"),
    ('symbols = ["x"]\nform = ["factored", "factored"]', "form", "at most once"),
    ('symbols = ["x"]\ninput_syntax = "latex"', "input_syntax", "python, math"),
    ('symbols = ["x"]\nvariables = ["x"]', "variables", "not both"),
    ('variables = ["x", "x"]', "variables", "declared twice"),
    ('symbols = ["x"]\nsigfigs = 3', "sigfigs", "not an option of a symbolic check"),
    ('symbols = ["x"]\ncall_timeout = 3', "call_timeout", "not an option"),
])
def test_rubric_refuses_bad_symbolic_options(tmp_path: Any, check: str, key: str,
                                             fragment: str) -> None:
    from grader.errors import RubricError

    with pytest.raises(RubricError) as info:
        _rubric(tmp_path, check)
    assert info.value.key == key and info.value.question == "q1", str(info.value)
    assert fragment in str(info.value)


def test_rubric_reads_symbolic_options(tmp_path: Any) -> None:
    rubric = _rubric(tmp_path, 'variables = ["x", "n"]\nassumptions = { n = "positive integer" }\n'
                               'compare = "system"\nform = ["no_derivative"]\n'
                               'input_syntax = "math"')
    spec = rubric.questions[0].checks[0]
    assert spec.symbols == ("x", "n") and spec.assumptions == {"n": "positive integer"}
    assert (spec.compare, spec.form, spec.input_syntax) == ("system", ("no_derivative",), "math")


# --------------------------------------------------------------------------- issue 13

n_int = sp.Symbol("n", integer=True)
xr13 = sp.Symbol("x", real=True)
EXPANDED_13 = sp.expand((x + 10) ** 13)

# (expected, received, symbols, options, equal): near misses on both sides of each rule.
EXACT_CASES: list[tuple[Any, Any, dict[str, Any], dict[str, Any], bool | None]] = [
    # 1. exact where both sides are exact
    (sp.Integer(123456789), sp.Integer(123456790), {}, {}, False),
    (sp.Integer(123456789), sp.Integer(123456789), {}, {}, True),
    (sp.Integer(123456789), sp.Integer(123456790), {}, {"rtol": 1e-6}, True),  # asked for
    (sp.Integer(123456789), sp.Float(123456789.0), {}, {}, True),  # a float: tolerance
    ((x + 10) ** 13, EXPANDED_13 - 1, {"x": x}, {}, False),
    ((x + 10) ** 13, EXPANDED_13, {"x": x}, {}, True),
    (sp.Integer(1), 1 + x**2 / 10**13, {"x": x}, {}, False),
    (sp.Integer(1), 1 + x**2 / 10**13, {"x": x}, {"atol": 1e-3, "domain": {"x": (-1, 1)}},
     True),
    (x**400 + 1, x**400 + 1 + x**399 / 10**30, {"x": x}, {}, False),
    ((x + 1) ** 40, sp.expand((x + 1) ** 40), {"x": x}, {}, True),
    ((x**50 - 1) / (x - 1), sum(x**k for k in range(50)), {"x": x}, {}, True),
    ((x**50 - 1) / (x - 1), sum(x**k for k in range(49)), {"x": x}, {}, False),
    (n_int**2 + n_int, n_int * (n_int + 1), {"n": n_int}, {}, True),
    (n_int**2 + n_int, n_int * (n_int + 1) + 1, {"n": n_int}, {}, False),
    (sp.pi, sp.Rational(355, 113), {}, {}, False),
    (sp.sqrt(2) + sp.sqrt(3), sp.sqrt(5 + 2 * sp.sqrt(6)), {}, {}, True),
    (sp.Eq(x, 100000), sp.Eq(x, 100001), {"x": x}, {}, False),
    (sp.Eq(x, 100000), sp.Eq(2 * x, 200000), {"x": x}, {}, True),
    (x > 10**9, x > 10**9 + 1, {"x": xr13}, {}, False),
    (x > 10**9, 10**9 < x, {"x": xr13}, {}, True),
    (sp.Interval(0, 10**12), sp.Interval(0, 10**12 + 1), {}, {}, False),
    (sp.Interval(0, 10**12), sp.Interval(0, sp.Integer(10)**12), {}, {}, True),
    (sp.FiniteSet(10**10, 1), sp.FiniteSet(1, 10**10 + 1), {}, {}, False),
    (sp.FiniteSet(10**10, 1), sp.FiniteSet(1, 10**10), {}, {}, True),
    # 2. sampling beyond the box
    (sp.Abs(x - 3), 3 - x, {"x": x}, {}, False),
    (sp.Abs(x - 3), 3 - x, {"x": x}, {"domain": {"x": (-2, 2)}}, True),
    (sp.acos(sp.cos(x)), sp.Abs(x), {"x": x}, {"assumptions": {"x": "real"}}, False),
    (sp.acos(sp.cos(x)), sp.Abs(x), {"x": x}, {"domain": {"x": (-3, 3)}}, True),
    (x, x + sp.sin(1000 * sp.pi * x), {"x": x}, {}, False),
    (x, x + sp.sin(1000 * sp.pi * x) ** 2 * 0, {"x": x}, {}, True),
    (n_int, sp.Min(n_int, 5), {"n": n_int}, {}, False),
    (n_int, sp.Min(n_int, 5), {"n": n_int}, {"domain": {"n": (-5, 5)}}, True),
    (sp.cosh(1000 * x) ** 2 - sp.sinh(1000 * x) ** 2, sp.Integer(1), {"x": x}, {}, True),
    (sp.cosh(1000 * x) ** 2 - sp.sinh(1000 * x) ** 2, sp.Integer(2), {"x": x}, {}, False),
    (sp.Integer(0), sp.Float(1e-9) * x**40, {"x": x}, {}, False),
    (n_int, sp.Min(n_int, 10**5), {"n": n_int}, {}, False),  # just past the constant
    (n_int, sp.Min(n_int, 10**5), {"n": n_int}, {"domain": {"n": (-100, 10**5)}}, True),
    (xr13, sp.Min(xr13, 10**7), {"x": xr13}, {}, False),
    (x, sp.Abs(x), {"x": x}, {"domain": {"x": (-1e-6, 5)}}, False),  # the domain's end
    (x, sp.Abs(x), {"x": x}, {"domain": {"x": (0, 5)}}, True),
    ((x + 1) ** 100, sp.expand((x + 1) ** 100), {"x": x}, {}, True),  # cancellation
    ((x + 1) ** 100, sp.expand((x + 1) ** 100) + 1, {"x": x}, {}, False),
    (sp.exp(x), sp.exp(x) * (1 + sp.Integer(10) ** -15), {"x": x}, {}, False),
    # 4. equations by their solutions
    (sp.Eq(x * y, 1), sp.Eq(y, 1 / x), {"x": x, "y": y}, {}, True),
    (sp.Eq(x * y, 1), sp.Eq(y, 2 / x), {"x": x, "y": y}, {}, False),
    (sp.Eq(sp.sqrt(x), 3), sp.Eq(x, 9), {"x": x}, {"assumptions": {"x": "real"}}, True),
    (sp.Eq(sp.sqrt(x), 3), sp.Eq(x, 3), {"x": x}, {"assumptions": {"x": "real"}}, False),
    (sp.Eq(x**2, 4), sp.Eq(x, 2), {"x": x}, {}, False),
    (sp.Eq(x**2, 4), sp.Eq(x, 2), {"x": x}, {"assumptions": {"x": "positive"}}, True),
    (sp.Eq(x**3, 1), sp.Eq(x, 1), {"x": x}, {"assumptions": {"x": "real"}}, True),
    (sp.Eq(x**3, 1), sp.Eq(x, 1), {"x": x}, {}, False),  # complex cube roots of 1
    (sp.Eq(x * y, 0), sp.Eq(y, 0), {"x": x, "y": y}, {}, False),
    # exact values beyond 30 digits, conditions on the declared values, small domains
    (sp.log(x - 1), sp.log(x - 1 + sp.Integer(10) ** -30), {"x": x},
     {"domain": {"x": (1.5, 10)}}, False),
    (sp.log(x - 1), sp.log(2 * x - 2) - sp.log(2), {"x": x}, {"domain": {"x": (1.5, 10)}},
     True),
    (sp.sin(x), sp.sin(x) + sp.exp(-10000), {"x": x}, {}, None),  # beyond 120 digits
    (sp.sin(x), sp.sin(x) + sp.Integer(10) ** -200, {"x": x}, {}, False),
    (sp.sqrt(1 + sp.exp(-10000)), sp.Integer(1), {}, {}, None),
    (sp.pi, sp.pi + sp.exp(-3000), {}, {}, False),
    (sp.exp(sp.pi * sp.sqrt(163)), sp.Integer(640320**3 + 744), {}, {}, False),
    (sp.log(x) < 0, x < 1, {"x": x}, {"assumptions": {"x": "positive"}}, True),
    (sp.log(x) < 0, x < 2, {"x": x}, {"assumptions": {"x": "positive"}}, False),
    (sp.Min(n_int, 5), n_int, {"n": n_int}, {"domain": {"n": (-20, 5)}}, True),
    (sp.Min(n_int, 5), n_int, {"n": n_int}, {"domain": {"n": (-20, 6)}}, False),
]


@pytest.mark.parametrize(("expected", "received", "symbols", "options", "equal"),
                         EXACT_CASES)
def test_exact_and_wide_verdicts(expected: Any, received: Any, symbols: dict[str, Any],
                                 options: dict[str, Any], equal: bool | None) -> None:
    result = compare(expected, received, symbols=symbols, **options)
    assert result.equal is equal, result.message


SYSTEM_CASES: list[tuple[list[Any], list[Any], bool | None]] = [
    # 3. systems: sympy's "no solutions" is not a proof
    ([sp.Eq(x**5 - x + 1, 0)], [sp.Eq(x**5 - x + 2, 0)], False),
    ([sp.Eq(x**5 - x + 1, 0)], [sp.Eq(2 * x**5 - 2 * x + 2, 0)], True),
    ([sp.Eq(x, sp.cos(x))], [sp.Eq(x, sp.sin(x))], None),
    ([sp.Eq(x + y, sp.cos(x * y)), sp.Eq(x - y, 1)],
     [sp.Eq(x + y, sp.sin(x * y)), sp.Eq(x - y, 1)], None),
    ([sp.Eq(x + y, 1), sp.Eq(x - y, 0)], [sp.Eq(2 * x, 1), sp.Eq(y, x)], True),
    ([sp.Eq(x + y, 1), sp.Eq(x - y, 0)], [sp.Eq(2 * x, 1), sp.Eq(y, -x)], False),
    ([sp.Eq(x**2 + y**2, 1), sp.Eq(y, x**7 + x + 1)],
     [sp.Eq(x**2 + y**2, 1), sp.Eq(y, x**7 + x + 2)], False),
]


@pytest.mark.parametrize(("expected", "received", "equal"), SYSTEM_CASES)
def test_systems_sympy_cannot_solve_are_undecidable(expected: list[Any], received: list[Any],
                                                    equal: bool | None) -> None:
    result = compare(expected, received, symbols={"x": x, "y": y}, mode="system")
    assert result.equal is equal, result.message


SERIES = sp.sin(x).series(x, 0, 5)  # x - x**3/6 + O(x**5)
ORDER_CASES: list[tuple[Any, Any, dict[str, Any], bool | None, str]] = [
    # 5. order terms and polynomials
    (x - x**3 / 6, SERIES, {"series_order": 5}, True, ""),
    (SERIES, x - x**3 / 6, {"series_order": 5}, True, ""),
    (x - x**3 / 6, x - x**3 / 3 + sp.O(x**5), {"series_order": 5}, False, ""),
    (x - x**3 / 6, x - x**3 / 6 + x**5 / 120 + sp.O(x**7), {"series_order": 5}, True, ""),
    (x - x**3 / 6, x - x**3 / 6 + x**5 / 120, {"series_order": 5}, False, ""),  # no O
    (x - x**3 / 6, SERIES, {}, False, "order term"),
    (SERIES, x - x**3 / 6 + sp.O(x**5), {}, True, ""),
    (x + sp.O(x**2), x + sp.O(x**3), {}, False, "order term"),
    (x**2 + 1, sp.Poly(x**2 + 1, x), {}, True, ""),
    (x**2 + 1, sp.Poly(x**2 + 2, x), {}, False, ""),
    (sp.Poly((x + 1) ** 2, x), (x + 1) ** 2, {}, True, ""),
]


@pytest.mark.parametrize(("expected", "received", "options", "equal", "words"), ORDER_CASES)
def test_order_terms_and_polynomials(expected: Any, received: Any, options: dict[str, Any],
                                     equal: bool | None, words: str) -> None:
    result = compare(expected, received, symbols={"x": x}, **options)
    assert result.equal is equal, result.message
    assert words in result.message


def test_an_order_term_is_reported_and_can_match_a_mistake() -> None:
    mistake = Mistake(id="kept-O", feedback="Drop the order term.", credit=0.5,
                      value="x - x**3/6 + O(x**5)")
    spec = _spec("single", symbols=("x",), value="x - x**3/6", mistakes=(mistake,))
    result = _grade(spec, SERIES)
    assert (result.status, result.mistake) == ("partial", "kept-O")
    plain = _grade(_spec("single", symbols=("x",), value="x - x**3/6"), SERIES)
    assert plain.status == "failed" and "order term" in plain.message
    assert "not allowed" not in plain.message
    series = _grade(_spec("single", symbols=("x",), value="x - x**3/6", series_order=5),
                    SERIES)
    assert series.status == "passed"


def test_rubric_reads_series_order(tmp_path: Any) -> None:
    from grader.errors import RubricError

    spec = _rubric(tmp_path, 'symbols = ["x"]\nseries_order = 5').questions[0].checks[0]
    assert spec.series_order == 5
    for bad in ("0", "true", '"5"'):
        with pytest.raises(RubricError) as info:
            _rubric(tmp_path, f'symbols = ["x"]\nseries_order = {bad}')
        assert info.value.key == "series_order"


def test_complex_symbols_are_sampled_on_the_plane_and_its_axes() -> None:
    from grader.checks.algebra.sampling import _candidates
    from grader.checks.algebra.setup import _Setup, declare

    declared = declare({"z": "z"}, {"z": "complex"})
    points = [p[declared["z"]] for p in _candidates(_Setup.make(declared, None, None, None,
                                                                None, 12, 0))]
    parts = [v.as_real_imag() for v in points]
    assert all(re.is_Rational and im.is_Rational for re, im in parts)  # Gaussian rationals
    on_real = sum(im == 0 for _, im in parts)
    on_imaginary = sum(re == 0 and im != 0 for re, im in parts)
    assert len(points) == 36 and on_real >= 4 and on_imaginary >= 2
    assert len(points) - on_real - on_imaginary >= 18
    assert max(abs(im) for _, im in parts) > 100  # far beyond the box, like a real symbol
    plain = declare({"z": "z"})["z"]
    assert all(p[plain].is_Rational for p in _candidates(_Setup.make(
        {"z": plain}, None, None, None, None, 12, 0)))  # no assumption: the reals


zc, wc = sp.symbols("z w", complex=True)
COMPLEX_CASES: list[tuple[Any, Any, dict[str, Any], bool]] = [
    (sp.re(zc), zc, {}, False),
    (sp.re(z), z, {"assumptions": {"z": "complex"}}, False),  # the rubric's assumption
    (sp.re(z), z, {"assumptions": {"z": "real"}}, True),
    (sp.conjugate(zc), zc, {}, False),
    (sp.log(sp.exp(zc)), zc, {}, False),
    (sp.sqrt(zc**2), zc, {}, False),
    (sp.Abs(zc) ** 2, zc * sp.conjugate(zc), {}, True),
    (sp.exp(sp.I * zc), sp.cos(zc) + sp.I * sp.sin(zc), {}, True),
    (sp.sqrt(zc * wc), sp.sqrt(zc) * sp.sqrt(wc), {}, False),
    (sp.sqrt(1 / zc), 1 / sp.sqrt(zc), {}, False),  # differs on the negative real axis only
    (1 / (zc - sp.I) - 1 / (zc + sp.I), 2 * sp.I / (zc**2 + 1), {}, True),
]


@pytest.mark.parametrize(("expected", "received", "options", "equal"), COMPLEX_CASES)
def test_complex_symbols_take_complex_values(expected: Any, received: Any,
                                             options: dict[str, Any], equal: bool) -> None:
    result = compare(expected, received, symbols={"z": zc if expected.has(zc) else z, "w": wc},
                     **options)
    assert result.equal is equal, result.message


n_i = sp.Symbol("n", integer=True)
BOUNDARY_CASES: list[tuple[Any, Any, dict[str, Any], bool | None, str]] = [
    # (expected, received, options, equal, where the message says they differ)
    (sp.Heaviside(x, 1), (1 + sp.sign(x)) / 2, {}, False, "x=0: expected 1, got 1/2"),
    (sp.Heaviside(x), (1 + sp.sign(x)) / 2, {}, True, ""),
    (sp.Piecewise((1, x > 0), (0, True)), sp.Piecewise((1, x >= 0), (0, True)), {}, False,
     "x=0: expected 0, got 1"),
    (sp.Abs(x) / x, sp.sign(x), {}, True, ""),  # undefined at 0 on one side: no difference
    (sp.floor(x), sp.ceiling(x) - 1, {}, False, "x=0: expected 0, got -1"),
    (sp.floor(x), -sp.ceiling(-x), {}, True, ""),
    (sp.Piecewise((1, x**2 < 2), (0, True)), sp.Piecewise((1, x**2 <= 2), (0, True)), {}, False,
     "sqrt(2)"),
    (sp.Piecewise((0, sp.Eq(x, 10**6)), (x, True)), x, {}, False, "x=1000000"),
    (sp.sign(sp.sin(x)), sp.Piecewise((1, sp.sin(x) > 0), (-1, True)), {}, False, "pi"),
    (sp.Heaviside(x - y, 1), sp.Piecewise((1, x > y), (0, True)), {}, False, "x="),
    (sp.floor(n_i / 2), sp.ceiling(n_i / 2) - 1, {}, False, "n="),
    (sp.Heaviside(x, 1), sp.Float(0.5) + sp.Float(0.5) * sp.sign(x), {}, False, "x=0"),
    (sp.Max(x, 0), (x + sp.Abs(x)) / 2, {}, True, ""),
    # the point is outside the domain: nothing to see there
    (sp.Heaviside(x, 1), (1 + sp.sign(x)) / 2, {"domain": {"x": (0.5, 3)}}, True, ""),
    # the jump x = cos(x) has no closed form: the value there cannot be checked
    (sp.sign(x - sp.cos(x)), sp.Piecewise((1, x > sp.cos(x)), (-1, True)), {}, None,
     "could not be found"),
    (sp.Abs(x - sp.cos(x)), sp.sqrt((x - sp.cos(x)) ** 2), {}, True, ""),  # continuous
]


@pytest.mark.parametrize(("expected", "received", "options", "equal", "where"),
                         BOUNDARY_CASES)
def test_switch_points_are_checked_exactly(expected: Any, received: Any,
                                           options: dict[str, Any], equal: bool | None,
                                           where: str) -> None:
    result = compare(expected, received, symbols={"x": x, "y": y, "n": n_i}, **options)
    assert result.equal is equal, result.message
    assert where in result.message


def test_switch_points_of_each_table_line() -> None:
    from grader.checks.algebra.boundaries import SWITCHES, _switches

    kinds = {cls: sorted((k, str(g)) for k, g, _ in _switches(expr)) for cls, expr in [
        (sp.sign, sp.sign(x - 1)), (sp.Heaviside, sp.Heaviside(x - 1, 1)),
        (sp.Abs, sp.Abs(x - 1)), (sp.floor, sp.floor(2 * x)), (sp.ceiling, sp.ceiling(2 * x)),
        (sp.frac, sp.frac(2 * x)), (sp.Mod, sp.Mod(x, y)), (sp.Min, sp.Min(x, y)),
        (sp.Max, sp.Max(x, 1)), (sp.Piecewise, sp.Piecewise((1, x > y), (0, True))),
        (sp.atan2, sp.atan2(y, x)),
    ]}
    assert set(kinds) == set(SWITCHES)
    assert kinds[sp.sign] == kinds[sp.Heaviside] == kinds[sp.Abs] == [("zero", "x - 1")]
    assert kinds[sp.floor] == kinds[sp.frac] == [("integer", "2*x")]
    assert kinds[sp.Mod] == [("integer", "x/y"), ("zero", "y")]
    assert kinds[sp.Min] == [("zero", "x - y")] and kinds[sp.Max] == [("zero", "1 - x")]
    assert kinds[sp.Piecewise] == [("zero", "x - y")]
    assert kinds[sp.atan2] == [("zero", "x"), ("zero", "y")]
    assert {cls for cls, rule in SWITCHES.items() if not rule.jumps} == {sp.Abs, sp.Min, sp.Max}
