"""Reference answers of homework 2 (deep learning), following shared/HW2_CONTRACT.md.

Trusted staff code. The grader imports it for expected values, property checks, hidden
inputs and common mistakes; ``grader validate`` also runs it as if it were a student's
module, so every contract name is defined at top level with plain values and functions.
Only numpy, sympy and the standard library are used.

Sections: answers (in contract order), property checks, hidden-input generators, and
common mistakes (same signature as the answer, returning the mistaken output).
"""

import itertools
import math
from typing import Any

import numpy as np
import sympy as sp

SEED = 20231118  # the hidden-input generators start fresh generators from fixed seeds

# =============================================================================== Question 1

# Q1.1: steps to reach a fixed training loss vs batch size, after the critical-batch-size
# model of McCandlish et al. (2018): steps(B) = S_min * (1 + B_noise / B). Small batches:
# gradient noise dominates and doubling B nearly halves the steps; beyond B_noise the
# gradient is already accurate and the curve flattens at S_min.
_S_MIN = 2000
_B_NOISE = 256
_BATCHES = 2 ** np.arange(13)  # 1, 2, 4, ..., 4096
q1_1_curve = {
    "batch_sizes": _BATCHES.astype(np.int64),
    "steps": (_S_MIN + _S_MIN * _B_NOISE // _BATCHES).astype(np.int64),
}

q1_1_explanation = (
    "At small batch sizes the gradient estimate is dominated by sampling noise: its variance "
    "falls like 1/B, so doubling the batch almost halves the number of steps needed (nearly "
    "perfect scaling). Once the batch is larger than the critical (noise) scale, the gradient "
    "is already accurate and a bigger batch barely improves each step, so the curve flattens "
    "towards the minimum number of steps that even full-batch gradient descent needs, e.g. "
    "steps(B) = S_min * (1 + B_noise / B): diminishing returns."
)


def q1_2_batch_mean_std(sigma_p: float, m: int) -> float:
    """Standard deviation of the mean of m i.i.d. values of standard deviation sigma_p."""
    return float(sigma_p) / math.sqrt(m)


q1_2_explanation = (
    "Yes. During training each activation is normalised with the mean and standard deviation "
    "of the current mini-batch, and these are random estimates of the population statistics "
    "(the batch mean has standard deviation sigma/sqrt(m)). So the normalised value of an "
    "example depends on which other examples share its batch: random additive and "
    "multiplicative noise is injected into the hidden activations, smaller for larger batches, "
    "which acts as a regulariser; at test time the fixed running statistics remove it."
)

q1_3_explanation = (
    "No. With large positive weights every pre-activation is large and positive, so the "
    "sigmoids saturate near 1 for almost every input: the hidden outputs hardly depend on the "
    "input and sigma'(z) = sigma(z)(1 - sigma(z)) is almost zero. The gradients vanish (they "
    "are products of these tiny derivatives through the layers), so training is extremely slow "
    "and the network starts out predicting nearly the same output for every example. Small "
    "random weights keep the units in the steep, nearly linear part of the sigmoid."
)

q1_4_params = 661  # (20*10 + 10) + 4 * (10*10 + 10) + (10*1 + 1)


def count_params(n_in: int, hidden: list[int], n_out: int) -> int:
    """Weights and biases of a fully connected net n_in -> hidden[0] -> ... -> n_out."""
    sizes = [int(n_in), *(int(h) for h in hidden), int(n_out)]
    return sum(a * b + b for a, b in itertools.pairwise(sizes))


def q1_5_logistic_from_softmax(W_s: np.ndarray, b_s: np.ndarray) -> tuple[np.ndarray, Any]:
    """Logistic parameters equal to a 2-class softmax: P(class 1) = sigmoid(z1 - z0)."""
    W_s = np.asarray(W_s, dtype=float)
    b_s = np.asarray(b_s, dtype=float)
    return W_s[1] - W_s[0], b_s[1] - b_s[0]


q1_5_more_expressive = False

# =============================================================================== Question 2


def q2_1_majority_error(p: float, n: int) -> float:
    """P(more than half of n independent classifiers err), each erring with probability p.

    For odd n (the contract's case) that is the binomial tail from (n+1)/2. For even n a
    tie is broken by a fair coin, so half of the tie's probability counts as an error.
    """
    p = float(p)
    n = int(n)
    total = math.fsum(math.comb(n, k) * p**k * (1 - p) ** (n - k) for k in range(n // 2 + 1, n + 1))
    if n % 2 == 0:
        total += 0.5 * math.comb(n, n // 2) * p ** (n // 2) * (1 - p) ** (n // 2)
    return total


q2_1_explanation = (
    "A committee is a set of separately trained classifiers (here networks of the same "
    "architecture trained on differently preprocessed data) whose outputs are combined, e.g. "
    "by averaging their outputs or by a majority vote. If the members' errors are not strongly "
    "correlated, an input that one member gets wrong is usually classified correctly by most "
    "of the others, so the combined error is lower than each member's; with independent errors "
    "of probability p < 1/2 the majority-vote error falls quickly as members are added."
)

q2_2_explanation = (
    "Each member of the committee is trained on the digits in a different normalised form: "
    "the original images, images whose bounding boxes are rescaled to different fixed widths "
    "(e.g. 10 to 20 pixels), and deslanted images (rotated so that their principal axis is "
    "vertical); during training every net also sees fresh elastic and affine distortions. "
    "Because the nets see differently normalised data, they learn different features and make "
    "their mistakes on different test digits, so their errors are much less correlated than "
    "those of identical nets trained on the same data, and the committee's vote corrects them."
)

# =============================================================================== Question 3

_w, _b, _x, _t, _lam = sp.symbols("w b x t lam")  # plain Symbols, no assumptions


def _sigmoid(z: sp.Expr) -> sp.Expr:
    return 1 / (1 + sp.exp(-z))


_L_REG = (_sigmoid(_w * _x + _b) - _t) ** 2 / 2 + _lam * _w**2 / 2

q3_1_grads = {name: sp.diff(_L_REG, sym)
              for name, sym in zip(("w", "b", "x", "t", "lam"), (_w, _b, _x, _t, _lam),
                                   strict=True)}

q3_2_explanation = (
    "Small: large weights push sigmoid or tanh units into saturation, where the derivative is "
    "almost zero, so the gradients vanish and learning is very slow (and through many layers "
    "large weights can also make activations and gradients explode, giving unstable training). "
    "Random: if all weights start with the same value, every hidden unit of a layer computes "
    "the same output and receives the same gradient, so the units stay identical forever "
    "(the symmetry is never broken) and the layer is no better than a single unit."
)


def _gd_step(w: float, b: float, x: float, t: float, lam: float, lr: float,
             b_sign: float = 1.0) -> tuple[float, float]:
    """One GD step on L_reg; ``b_sign = -1`` evaluates the sigmoid at w*x - b (a mistake)."""
    w, b, x, t, lam, lr = (float(v) for v in (w, b, x, t, lam, lr))
    y = 1.0 / (1.0 + math.exp(-(w * x + b_sign * b)))
    delta = (y - t) * y * (1.0 - y)  # dL/dz
    return w - lr * (delta * x + lam * w), b - lr * delta


def q3_3_gd_step(w: float, b: float, x: float, t: float, lam: float,
                 lr: float) -> tuple[float, float]:
    """One gradient-descent step on L_reg = (sigmoid(w*x+b) - t)**2/2 + lam*w**2/2."""
    return _gd_step(w, b, x, t, lam, lr)


_TENTH = sp.Rational(1, 10)


def _update_exprs(b_sign: int = 1, lr: sp.Expr = _TENTH) -> dict[str, sp.Expr]:
    """w1, b1 after one step from w0 = b0 = 1/10 with lam = 1/10, from q3_1_grads."""
    point = {_w: _TENTH, _b: b_sign * _TENTH, _lam: _TENTH}
    # b_sign = -1 puts -b0 into the sigmoid only: the update still starts from b0 = +1/10.
    grad_w = q3_1_grads["w"].subs(point)
    grad_b = q3_1_grads["b"].subs(point)
    return {"w1": _TENTH - lr * grad_w, "b1": _TENTH - lr * grad_b}


q3_3_update = _update_exprs()

# =============================================================================== Question 4

q4_1_explanation = (
    "g_t is the gradient of the mini-batch loss at the previous parameters. m_t is an "
    "exponential moving average of the gradients with decay beta1 (first moment, momentum) "
    "and v_t one of the squared gradients with decay beta2 (uncentred second moment). "
    "Dividing by 1 - beta1**t and 1 - beta2**t removes the bias of these averages towards "
    "their zero initial values in the first steps. The update moves each parameter by alpha "
    "times m_hat / (sqrt(v_hat) + eps): a per-coordinate step of about alpha whose size adapts "
    "to the gradient's scale, with eps preventing division by zero."
)


def adam_step(theta: np.ndarray, grad: np.ndarray, m: np.ndarray, v: np.ndarray, t: int,
              lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999,
              eps: float = 1e-8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """One Adam step (t counted from 1); returns new arrays (theta, m, v)."""
    theta, grad, m, v = (np.asarray(a, dtype=float) for a in (theta, grad, m, v))
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    return theta - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


q4_2_mt_factor = 1 - sp.Symbol("beta1") ** sp.Symbol("t")

# =============================================================================== Question 5


def q5_1_gd_matrix(H: np.ndarray, alpha: float) -> np.ndarray:
    """M with w_{t+1} = M w_t for gradient descent on w^T H w (gradient 2 H w)."""
    H = np.asarray(H, dtype=float)
    return np.eye(H.shape[0]) - 2 * alpha * H


def q5_2_w_t(H: np.ndarray, w0: np.ndarray, alpha: float, t: int) -> np.ndarray:
    """w after t gradient-descent steps from w0: (I - 2 alpha H)^t w0."""
    return np.linalg.matrix_power(q5_1_gd_matrix(H, alpha), int(t)) @ np.asarray(w0, float)


def q5_3_max_lr(H: np.ndarray) -> float:
    """Supremum of the step sizes for which GD converges on w^T H w (H SPD): 1/lambda_max."""
    return float(1.0 / np.linalg.eigvalsh(np.asarray(H, dtype=float)).max())


# Relative margin for deciding the two boundaries of q5_3_converges in floating point.
# eigvalsh is backward stable: its eigenvalues are exact to about n * 1e-16 * |lambda|_max,
# so alpha = 1 / eigvalsh(H).max() can give alpha * lambda_max = 1 +- 2e-16, and a zero
# eigenvalue comes out as +-1e-16 * |lambda|_max. Anything within 1e-12 (relative) of a
# boundary is taken to be on it, i.e. not converging; 1e-12 is far above the rounding and
# far below any step size a person would choose on purpose (0.999 / lambda_max is 1e-3 away).
_BOUNDARY_RTOL = 1e-12


def q5_3_converges(H: np.ndarray, alpha: float) -> bool:
    """Whether GD on w^T H w converges to w = 0 from every w0 (H symmetric).

    w_t = Q (I - 2 alpha Lambda)^t Q^T w0, so convergence from every w0 holds iff
    |1 - 2 alpha lambda_i| < 1 for every eigenvalue, i.e. 0 < alpha * lambda_i < 1
    (strict): at alpha = 1 / lambda_max that mode flips sign forever, and a zero
    eigenvalue leaves its component of w0 where it is. Boundaries are decided with the
    relative margin ``_BOUNDARY_RTOL`` documented above.
    """
    lam = np.linalg.eigvalsh(np.asarray(H, dtype=float))
    scale = float(np.abs(lam).max()) if lam.size else 0.0
    if scale == 0.0 or not math.isfinite(scale):
        return False
    alpha = float(alpha)
    positive = bool(np.all(lam > _BOUNDARY_RTOL * scale))
    below_one = bool(np.all(alpha * lam < 1.0 - _BOUNDARY_RTOL))
    return alpha > 0 and positive and below_one


def q5_4_newton_step(H: np.ndarray, w: np.ndarray) -> np.ndarray:
    """One Newton step on w^T H w: w - (2H)^-1 (2H w), which lands on the minimiser 0."""
    H = np.asarray(H, dtype=float)
    w = np.asarray(w, dtype=float)
    return w - np.linalg.solve(2 * H, 2 * H @ w)


q5_4_newton_iters = 1

q5_5_explanation = (
    "Newton's method needs the Hessian of the loss: for n parameters it has n**2 entries and "
    "solving with it costs O(n**3), which is impossible in memory and time for networks with "
    "millions of parameters (and it would have to be redone at every step, from noisy "
    "mini-batches). Moreover the loss of a deep net is not convex: near saddle points the "
    "Hessian is indefinite and the Newton step is attracted to saddles or maxima rather than "
    "minima. First-order methods cost O(n) per step and scale."
)

# =============================================================================== Question 6


def q6_1_expected_grad(w: np.ndarray, x: np.ndarray, y_d: float, alpha: float) -> np.ndarray:
    """E[dJ1/dw_k] with delta_k ~ N(0, alpha w_k^2): -(y_d - w.x) x_k + alpha w_k x_k^2."""
    w = np.asarray(w, dtype=float)
    x = np.asarray(x, dtype=float)
    return -(y_d - w @ x) * x + alpha * w * x**2


def q6_2_penalty(w: np.ndarray, x: np.ndarray, alpha: float) -> float:
    """E[J1] - J0 = alpha/2 * sum_k w_k^2 x_k^2: an input-weighted L2 penalty."""
    w = np.asarray(w, dtype=float)
    x = np.asarray(x, dtype=float)
    return float(alpha / 2 * np.sum(w**2 * x**2))


q6_2_explanation = (
    "Averaged over the noise, E[J1] = J0 + (alpha/2) * sum_k w_k**2 x_k**2, so training with "
    "this Gaussian dropout minimises the ordinary squared error plus an L2 (weight-decay) "
    "penalty. Unlike plain weight decay, each weight's penalty is scaled by x_k**2, the "
    "energy of the input it multiplies (a data-dependent ridge penalty), and alpha sets its "
    "strength: weights on large inputs are shrunk most."
)

# ======================================================================== property checks

_CURVE_KEYS = ("batch_sizes", "steps")
_MIN_POINTS = 5
_NOISE = 1.05


def _is_real(value: Any) -> bool:
    return isinstance(value, int | float | np.integer | np.floating) and not isinstance(
        value, bool | np.bool_)


def _numeric_array(value: Any) -> np.ndarray | None:
    """A float array from a real number, a (nested) list/tuple or a numeric array, or None.

    Booleans, complex numbers, strings and anything else that is not a real number give
    None; so do ragged lists. Never raises.
    """
    try:
        if _is_real(value):
            return np.asarray(float(value))
        if not isinstance(value, list | tuple | np.ndarray):
            return None
        arr = np.asarray(value)
        if arr.dtype.kind == "O":
            flat = arr.ravel().tolist()
            if not all(_is_real(v) for v in flat):
                return None
            return np.array([float(v) for v in flat], dtype=float).reshape(arr.shape)
        if arr.dtype.kind not in "iuf":
            return None
        return arr.astype(float)
    except (TypeError, ValueError, OverflowError):
        return None


def check_q1_1_curve(answer: Any) -> tuple[bool, str]:
    """Is ``answer`` a plausible steps-vs-batch-size curve? Returns (passed, message).

    Rules, in the order they are checked (the message names the first that fails):

    1. a dict whose keys are exactly "batch_sizes" and "steps";
    2. each value a 1-D list, tuple or array of real numbers (not bools or strings),
       both of the same length, at least 5 points, all finite;
    3. batch sizes positive and strictly increasing;
    4. steps positive;
    5. steps non-increasing up to 5 % noise: steps[i] <= 1.05 * steps[i-1];
    6. the curve falls overall: steps[-1] < steps[0];
    7. diminishing returns: with u = log2(batch size) and u_mid = (u[0] + u[-1]) / 2 (the
       log-midpoint, i.e. the geometric mean of the smallest and largest batch), s_mid is
       steps interpolated linearly in u at u_mid; the drop over the first half,
       steps[0] - s_mid, must be larger than the drop over the second, s_mid - steps[-1].
    """
    try:
        return _check_curve(answer)
    except Exception as exc:  # the rules above never raise; this is belt and braces
        return False, f"q1_1_curve could not be checked ({type(exc).__name__})."


def _check_curve(answer: Any) -> tuple[bool, str]:
    if not isinstance(answer, dict):
        return False, ('q1_1_curve must be a dict {"batch_sizes": [...], "steps": [...]}, '
                       f"not a {type(answer).__name__}.")
    if set(answer) != set(_CURVE_KEYS):
        keys = ", ".join(sorted(repr(k)[:40] for k in answer))[:300]
        return False, ('q1_1_curve must have exactly the keys "batch_sizes" and "steps"; '
                       f"it has {keys or 'no keys'}.")
    arrays = {}
    for key in _CURVE_KEYS:
        arr = _numeric_array(answer[key])
        if arr is None or arr.ndim != 1:
            return False, (f'q1_1_curve["{key}"] must be a 1-D list or array of numbers '
                           "(ints or floats).")
        arrays[key] = arr
    batch, steps = arrays["batch_sizes"], arrays["steps"]
    if batch.size != steps.size:
        return False, (f'"batch_sizes" has {batch.size} values but "steps" has {steps.size}: '
                       "they must have the same length (one step count per batch size).")
    if batch.size < _MIN_POINTS:
        return False, (f"the curve has {batch.size} points; give at least {_MIN_POINTS} batch "
                       "sizes so that its shape can be seen.")
    if not (np.all(np.isfinite(batch)) and np.all(np.isfinite(steps))):
        return False, "all batch sizes and step counts must be finite numbers (no inf or nan)."
    if not (np.all(batch > 0) and np.all(np.diff(batch) > 0)):
        return False, "the batch sizes must be positive and strictly increasing."
    if not np.all(steps > 0):
        return False, "the numbers of steps must be positive."
    rises = np.nonzero(steps[1:] > _NOISE * steps[:-1])[0]
    if rises.size:
        i = int(rises[0]) + 1
        return False, (f"the steps must not increase with the batch size (up to 5 % noise), "
                       f"but they rise from {steps[i - 1]:g} at batch size {batch[i - 1]:g} to "
                       f"{steps[i]:g} at batch size {batch[i]:g}.")
    if not steps[-1] < steps[0]:
        return False, ("the number of steps does not fall from the smallest to the largest "
                       "batch size; larger batches give better gradients and need fewer steps.")
    u = np.log2(batch)
    u_mid = (u[0] + u[-1]) / 2
    s_mid = float(np.interp(u_mid, u, steps))
    first, second = steps[0] - s_mid, s_mid - steps[-1]
    if not first > second:
        return False, ("the curve shows no diminishing returns: between the smallest batch and "
                       f"the middle of the range (batch size {2 ** u_mid:.3g}, on a log scale) "
                       f"the steps drop by {first:g}, but over the second half they drop by "
                       f"{second:g}. The curve should fall steeply at small batches and "
                       "flatten at large ones.")
    return True, ("the curve falls steeply at small batch sizes and flattens at large ones "
                  "(diminishing returns).")


_Q15_SAMPLES = 20
_Q15_TOL = 1e-9


def check_q1_5_logistic(args: Any, output: Any) -> tuple[bool, str]:
    """Does the student's (W_l, b_l) reproduce the softmax model's P(class 1)?

    ``args`` is (W_s, b_s) as the grader sent them, W_s of shape (2, d); ``output`` is the
    student's return value. Passes when it is a pair (W_l, b_l), W_l of shape (d,) or
    (1, d), b_l a number or of shape () or (1,), with sigmoid(W_l @ x + b_l) equal to
    softmax(W_s @ x + b_s)[1] within 1e-9 at 20 random points x (fixed seed). Never raises.
    """
    try:
        return _check_logistic(args, output)
    except Exception as exc:  # belt and braces: bad student output must never raise
        return False, f"the returned value could not be checked ({type(exc).__name__})."


def _sigmoid_np(z: np.ndarray) -> np.ndarray:
    with np.errstate(all="ignore"):
        return 1.0 / (1.0 + np.exp(-z))


def _check_logistic(args: Any, output: Any) -> tuple[bool, str]:
    W_s = np.asarray(args[0], dtype=float)
    b_s = np.asarray(args[1], dtype=float)
    d = W_s.shape[1]
    if not isinstance(output, tuple | list) or len(output) != 2:
        return False, ("q1_5_logistic_from_softmax must return a pair (W_l, b_l), got "
                       f"{type(output).__name__}"
                       + (f" of length {len(output)}." if isinstance(output, tuple | list)
                          else "."))
    W_l = _numeric_array(output[0])
    b_l = _numeric_array(output[1])
    if W_l is None or W_l.shape not in ((d,), (1, d)):
        shape = "not numeric" if W_l is None else f"shape {W_l.shape}"
        return False, (f"W_l must be an array of {d} numbers, shape ({d},) or (1, {d}) for "
                       f"W_s of shape {W_s.shape}; yours is {shape}.")
    if b_l is None or b_l.shape not in ((), (1,)):
        shape = "not numeric" if b_l is None else f"shape {b_l.shape}"
        return False, f"b_l must be a single number (or shape (1,)); yours is {shape}."
    rng = np.random.default_rng(SEED)
    xs = rng.normal(scale=2.0, size=(_Q15_SAMPLES, d))
    logits = xs @ W_s.T + b_s
    p_softmax = _sigmoid_np(logits[:, 1] - logits[:, 0])  # softmax(z)[1] = sigmoid(z1 - z0)
    p_logistic = _sigmoid_np(xs @ W_l.reshape(d) + float(b_l.reshape(())))
    err = np.abs(p_logistic - p_softmax)
    if np.all(err <= _Q15_TOL):
        return True, "sigmoid(W_l @ x + b_l) equals the softmax probability of class 1."
    i = int(np.nanargmax(np.where(np.isnan(err), np.inf, err)))
    message = (f"at x = {np.round(xs[i], 4).tolist()} your logistic model gives "
               f"P(class 1) = {p_logistic[i]:.6g} but the softmax model gives "
               f"{p_softmax[i]:.6g}.")
    if np.all(np.abs(p_logistic - (1 - p_softmax)) <= _Q15_TOL):
        message += (" Your probabilities are those of class 0: the difference is taken the "
                    "wrong way round.")
    return False, message


# ============================================================== hidden-input generators


def _random_spd(rng: np.random.Generator, eigenvalues: list[float]) -> np.ndarray:
    """A symmetric matrix with the given eigenvalues and a random orthonormal basis."""
    n = len(eigenvalues)
    q, _ = np.linalg.qr(rng.normal(size=(n, n)))
    h = q @ np.diag(eigenvalues) @ q.T
    return (h + h.T) / 2


def inputs_softmax() -> list[tuple[np.ndarray, np.ndarray]]:
    """(W_s, b_s) with W_s of shape (2, d), d = 1..4, plus a case of equal rows."""
    rng = np.random.default_rng(SEED)
    cases = [(rng.normal(size=(2, d)), rng.normal(size=2)) for d in (1, 2, 3, 4)]
    w = rng.normal(size=3)
    cases.append((np.stack([w, w]), np.array([0.5, -0.25])))  # W_l = 0: only the bias counts
    return cases


def inputs_adam() -> list[tuple[Any, ...]]:
    """Adam calls: t = 1 from zero moments, zero gradients, t = 10, other lr/betas/eps."""
    rng = np.random.default_rng(SEED)
    theta = rng.normal(size=4)
    zeros = np.zeros(4)
    m10 = rng.normal(scale=0.1, size=4)
    v10 = rng.uniform(0.01, 0.1, size=4)
    return [
        (theta, rng.normal(size=4), zeros, zeros, 1),  # first step: |update| = lr
        (theta, zeros, zeros, zeros, 1),  # nothing to do: theta, m, v unchanged
        (theta, zeros, m10, v10, 5),  # zero gradient, the moments decay
        (theta, rng.normal(size=4), m10, v10, 10),
        (rng.normal(size=(2, 3)), rng.normal(size=(2, 3)), np.zeros((2, 3)),
         np.zeros((2, 3)), 3, 0.01, 0.8, 0.99),  # 2-D parameters, other lr and betas
        (theta, rng.normal(scale=1e-5, size=4), zeros, zeros, 2),  # tiny gradients: eps counts
        (theta, rng.normal(scale=0.1, size=4), m10, v10, 4, 0.05, 0.9, 0.999, 1e-2),
    ]


def inputs_quadratic_gd() -> list[tuple[np.ndarray, float]]:
    """(H, alpha) for q5_1: random SPD 2x2 and 3x3, diagonal, very unequal eigenvalues."""
    rng = np.random.default_rng(SEED)
    return [
        (_random_spd(rng, [1.0, 3.0]), 0.1),
        (_random_spd(rng, [0.5, 2.0, 4.0]), 0.2),
        (np.diag([2.0, 0.5]), 0.5),
        (_random_spd(rng, [0.1, 10.0]), 0.04),
        (_random_spd(rng, [1.0, 2.0, 5.0]), 0.0),
    ]


def inputs_w_t() -> list[tuple[np.ndarray, np.ndarray, float, int]]:
    """(H, w0, alpha, t) for q5_2: t = 0, 1, several; converging and diverging steps."""
    rng = np.random.default_rng(SEED)
    h2 = _random_spd(rng, [1.0, 3.0])
    h3 = _random_spd(rng, [0.5, 2.0, 4.0])
    h_wide = _random_spd(rng, [0.1, 10.0])
    return [
        (h2, rng.normal(size=2), 0.1, 0),
        (h2, rng.normal(size=2), 0.1, 1),
        (h3, rng.normal(size=3), 0.1, 7),
        (np.diag([2.0, 0.5]), np.array([1.0, -2.0]), 0.3, 20),
        (h_wide, rng.normal(size=2), 0.09, 15),
        (h3, rng.normal(size=3), 0.3, 6),  # 2*alpha*4 = 2.4 > 2: diverges
    ]


def inputs_max_lr() -> list[tuple[np.ndarray]]:
    """SPD matrices for q5_3_max_lr: 2x2, 3x3, 4x4, diagonal, nearly equal eigenvalues."""
    rng = np.random.default_rng(SEED)
    return [
        (_random_spd(rng, [1.0, 3.0]),),
        (_random_spd(rng, [0.5, 2.0, 4.0]),),
        (_random_spd(rng, [0.2, 0.3, 1.5, 8.0]),),
        (np.diag([2.0, 0.5, 1.0]),),
        (_random_spd(rng, [1.0, 1.001]),),
    ]


# Seed of the random SPD matrix whose boundary step is tested in inputs_converges. At
# alpha = 1 / eigvalsh(H).max() a student's strict test can come out either way by one
# rounding, depending on how the eigenvalues are computed; with this seed the usual ways
# (eigvalsh, eigh, eigvals, eig, svd, norm(M, 2); alpha < 1/lam, alpha*lam < 1,
# |1 - 2*alpha*lam| < 1) all say "does not converge" (tests/test_reference.py checks it)
# under every OpenBLAS kernel tried (Haswell, SkylakeX, Sandybridge, Prescott, Zen and
# the one detected on an AMD EPYC): the seed 20231125 held on Haswell only.
_BOUNDARY_SEED = 9


def _boundary_matrix() -> np.ndarray:
    """The random SPD 3x3 matrix (eigenvalues 0.5, 2, 4) of the boundary cases."""
    return _random_spd(np.random.default_rng(_BOUNDARY_SEED), [0.5, 2.0, 4.0])


def inputs_converges() -> list[tuple[np.ndarray, float]]:
    """(H, alpha) for q5_3_converges, boundary cases included."""
    rng = np.random.default_rng(SEED + 1)  # for the singular and the indefinite matrix
    h = _boundary_matrix()
    lam_max = np.linalg.eigvalsh(h).max()
    h_singular = _random_spd(rng, [0.0, 1.0, 2.0])
    return [
        (h, float(1.0 / lam_max)),  # boundary: the top mode flips sign forever -> False
        (h, float(0.999 / lam_max)),  # just below -> True
        (h, float(1.001 / lam_max)),  # just above -> False
        (h, float(0.5 / lam_max)),  # the optimal-ish step -> True
        (h_singular, 0.1),  # PSD with a zero eigenvalue: that component never moves -> False
        (np.diag([2.0, 0.5]), 0.5),  # boundary exactly representable: 2*0.5*2 = 2 -> False
        (np.diag([2.0, 0.5]), 0.4),  # -> True
        (_random_spd(rng, [-0.5, 1.0]), 0.1),  # indefinite: the negative mode grows -> False
        # Found by `grader audit`: no step at all never reaches 0 from w0 != 0.
        (np.zeros((3, 3)), 0.25),  # H = 0: the gradient is 0 everywhere -> False
        (h, 0.0),  # alpha = 0: w never moves -> False
    ]


def inputs_newton() -> list[tuple[np.ndarray, np.ndarray]]:
    """(H, w) for q5_4_newton_step: SPD 2x2, 3x3, 4x4 and diagonal."""
    rng = np.random.default_rng(SEED)
    return [
        (_random_spd(rng, [1.0, 3.0]), rng.normal(size=2)),
        (_random_spd(rng, [0.5, 2.0, 4.0]), rng.normal(size=3)),
        (_random_spd(rng, [0.2, 0.3, 1.5, 8.0]), rng.normal(size=4)),
        (np.diag([2.0, 0.5]), np.array([3.0, -1.0])),
    ]


def inputs_dropout() -> list[tuple[np.ndarray, np.ndarray, float, float]]:
    """(w, x, y_d, alpha) for q6_1: lengths 3 to 5, negative values, alpha = 0."""
    rng = np.random.default_rng(SEED)
    return [
        (rng.normal(size=3), rng.normal(size=3), 0.7, 0.5),
        (rng.normal(size=4), rng.normal(size=4), -1.2, 0.0),
        (rng.normal(size=5), rng.normal(size=5), 2.0, 0.25),
        (np.array([1.0, -2.0, 0.5]), np.array([-1.0, 0.5, 3.0]), 0.0, 1.0),
    ]


def inputs_dropout_penalty() -> list[tuple[np.ndarray, np.ndarray, float]]:
    """(w, x, alpha) for q6_2: the q6_1 inputs without y_d."""
    return [(w, x, alpha) for w, x, _y, alpha in inputs_dropout()]


# ======================================================================= common mistakes


def mistake_q1_2_sigma_over_m(sigma_p: float, m: int) -> float:
    """sigma / m instead of sigma / sqrt(m)."""
    return float(sigma_p) / m


def mistake_count_params_no_output_bias(n_in: int, hidden: list[int], n_out: int) -> int:
    """The output layer's biases forgotten."""
    sizes = [int(n_in), *(int(h) for h in hidden), int(n_out)]
    return sum(a * b for a, b in itertools.pairwise(sizes)) + sum(sizes[1:-1])


def mistake_count_params_weights_only(n_in: int, hidden: list[int], n_out: int) -> int:
    """Only the weights counted, no biases at all."""
    sizes = [int(n_in), *(int(h) for h in hidden), int(n_out)]
    return sum(a * b for a, b in itertools.pairwise(sizes))


def mistake_q3_3_flipped_b0(w: float, b: float, x: float, t: float, lam: float,
                            lr: float) -> tuple[float, float]:
    """The sigmoid evaluated at w*x - b (b's sign flipped), the rest correct."""
    return _gd_step(w, b, x, t, lam, lr, b_sign=-1.0)


def mistake_q3_3_no_lr(w: float, b: float, x: float, t: float, lam: float,
                       lr: float) -> tuple[float, float]:
    """The learning rate dropped (a step with lr = 1)."""
    return _gd_step(w, b, x, t, lam, 1.0)


mistake_q3_3_update_flipped_b0 = _update_exprs(b_sign=-1)
mistake_q3_3_update_no_lr = _update_exprs(lr=sp.Integer(1))


def mistake_adam_beta2_for_beta1(theta: np.ndarray, grad: np.ndarray, m: np.ndarray,
                                 v: np.ndarray, t: int, lr: float = 1e-3, beta1: float = 0.9,
                                 beta2: float = 0.999,
                                 eps: float = 1e-8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """beta2 used where beta1 belongs: in the m update and in its bias correction."""
    theta, grad, m, v = (np.asarray(a, dtype=float) for a in (theta, grad, m, v))
    m = beta2 * m + (1 - beta2) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    m_hat = m / (1 - beta2**t)
    v_hat = v / (1 - beta2**t)
    return theta - lr * m_hat / (np.sqrt(v_hat) + eps), m, v


def mistake_adam_no_bias_correction(theta: np.ndarray, grad: np.ndarray, m: np.ndarray,
                                    v: np.ndarray, t: int, lr: float = 1e-3,
                                    beta1: float = 0.9, beta2: float = 0.999,
                                    eps: float = 1e-8) -> tuple[np.ndarray, np.ndarray,
                                                                np.ndarray]:
    """m and v used directly, without dividing by 1 - beta**t."""
    theta, grad, m, v = (np.asarray(a, dtype=float) for a in (theta, grad, m, v))
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    return theta - lr * m / (np.sqrt(v) + eps), m, v


def mistake_adam_eps_inside_sqrt(theta: np.ndarray, grad: np.ndarray, m: np.ndarray,
                                 v: np.ndarray, t: int, lr: float = 1e-3, beta1: float = 0.9,
                                 beta2: float = 0.999,
                                 eps: float = 1e-8) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """sqrt(v_hat + eps) in the denominator instead of sqrt(v_hat) + eps."""
    theta, grad, m, v = (np.asarray(a, dtype=float) for a in (theta, grad, m, v))
    m = beta1 * m + (1 - beta1) * grad
    v = beta2 * v + (1 - beta2) * grad**2
    m_hat = m / (1 - beta1**t)
    v_hat = v / (1 - beta2**t)
    return theta - lr * m_hat / np.sqrt(v_hat + eps), m, v


mistake_q4_2_beta2 = 1 - sp.Symbol("beta2") ** sp.Symbol("t")


def mistake_q5_1_no_factor_2(H: np.ndarray, alpha: float) -> np.ndarray:
    """I - alpha H: the gradient of w^T H w taken as H w instead of 2 H w."""
    H = np.asarray(H, dtype=float)
    return np.eye(H.shape[0]) - alpha * H


def mistake_q5_2_no_factor_2(H: np.ndarray, w0: np.ndarray, alpha: float,
                             t: int) -> np.ndarray:
    """(I - alpha H)^t w0: the factor 2 of the gradient dropped."""
    M = mistake_q5_1_no_factor_2(H, alpha)
    return np.linalg.matrix_power(M, int(t)) @ np.asarray(w0, float)


def mistake_q5_3_max_lr_no_factor_2(H: np.ndarray) -> float:
    """2 / lambda_max: the bound for a gradient H w instead of 2 H w."""
    return float(2.0 / np.linalg.eigvalsh(np.asarray(H, dtype=float)).max())


def mistake_q5_3_non_strict(H: np.ndarray, alpha: float) -> bool:
    """|1 - 2 alpha lambda_i| <= 1: the boundary step and a zero eigenvalue count as converging."""
    lam = np.linalg.eigvalsh(np.asarray(H, dtype=float))
    scale = float(np.abs(lam).max()) if lam.size else 0.0
    alpha = float(alpha)
    return bool(np.all(lam >= -_BOUNDARY_RTOL * scale)
                and np.all(alpha * lam <= 1.0 + _BOUNDARY_RTOL) and alpha >= 0)


def mistake_q5_3_alpha_zero(H: np.ndarray, alpha: float) -> bool:
    """``alpha >= 0``: a step size of 0, which never moves w, counted as converging."""
    alpha = float(alpha)
    # `alpha >= 0` reads alpha = 0 as the smallest positive step: the rest of the test holds.
    return q5_3_converges(H, alpha if alpha != 0 else math.ulp(0.0))


def mistake_q5_4_hessian_without_2(H: np.ndarray, w: np.ndarray) -> np.ndarray:
    """w - H^-1 (2 H w) = -w: the Hessian taken as H instead of 2 H."""
    H = np.asarray(H, dtype=float)
    w = np.asarray(w, dtype=float)
    return w - np.linalg.solve(H, 2 * H @ w)


def mistake_q6_1_plain_l2(w: np.ndarray, x: np.ndarray, y_d: float,
                          alpha: float) -> np.ndarray:
    """The penalty's gradient taken as alpha * w_k (plain weight decay, x_k**2 lost)."""
    w = np.asarray(w, dtype=float)
    x = np.asarray(x, dtype=float)
    return -(y_d - w @ x) * x + alpha * w


def mistake_q6_1_noise_ignored(w: np.ndarray, x: np.ndarray, y_d: float,
                               alpha: float) -> np.ndarray:
    """delta treated as independent of w: E[dJ1/dw_k] = -(y_d - w.x) x_k, no penalty term."""
    w = np.asarray(w, dtype=float)
    x = np.asarray(x, dtype=float)
    return -(y_d - w @ x) * x


def mistake_q6_2_plain_l2(w: np.ndarray, x: np.ndarray, alpha: float) -> float:
    """alpha/2 * sum(w_k**2): the inputs' x_k**2 lost."""
    return float(alpha / 2 * np.sum(np.asarray(w, dtype=float) ** 2))


def mistake_q6_2_no_half(w: np.ndarray, x: np.ndarray, alpha: float) -> float:
    """alpha * sum(w_k**2 x_k**2): the factor 1/2 lost."""
    w = np.asarray(w, dtype=float)
    x = np.asarray(x, dtype=float)
    return float(alpha * np.sum(w**2 * x**2))
