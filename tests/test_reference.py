"""Checks of the homework-2 reference answers and rubric by independent means.

The reference (reference/hw2.py) is what every student is graded against, so each answer
is verified here without re-deriving its formula: finite differences for derivatives,
Monte Carlo simulation for expectations and probabilities, plain iteration for closed
forms, brute force for counts, and a line-by-line loop for Adam. The rubric's hidden
inputs (rubrics/hw2.toml, generators included) are used wherever they exist, and every
common mistake in the rubric must be distinguishable from the right answer on them.

Monte Carlo tolerances are 5 standard errors of the estimate (computed from the sample):
with fixed seeds the tests are deterministic, and for a correct answer a 5-sigma miss
would have probability below 1e-6 anyway. Each Monte Carlo test also shows that the
known wrong answers lie far outside that band, so the test has the power to notice them.
"""

from __future__ import annotations

import ast
import copy
import itertools
import math
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import sympy as sp

from grader.checks import CheckSpec
from grader.checks.numbers import compare
from grader.rubric import load_reference, load_rubric

ROOT = Path(__file__).resolve().parents[1]
REFERENCE = ROOT / "reference" / "hw2.py"
RUBRIC = ROOT / "rubrics" / "hw2.toml"

hw2 = load_reference(REFERENCE)
rubric = load_rubric(RUBRIC)

MC_DRAWS = 200_000
SIGMAS = 5.0  # Monte Carlo tolerance in standard errors


def _check(answer: str) -> CheckSpec:
    for q in rubric.questions:
        for c in q.checks:
            if c.answer == answer:
                return c
    raise KeyError(answer)


def _hidden_args(answer: str) -> list[tuple[Any, ...]]:
    """The positional arguments of every hidden call of a function or property check."""
    calls = _check(answer).options.resolve(hw2)
    assert all(not call.kwargs for call in calls)
    return [call.args for call in calls]


def _close(got: Any, expected: Any, rtol: float, atol: float) -> bool:
    """|a - e| <= atol + rtol*|e| elementwise; ints and bools exact; shapes exact.

    Used with zero tolerances (same inputs, unmutated arguments); for the rubric's own
    tolerances the tests call the grader's comparator, ``grader.checks.numbers.compare``.
    """
    if isinstance(expected, bool | np.bool_):
        return isinstance(got, bool | np.bool_) and bool(got) == bool(expected)
    if isinstance(expected, tuple | list):
        return (isinstance(got, tuple | list) and len(got) == len(expected)
                and all(_close(g, e, rtol, atol) for g, e in zip(got, expected, strict=True)))
    if isinstance(expected, int | np.integer):
        return isinstance(got, int | np.integer) and int(got) == int(expected)
    got_arr, exp_arr = np.asarray(got, dtype=float), np.asarray(expected, dtype=float)
    if got_arr.shape != exp_arr.shape:
        return False
    return bool(np.all(np.abs(got_arr - exp_arr) <= atol + rtol * np.abs(exp_arr)))


# ============================================================================ the contract

CONTRACT_VALUES = {
    "q1_1_curve": dict, "q1_4_params": int, "q1_5_more_expressive": bool,
    "q3_1_grads": dict, "q3_3_update": dict, "q4_2_mt_factor": sp.Expr,
    "q5_4_newton_iters": int,
}
CONTRACT_TEXTS = [
    "q1_1_explanation", "q1_2_explanation", "q1_3_explanation", "q2_1_explanation",
    "q2_2_explanation", "q3_2_explanation", "q4_1_explanation", "q5_5_explanation",
    "q6_2_explanation",
]
CONTRACT_FUNCTIONS = [
    "q1_2_batch_mean_std", "count_params", "q1_5_logistic_from_softmax",
    "q2_1_majority_error", "q3_3_gd_step", "adam_step", "q5_1_gd_matrix", "q5_2_w_t",
    "q5_3_max_lr", "q5_3_converges", "q5_4_newton_step", "q6_1_expected_grad",
    "q6_2_penalty",
]


def test_every_contract_name_is_defined_with_its_type():
    for name, kind in CONTRACT_VALUES.items():
        assert isinstance(getattr(hw2, name), kind), name
    for name in CONTRACT_TEXTS:
        text = getattr(hw2, name)
        assert isinstance(text, str) and 100 < len(text) < 900, name
    for name in CONTRACT_FUNCTIONS:
        assert callable(getattr(hw2, name)), name
    assert hw2.q1_4_params == 661
    assert hw2.q1_5_more_expressive is False
    assert hw2.q5_4_newton_iters == 1


def test_reference_imports_only_numpy_sympy_and_the_standard_library():
    tree = ast.parse(REFERENCE.read_text(encoding="utf-8"))
    roots = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            roots |= {alias.name.split(".")[0] for alias in node.names}
        elif isinstance(node, ast.ImportFrom):
            assert node.level == 0 and node.module
            roots.add(node.module.split(".")[0])
    assert roots - set(sys.stdlib_module_names) <= {"numpy", "sympy"}


def test_rubric_questions_points_and_kinds():
    ids = [q.id for q in rubric.questions]
    assert ids == ["q1_1", "q1_2", "q1_3", "q1_4", "q1_5", "q2_1", "q2_2", "q3_1", "q3_2",
                   "q3_3", "q4_1", "q4_2", "q5_1", "q5_2", "q5_3", "q5_4", "q5_5", "q6_1",
                   "q6_2"]
    assert rubric.max_score == 100
    kinds = {c.answer: c.kind for q in rubric.questions for c in q.checks}
    assert set(kinds) == set(CONTRACT_VALUES) | set(CONTRACT_TEXTS) | set(CONTRACT_FUNCTIONS)
    assert all(kinds[name] == "manual" for name in CONTRACT_TEXTS)
    assert kinds["q1_1_curve"] == kinds["q1_5_logistic_from_softmax"] == "property"
    for q in rubric.questions:
        total = sum(c.weight for c in q.checks)
        for c in q.checks:
            if c.kind == "manual":
                assert 1 <= q.points * c.weight / total <= 3, c.answer


def test_generators_are_deterministic_and_reference_functions_do_not_mutate_inputs():
    for q in rubric.questions:
        for c in q.checks:
            if c.kind != "function":
                continue
            calls = _hidden_args(c.answer)
            assert _close(_hidden_args(c.answer), calls, 0.0, 0.0)  # same inputs every time
            names = [c.reference_name] + [m.reference for m in c.mistakes if m.reference]
            for name in names:
                for args in calls:
                    before = copy.deepcopy(args)
                    getattr(hw2, name)(*args)
                    assert _close(args, before, 0.0, 0.0), (name, args)


# =============================================================================== Q1


def test_q1_1_reference_curve_has_the_required_form():
    curve = hw2.q1_1_curve
    batches = curve["batch_sizes"]
    assert len(batches) >= 8 and len(curve["steps"]) == len(batches)
    assert all(b > 0 and b & (b - 1) == 0 for b in batches.tolist())  # powers of 2
    assert hw2.check_q1_1_curve(curve)[0]


GOOD_CURVES = {
    "reference": hw2.q1_1_curve,
    "lists": {"batch_sizes": [1, 2, 4, 8, 16, 32], "steps": [900, 500, 300, 220, 200, 195]},
    "tuples of floats": {"steps": (900.0, 500.0, 300.0, 220.0, 200.0),
                         "batch_sizes": (8.0, 16.0, 32.0, 64.0, 128.0)},
    "5 % noise": {"batch_sizes": [1, 2, 4, 8, 16, 32, 64],
                  "steps": [1000, 520, 300, 200, 208, 180, 170]},
    "int32 arrays": {"batch_sizes": np.array([2, 4, 8, 16, 32, 64], dtype=np.int32),
                     "steps": np.array([640, 330, 180, 100, 70, 60], dtype=np.int32)},
    "object array": {"batch_sizes": np.array([1, 2, 4, 8, 16], dtype=object),
                     "steps": np.array([50, 26, 14, 9, 8], dtype=object)},
}


@pytest.mark.parametrize("name", list(GOOD_CURVES))
def test_check_q1_1_curve_accepts_plausible_curves(name):
    ok, message = hw2.check_q1_1_curve(GOOD_CURVES[name])
    assert ok, message


B8 = [1, 2, 4, 8, 16, 32, 64, 128]
BAD_CURVES = {
    "not a dict": ([1, 2, 3], "must be a dict"),
    "None": (None, "must be a dict"),
    "wrong keys": ({"batch": B8, "steps": B8}, "exactly the keys"),
    "extra key": ({"batch_sizes": B8, "steps": B8, "loss": B8}, "exactly the keys"),
    "no keys": ({}, "exactly the keys"),
    "strings": ({"batch_sizes": "1,2,4,8,16", "steps": "5,4,3,2,1"}, "1-D list or array"),
    "list of strings": ({"batch_sizes": B8, "steps": ["9"] * 8}, "1-D list or array"),
    "bools": ({"batch_sizes": B8, "steps": [True] * 8}, "1-D list or array"),
    "complex": ({"batch_sizes": B8, "steps": np.ones(8) * (1 + 1j)}, "1-D list or array"),
    "2-D": ({"batch_sizes": np.ones((2, 4)), "steps": np.ones((2, 4))}, "1-D list or array"),
    "ragged nested": ({"batch_sizes": [[1, 2], [3]], "steps": [1, 2, 3]}, "1-D list or array"),
    "huge int": ({"batch_sizes": B8, "steps": [10**400] * 8}, "1-D list or array"),
    "unequal lengths": ({"batch_sizes": B8, "steps": [9, 5, 3, 2, 1.5, 1.2]}, "same length"),
    "too few points": ({"batch_sizes": [1, 2, 4, 8], "steps": [8, 4, 2, 1]}, "at least 5"),
    "nan": ({"batch_sizes": B8, "steps": [9, 5, 3, float("nan"), 2, 1, 1, 1]}, "finite"),
    "batch sizes decrease": ({"batch_sizes": B8[::-1], "steps": [9, 5, 3, 2, 1.5, 1, 1, 1]},
                             "strictly increasing"),
    "zero batch size": ({"batch_sizes": [0, *B8[1:]], "steps": [9, 5, 3, 2, 2, 1, 1, 1]},
                        "strictly increasing"),
    "negative steps": ({"batch_sizes": B8, "steps": [9, 5, 3, 2, 1, 0.5, -1, -2]},
                       "must be positive"),
    "increasing": ({"batch_sizes": B8, "steps": [10, 20, 40, 80, 160, 320, 640, 1280]},
                   "must not increase"),
    "6 % bump": ({"batch_sizes": B8, "steps": [1000, 500, 300, 200, 212, 180, 170, 165]},
                 "must not increase"),
    "flat": ({"batch_sizes": B8, "steps": [100] * 8}, "does not fall"),
    "straight in log B": ({"batch_sizes": B8, "steps": [800 - 100 * k for k in range(8)]},
                          "diminishing returns"),
    "straight in B": ({"batch_sizes": [2**k for k in range(13)],
                       "steps": [5000 - 2**k for k in range(13)]}, "diminishing returns"),
    "falls late": ({"batch_sizes": B8, "steps": [100, 100, 100, 100, 99, 60, 30, 10]},
                   "diminishing returns"),
}


@pytest.mark.parametrize("name", list(BAD_CURVES))
def test_check_q1_1_curve_rejects_bad_curves_saying_why(name):
    answer, phrase = BAD_CURVES[name]
    ok, message = hw2.check_q1_1_curve(answer)
    assert not ok
    assert phrase in message, message


def test_q1_2_batch_mean_std_matches_simulated_batches():
    # Standard deviation of the means of 40k simulated batches; the relative standard
    # error of a sample standard deviation is 1/sqrt(2N) = 0.35 %.
    rng = np.random.default_rng(1)
    batches = 40_000
    for sigma_p, m in [(2.0, 4), (1.0, 1), (3.0, 100), (0.5, 7)]:
        means = rng.normal(5.0, sigma_p, size=(batches, m)).mean(axis=1)
        simulated = means.std(ddof=1)
        tol = SIGMAS * simulated / math.sqrt(2 * batches)
        assert abs(hw2.q1_2_batch_mean_std(sigma_p, m) - simulated) <= tol
        if m > 1:
            assert abs(hw2.mistake_q1_2_sigma_over_m(sigma_p, m) - simulated) > tol


def _brute_force_params(n_in: int, hidden: list[int], n_out: int) -> int:
    rng = np.random.default_rng(0)
    sizes = [n_in, *hidden, n_out]
    layers = [(rng.normal(size=(b, a)), np.zeros(b))
              for a, b in itertools.pairwise(sizes)]
    x = rng.normal(size=n_in)  # the shapes must compose into a forward pass
    for weight, bias in layers:
        x = np.tanh(weight @ x + bias)
    assert x.shape == (n_out,)
    return sum(weight.size + bias.size for weight, bias in layers)


def test_count_params_matches_brute_force():
    cases = [*_hidden_args("count_params"), (2, [3, 3, 3], 2), (100, [], 1)]
    for n_in, hidden, n_out in cases:
        assert hw2.count_params(n_in, hidden, n_out) == _brute_force_params(n_in, hidden,
                                                                            n_out)
    assert _brute_force_params(20, [10] * 5, 1) == hw2.q1_4_params == 661
    assert isinstance(hw2.count_params(20, (10, 10), 1), int)


def _softmax(z: np.ndarray) -> np.ndarray:
    e = np.exp(z - z.max())
    return e / e.sum()


def test_q1_5_logistic_gives_the_softmax_probability_at_random_points():
    rng = np.random.default_rng(2)
    for W_s, b_s in _hidden_args("q1_5_logistic_from_softmax"):
        W_l, b_l = hw2.q1_5_logistic_from_softmax(W_s, b_s)
        assert W_l.shape == (W_s.shape[1],) and np.ndim(b_l) == 0
        for x in rng.normal(scale=3.0, size=(50, W_s.shape[1])):
            p_softmax = _softmax(W_s @ x + b_s)[1]
            p_logistic = 1 / (1 + math.exp(-(float(W_l @ x) + float(b_l))))
            assert abs(p_logistic - p_softmax) < 1e-12


def test_check_q1_5_logistic_accepts_the_reference_and_equivalent_forms():
    for W_s, b_s in _hidden_args("q1_5_logistic_from_softmax"):
        W_l, b_l = hw2.q1_5_logistic_from_softmax(W_s, b_s)
        d = W_s.shape[1]
        for output in [(W_l, b_l), [W_l.tolist(), float(b_l)], (W_l.reshape(1, d), b_l),
                       (W_l, np.array([b_l])), (tuple(W_l.tolist()), np.array(b_l))]:
            ok, message = hw2.check_q1_5_logistic((W_s, b_s), output)
            assert ok, message


def test_check_q1_5_logistic_rejects_near_misses_without_raising():
    W_s, b_s = _hidden_args("q1_5_logistic_from_softmax")[2]  # d = 3
    W_l, b_l = hw2.q1_5_logistic_from_softmax(W_s, b_s)
    misses = {
        "classes swapped": ((-W_l, -b_l), "class 0"),
        "off by bias": ((W_l, b_l + 1e-3), "softmax model gives"),
        "bias forgotten": ((W_l, 0.0), "softmax model gives"),
        "column vector": ((W_l.reshape(3, 1), b_l), "W_l must be"),
        "both rows": ((W_s, b_s), "W_l must be"),
        "too short": ((W_l[:2], b_l), "W_l must be"),
        "bias vector": ((W_l, b_s), "b_l must be"),
        "strings": (("W", "b"), "W_l must be"),
        "nan": ((W_l * np.nan, b_l), "softmax model gives"),
        "bool weights": ((np.array([True, False, True]), b_l), "W_l must be"),
        "None bias": ((W_l, None), "b_l must be"),
        "three items": ((W_l, b_l, 0.0), "pair"),
        "a dict": ({"W": W_l, "b": b_l}, "pair"),
        "None": (None, "pair"),
        "an object": (object(), "pair"),
        "object inside": ((object(), b_l), "W_l must be"),
    }
    for name, (output, phrase) in misses.items():
        ok, message = hw2.check_q1_5_logistic((W_s, b_s), output)
        assert not ok, name
        assert phrase in message, (name, message)


# =============================================================================== Q2


def test_q2_1_majority_error_matches_simulated_committees():
    # n independent classifiers per draw, each wrong with probability p; the committee is
    # wrong when more than half are. Standard error sqrt(q (1 - q) / N).
    rng = np.random.default_rng(3)
    for p, n in _hidden_args("q2_1_majority_error"):
        wrong = (rng.random((MC_DRAWS, n)) < p).sum(axis=1) > n / 2
        q_hat = wrong.mean()
        se = math.sqrt(max(q_hat * (1 - q_hat), 1 / MC_DRAWS) / MC_DRAWS)
        assert abs(hw2.q2_1_majority_error(p, n) - q_hat) <= SIGMAS * se, (p, n)
    assert hw2.q2_1_majority_error(0.3, 1) == pytest.approx(0.3, abs=1e-15)
    assert hw2.q2_1_majority_error(0.5, 11) == pytest.approx(0.5, abs=1e-15)
    assert hw2.q2_1_majority_error(0.0, 9) == 0.0
    assert hw2.q2_1_majority_error(1.0, 9) == pytest.approx(1.0, abs=1e-15)


def test_q2_1_even_committee_breaks_ties_with_a_coin():
    rng = np.random.default_rng(4)
    p, n = 0.4, 4
    errors = (rng.random((MC_DRAWS, n)) < p).sum(axis=1)
    coin = rng.random(MC_DRAWS) < 0.5
    wrong = (errors > n / 2) | ((errors == n / 2) & coin)
    se = math.sqrt(wrong.mean() * (1 - wrong.mean()) / MC_DRAWS)
    assert abs(hw2.q2_1_majority_error(p, n) - wrong.mean()) <= SIGMAS * se


# =============================================================================== Q3

W, B, X, T, LAM = (sp.Symbol(s) for s in ("w", "b", "x", "t", "lam"))


def _loss(w: float, b: float, x: float, t: float, lam: float) -> float:
    y = 1.0 / (1.0 + math.exp(-(w * x + b)))
    return 0.5 * (y - t) ** 2 + 0.5 * lam * w**2


def _central_difference(f: Callable[..., float], point: list[float], i: int,
                        h: float = 1e-6) -> float:
    up, down = list(point), list(point)
    up[i] += h
    down[i] -= h
    return (f(*up) - f(*down)) / (2 * h)


# Central differences with h = 1e-6: truncation h**2/6 * |f'''| < 1e-12 here, rounding
# about 1e-16 * |L| / h < 1e-9 since |L| < 5 on these points; 1e-7 leaves a wide margin
# while a wrong derivative is off by far more.
FD_TOL = 1e-7


def test_q3_1_grads_match_finite_differences():
    grads = hw2.q3_1_grads
    assert set(grads) == {"w", "b", "x", "t", "lam"}
    plain = {W, B, X, T, LAM}
    for expr in grads.values():
        assert expr.free_symbols <= plain  # plain Symbols: no assumptions attached
    rng = np.random.default_rng(5)
    points = [[0.1, 0.1, 1.0, 1.0, 0.1], [-1.5, 0.7, 2.0, 0.0, 0.3], [0.0, 0.0, 0.0, 0.5, 0.0]]
    points += rng.uniform([-2, -2, -2, 0, 0], [2, 2, 2, 1, 1], size=(6, 5)).tolist()
    for point in points:
        subs = dict(zip((W, B, X, T, LAM), point, strict=True))
        for i, key in enumerate(("w", "b", "x", "t", "lam")):
            value = float(grads[key].evalf(subs=subs))
            assert abs(value - _central_difference(_loss, point, i)) < FD_TOL, (key, point)


def test_q3_3_gd_step_matches_a_finite_difference_gradient_step():
    for w, b, x, t, lam, lr in _hidden_args("q3_3_gd_step"):
        point = [w, b, x, t, lam]
        w_new = w - lr * _central_difference(_loss, point, 0)
        b_new = b - lr * _central_difference(_loss, point, 1)
        got = hw2.q3_3_gd_step(w, b, x, t, lam, lr)
        assert isinstance(got, tuple) and all(isinstance(v, float) for v in got)
        assert got == pytest.approx((w_new, b_new), abs=FD_TOL)


def test_q3_3_update_is_exact_and_matches_gd_step():
    update = hw2.q3_3_update
    assert set(update) == {"w1", "b1"}
    for expr in update.values():
        assert expr.free_symbols <= {X, T}
        assert not expr.atoms(sp.Float)  # exact Rationals, no rounded 0.1
    for x, t in [(1.0, 1.0), (-2.0, 0.0), (0.0, 0.5), (2.7, 0.3)]:
        got = tuple(float(update[k].evalf(subs={X: x, T: t})) for k in ("w1", "b1"))
        assert got == pytest.approx(hw2.q3_3_gd_step(0.1, 0.1, x, t, 0.1, 0.1), abs=1e-12)


# =============================================================================== Q4


def _adam_loop(theta, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    """The homework's algorithm, one line at a time, one coordinate at a time."""
    theta = np.array(theta, dtype=float)
    m = np.array(m, dtype=float)
    v = np.array(v, dtype=float)
    g = np.asarray(grad, dtype=float)
    for i in np.ndindex(theta.shape):
        m[i] = beta1 * m[i] + (1 - beta1) * g[i]  # m_t
        v[i] = beta2 * v[i] + (1 - beta2) * g[i] ** 2  # v_t
        m_hat = m[i] / (1 - beta1**t)
        v_hat = v[i] / (1 - beta2**t)
        theta[i] = theta[i] - lr * m_hat / (math.sqrt(v_hat) + eps)
    return theta, m, v


def test_adam_step_matches_the_algorithm_line_by_line():
    for args in _hidden_args("adam_step"):
        got = hw2.adam_step(*args)
        want = _adam_loop(*args)
        assert isinstance(got, tuple) and len(got) == 3
        for g, w in zip(got, want, strict=True):
            assert isinstance(g, np.ndarray) and g.shape == w.shape
            np.testing.assert_allclose(g, w, rtol=1e-13, atol=0)


def test_adam_first_step_moves_each_coordinate_by_lr():
    theta, grad, m, v, t = _hidden_args("adam_step")[0]
    assert t == 1 and not m.any() and not v.any()
    new, _, _ = hw2.adam_step(theta, grad, m, v, t)
    np.testing.assert_allclose(np.abs(new - theta), 1e-3, rtol=1e-6)


def test_adam_many_steps_match_the_loop_on_a_quadratic():
    rng = np.random.default_rng(6)
    target = rng.normal(size=5)
    mine = loop = (np.zeros(5), np.zeros(5), np.zeros(5))
    for t in range(1, 51):
        mine = hw2.adam_step(mine[0], mine[0] - target, mine[1], mine[2], t, 0.05)
        loop = _adam_loop(loop[0], loop[0] - target, loop[1], loop[2], t, 0.05)
    for a, b in zip(mine, loop, strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-12, atol=1e-15)
    assert np.linalg.norm(mine[0] - target) < np.linalg.norm(target)  # it does descend


BETA1, TSYM = sp.Symbol("beta1"), sp.Symbol("t")


def _mt_factor(beta1: float, t: int) -> float:
    return float(hw2.q4_2_mt_factor.subs({BETA1: beta1, TSYM: t}))


def test_q4_2_factor_matches_simulated_first_moments():
    assert hw2.q4_2_mt_factor.free_symbols <= {BETA1, TSYM}
    rng = np.random.default_rng(7)
    mu, sigma = 0.8, 2.0
    for beta1 in (0.9, 0.5, 0.99):
        m_const = 0.0
        m = np.zeros(MC_DRAWS)
        for t in range(1, 13):
            m_const = beta1 * m_const + (1 - beta1) * mu  # E[g] = mu exactly, no noise
            m = beta1 * m + (1 - beta1) * rng.normal(mu, sigma, size=MC_DRAWS)
            assert m_const == pytest.approx(_mt_factor(beta1, t) * mu, rel=1e-12)
            se = m.std() / math.sqrt(MC_DRAWS)
            assert abs(m.mean() - _mt_factor(beta1, t) * mu) <= SIGMAS * se, (beta1, t)
            if t in (2, 3):  # the off-by-one factor is clearly rejected while it differs
                assert abs(m.mean() - (1 - beta1 ** (t - 1)) * mu) > SIGMAS * se


# =============================================================================== Q5


def _gd_step_quadratic(H: np.ndarray, w: np.ndarray, alpha: float) -> np.ndarray:
    """One gradient-descent step on f(w) = w^T H w, gradient (H + H^T) w."""
    return w - alpha * (H + H.T) @ w


def test_q5_1_matrix_is_one_step_with_a_finite_difference_gradient():
    rng = np.random.default_rng(8)
    for H, alpha in _hidden_args("q5_1_gd_matrix"):
        M = hw2.q5_1_gd_matrix(H, alpha)
        n = H.shape[0]

        def f(*v: float, H: np.ndarray = H) -> float:
            return float(np.array(v) @ H @ np.array(v))

        for w in rng.normal(size=(3, n)):
            grad = np.array([_central_difference(f, list(w), i) for i in range(n)])
            np.testing.assert_allclose(M @ w, w - alpha * grad, atol=1e-8)


def test_q5_2_equals_t_iterated_steps():
    for H, w0, alpha, t in _hidden_args("q5_2_w_t"):
        w = np.array(w0)
        for _ in range(t):
            w = _gd_step_quadratic(H, w, alpha)
        np.testing.assert_allclose(hw2.q5_2_w_t(H, w0, alpha, t), w, rtol=1e-10, atol=1e-13)


def test_q5_2_tolerance_accepts_an_eigendecomposition_solution():
    check = _check("q5_2_w_t")
    for H, w0, alpha, t in _hidden_args("q5_2_w_t"):
        lam, Q = np.linalg.eigh(H)
        student = Q @ ((1 - 2 * alpha * lam) ** t * (Q.T @ w0))
        expected = hw2.q5_2_w_t(H, w0, alpha, t)
        assert compare(expected, student, rtol=check.rtol, atol=check.atol).equal


def _simulated_verdict(H: np.ndarray, alpha: float, steps: int = 20_000) -> bool:
    """Run GD from four random starts: True if all end at ~0, False if none gets near 0.

    Not converging means a mode that stays (a zero eigenvalue keeps its share of w0, the
    boundary step flips it forever) or grows, so the norm stays a sizeable fraction of
    the start's; converging from 0.999 / lambda_max takes the slowest mode down by
    0.998**20000 = 4e-18.
    """
    rng = np.random.default_rng(9)
    w0 = rng.normal(size=(H.shape[0], 4))
    w = w0.copy()
    with np.errstate(over="ignore", invalid="ignore"):
        for _ in range(steps):
            w = _gd_step_quadratic(H, w, alpha)
        ratio = np.linalg.norm(w, axis=0) / np.linalg.norm(w0, axis=0)
    ratio = np.where(np.isfinite(ratio), ratio, np.inf)
    if np.all(ratio < 1e-8):
        return True
    assert np.all(ratio > 1e-2), f"simulation undecided: {ratio}"
    return False


def test_q5_3_converges_agrees_with_simulation_on_hidden_inputs():
    verdicts = []
    for H, alpha in _hidden_args("q5_3_converges"):
        got = hw2.q5_3_converges(H, alpha)
        assert type(got) is bool
        assert got == _simulated_verdict(H, alpha), (H, alpha)
        verdicts.append(got)
    assert verdicts == [False, True, False, True, False, False, True, False, False, False]


def test_q5_3_boundary_verdict_does_not_depend_on_how_lambda_max_is_computed():
    # A student's strict test at the random matrix's float boundary must not flip by one
    # rounding: every usual computation of the spectrum gives "does not converge".
    H, alpha = _hidden_args("q5_3_converges")[0]
    spectra = [np.linalg.eigvalsh(H), np.linalg.eigh(H)[0], np.linalg.eigvals(H).real,
               np.linalg.eig(H)[0].real, np.linalg.svd(H, compute_uv=False)]
    for lam in spectra:
        lam_max = lam.max()
        assert not alpha < 1 / lam_max
        assert not alpha * lam_max < 1
        assert not 2 * alpha * lam_max < 2
        assert not np.all(np.abs(1 - 2 * alpha * lam) < 1)
    M = np.eye(3) - 2 * alpha * H
    assert not np.abs(np.linalg.eigvals(M)).max() < 1
    assert not np.linalg.norm(M, 2) < 1


def _converges_by_squaring(H: np.ndarray, alpha: float, doublings: int = 24) -> bool:
    """Whether 2N steps of GD end smaller than N steps, N = 2**doublings.

    The one-step map is built by stepping each basis vector, then composed with itself
    by repeated squaring. After N steps only the slowest mode is left, so the norm from
    N to 2N steps shrinks iff that mode's factor is below 1 in magnitude.
    """
    n = H.shape[0]
    step = np.column_stack([_gd_step_quadratic(H, e, alpha) for e in np.eye(n)])
    w0 = np.random.default_rng(10).normal(size=n)
    with np.errstate(over="ignore", invalid="ignore", under="ignore"):
        for _ in range(doublings):
            step = step @ step
        w_n = step @ w0
        w_2n = step @ w_n
        if not (np.all(np.isfinite(w_n)) and np.all(np.isfinite(w_2n))):
            return False
        return bool(np.linalg.norm(w_2n) < np.linalg.norm(w_n) or not w_2n.any())


def test_q5_3_max_lr_matches_bisection_on_simulated_convergence():
    for (H,) in _hidden_args("q5_3_max_lr"):
        n = H.shape[0]
        lo, hi = 0.1 / np.trace(H), 2.0 * n / np.trace(H)
        assert _converges_by_squaring(H, lo) and not _converges_by_squaring(H, hi)
        for _ in range(45):
            mid = (lo + hi) / 2
            lo, hi = (mid, hi) if _converges_by_squaring(H, mid) else (lo, mid)
        got = hw2.q5_3_max_lr(H)
        assert isinstance(got, float)
        assert got == pytest.approx(hi, rel=1e-6)


def test_q5_4_newton_step_with_a_finite_difference_hessian():
    for H, w in _hidden_args("q5_4_newton_step"):
        n = H.shape[0]

        def grad(v: np.ndarray, H: np.ndarray = H) -> np.ndarray:
            return (H + H.T) @ v

        hessian = np.column_stack([(grad(w + 1e-4 * e) - grad(w - 1e-4 * e)) / 2e-4
                                   for e in np.eye(n)])
        newton = w - np.linalg.solve(hessian, grad(w))
        got = hw2.q5_4_newton_step(H, w)
        np.testing.assert_allclose(got, newton, atol=1e-9)
        np.testing.assert_allclose(got, np.zeros(n), atol=1e-12)  # one step: the minimum
        assert hw2.q5_4_newton_iters == 1


# =============================================================================== Q6


def _dropout_draws(w: np.ndarray, x: np.ndarray, alpha: float, seed: int):
    rng = np.random.default_rng(seed)
    eps = rng.standard_normal((MC_DRAWS, w.size))
    delta = math.sqrt(alpha) * w * eps  # delta_k ~ N(0, alpha w_k^2), scaling with w
    return eps, delta


def test_q6_1_expected_grad_matches_monte_carlo():
    # The noise is delta_k = sqrt(alpha) w_k eps_k, so J1 depends on w_k through
    # (w_k + delta_k) = w_k (1 + sqrt(alpha) eps_k): dJ1/dw_k = -r (1 + sqrt(alpha) eps_k) x_k
    # with r = y_d - sum((w + delta) x). Averaged over draws, per-coordinate 5 SE.
    for seed, (w, x, y_d, alpha) in enumerate(_hidden_args("q6_1_expected_grad")):
        eps, delta = _dropout_draws(w, x, alpha, seed)
        r = y_d - (w + delta) @ x
        grads = -r[:, None] * (1 + math.sqrt(alpha) * eps) * x
        mean = grads.mean(axis=0)
        # alpha = 0 has no noise: then only the rounding of the mean (< 1e-9) is allowed.
        se = grads.std(axis=0) / math.sqrt(MC_DRAWS) + 1e-9 / SIGMAS
        got = hw2.q6_1_expected_grad(w, x, y_d, alpha)
        assert got.shape == w.shape
        assert np.all(np.abs(got - mean) <= SIGMAS * se), (got, mean, se)
        for wrong in (hw2.mistake_q6_1_plain_l2, hw2.mistake_q6_1_noise_ignored):
            if alpha > 0:
                assert np.any(np.abs(wrong(w, x, y_d, alpha) - mean) > SIGMAS * se)


def test_q6_2_penalty_is_the_simulated_excess_of_the_expected_loss():
    # E[J1] - J0 by Monte Carlo, for two targets y_d: the penalty must not depend on y_d.
    for seed, (w, x, alpha) in enumerate(_hidden_args("q6_2_penalty")):
        _, delta = _dropout_draws(w, x, alpha, 100 + seed)
        got = hw2.q6_2_penalty(w, x, alpha)
        assert isinstance(got, float)
        for y_d in (0.0, 1.7):
            excess = 0.5 * (y_d - (w + delta) @ x) ** 2 - 0.5 * (y_d - w @ x) ** 2
            se = excess.std() / math.sqrt(MC_DRAWS) + 1e-9 / SIGMAS
            assert abs(got - excess.mean()) <= SIGMAS * se, (got, excess.mean(), se)
            if alpha > 0:
                for wrong in (hw2.mistake_q6_2_plain_l2, hw2.mistake_q6_2_no_half):
                    assert abs(wrong(w, x, alpha) - excess.mean()) > SIGMAS * se


# ======================================================================== common mistakes


def _function_mistakes() -> list[tuple[str, str]]:
    return [(c.answer, m.reference) for q in rubric.questions for c in q.checks
            if c.kind == "function" for m in c.mistakes]


@pytest.mark.parametrize(("answer", "mistake"), _function_mistakes())
def test_each_function_mistake_differs_from_the_answer_on_hidden_inputs(answer, mistake):
    # With the grader's own comparator and the check's tolerances: were the mistake equal
    # to the answer on every input, a right answer would be taken for the mistake or the
    # other way round.
    check = _check(answer)
    right = getattr(hw2, check.reference_name)
    wrong = getattr(hw2, mistake)
    for args in _hidden_args(answer):  # a right answer passes its own check
        assert compare(right(*args), right(*args), rtol=check.rtol, atol=check.atol).equal
    differs = [not compare(right(*args), wrong(*args), rtol=check.rtol, atol=check.atol).equal
               for args in _hidden_args(answer)]
    assert any(differs), f"{mistake} gives the right output on every hidden input"


def test_partial_checks_never_pay_a_named_mistake_less_than_its_share():
    # A function check returns a matched mistake's credit; with partial credit an unnamed
    # error right on the same inputs would earn its share, so the credit must not be lower.
    for q in rubric.questions:
        for c in q.checks:
            if c.kind != "function" or not c.partial:
                continue
            right = getattr(hw2, c.reference_name)
            for m in c.mistakes:
                wrong = getattr(hw2, m.reference)
                calls = _hidden_args(c.answer)
                same = sum(bool(compare(right(*a), wrong(*a), rtol=c.rtol, atol=c.atol).equal)
                           for a in calls)
                assert m.credit >= same / len(calls), (c.answer, m.id)


def _symbolic_values(check: CheckSpec, value: Any, points: list[dict[str, float]]):
    """Numeric values of a symbolic answer (expression, dict of them, or text) at points.

    The reference and its mistakes write the sigmoid out, so no function is substituted.
    """
    symbols = {name: sp.Symbol(name) for name in check.symbols}
    if isinstance(value, str):  # a mistake's value from the rubric (trusted text)
        value = sp.sympify(value, locals=symbols)
    exprs = value if isinstance(value, dict) else {"": value}
    return np.array([float(exprs[key].evalf(subs={symbols[k]: v for k, v in point.items()}))
                     for key in sorted(exprs) for point in points])


def _domain_points(check: CheckSpec, count: int = 12) -> list[dict[str, float]]:
    rng = np.random.default_rng(11)
    return [{name: float(rng.uniform(*check.domain.get(name, (-1.0, 1.0))))
             for name in check.symbols} for _ in range(count)]


def _symbolic_mistakes() -> list[tuple[str, str]]:
    return [(c.answer, m.id) for q in rubric.questions for c in q.checks
            if c.kind == "symbolic" for m in c.mistakes]


@pytest.mark.parametrize(("answer", "mistake_id"), _symbolic_mistakes())
def test_each_symbolic_mistake_differs_from_the_answer_in_its_domain(answer, mistake_id):
    check = _check(answer)
    mistake = next(m for m in check.mistakes if m.id == mistake_id)
    points = _domain_points(check)
    right = _symbolic_values(check, getattr(hw2, check.reference_name), points)
    value = getattr(hw2, mistake.reference) if mistake.reference else mistake.value
    wrong = _symbolic_values(check, value, points)
    assert right.shape == wrong.shape
    assert not np.allclose(wrong, right, rtol=1e-3, atol=1e-6)


def test_numeric_mistakes_differ_from_the_answer():
    for q in rubric.questions:
        for c in q.checks:
            if c.kind == "numeric":
                expected = getattr(hw2, c.reference_name)
                assert compare(expected, expected, rtol=c.rtol, atol=c.atol).equal
                for m in c.mistakes:
                    assert not compare(expected, m.value, rtol=c.rtol, atol=c.atol).equal
