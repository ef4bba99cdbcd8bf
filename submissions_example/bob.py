"""Deep Learning, homework 2.

Bob Tehrani - 401101456

Everything is in this one file; run it with `python bob.py` to see a few sanity checks.
"""

import math

import numpy as np
import sympy as sp

# ---------------------------------------------------------------------------------------
# Question 1.1: steps to reach a fixed training loss vs. mini-batch size
#
# I use the empirical model of McCandlish et al. (2018), "An Empirical Model of Large-Batch
# Training": with a well-tuned learning rate, S(B) = S_min * (1 + B_noise / B), where S_min is
# the number of steps with the full gradient and B_noise the gradient noise scale.
# ---------------------------------------------------------------------------------------

S_MIN = 2000
B_NOISE = 64

batch_sizes = []
steps = []
B = 1
while B <= 4096:
    batch_sizes.append(B)
    steps.append(math.ceil(S_MIN * (1 + B_NOISE / B)))
    B *= 2

q1_1_curve = {"batch_sizes": batch_sizes, "steps": steps}

q1_1_explanation = """
Small batches (left part): the mini-batch gradient is the true gradient plus noise whose
variance is proportional to 1/B. When B is much smaller than the noise scale, the noise
dominates, the learning rate has to be small and SGD needs many steps; doubling B halves the
noise and roughly halves the number of steps (the curve falls like 1/B).
Large batches (right part): when B is much larger than the noise scale the gradient is almost
exact. A step cannot be better than a full gradient step, and the largest stable learning rate
is fixed by the curvature of the loss, so the number of steps approaches S_min and the curve
becomes flat: more examples per batch only cost more computation.
"""

# ---------------------------------------------------------------------------------------
# Question 1.2
# ---------------------------------------------------------------------------------------


def q1_2_batch_mean_std(sigma_p, m):
    """Std of the mean of m i.i.d. samples with std sigma_p."""
    return sigma_p / math.sqrt(m)


q1_2_explanation = """
Yes. In training mode BN uses the mean mu_B and the std sigma_B of the current mini-batch.
The mini-batch is drawn at random, so mu_B and sigma_B are random variables (for large M,
mu_B is approximately normal around mu_P with std sigma_P / sqrt(M), and sigma_B fluctuates
around sigma_P). The normalised activation of a sample therefore depends on the other samples
of its batch: it equals the value computed with the population statistics plus a random
perturbation. This noise is a regulariser (similar to dropout) and it is removed at inference,
where the running averages are used.
"""

q1_3_explanation = """
It is not a good choice. Large positive weights make the inputs of the sigmoids large, so all
units saturate near 1. The derivative sigma'(z) = sigma(z)(1 - sigma(z)) is then almost zero,
and because backpropagation multiplies these derivatives layer by layer the gradients vanish
and the network practically does not train. In addition, the hidden units all output ~1 for
every input, so the hidden representation carries no information about the class, and with
similar weights the units are nearly symmetric.
"""

# ---------------------------------------------------------------------------------------
# Question 1.4
# ---------------------------------------------------------------------------------------


def count_params(n_in, hidden, n_out):
    """Weights and biases of a fully connected net n_in -> hidden[0] -> ... -> n_out."""
    total = 0
    fan_in = n_in
    for width in list(hidden) + [n_out]:
        total += fan_in * width  # weights
        total += width           # biases
        fan_in = width
    return total


q1_4_params = count_params(20, [10, 10, 10, 10, 10], 1)   # 661

# ---------------------------------------------------------------------------------------
# Question 1.5
#   y2 = exp(a2) / (exp(a1) + exp(a2)) = 1 / (1 + exp(-(a2 - a1))) = sigmoid(a2 - a1)
#   with a_k = W_sk x + b_sk, so W_l = W_s2 - W_s1 and b_l = b_s2 - b_s1.
# ---------------------------------------------------------------------------------------


def q1_5_logistic_from_softmax(W_s, b_s):
    d = len(W_s[0])
    W_l = np.zeros(d)
    for j in range(d):
        W_l[j] = W_s[1][j] - W_s[0][j]
    b_l = float(b_s[1] - b_s[0])
    return W_l, b_l


q1_5_more_expressive = False

# ---------------------------------------------------------------------------------------
# Question 2
# ---------------------------------------------------------------------------------------

q2_1_explanation = """
A committee is a group of classifiers trained for the same task (in the paper, several
networks with the same architecture) whose outputs are combined, for example by averaging
their outputs or by a majority vote. If the members make different mistakes, most of them are
right on any given example and the combination corrects the individual errors, so the error of
the committee is lower than the error of the members. The gain is large only when the errors
are (close to) independent.
"""


def q2_1_majority_error(p, n):
    """P(more than half of n independent classifiers are wrong), each wrong with prob. p."""
    error = 0.0
    for k in range(n // 2 + 1, n + 1):
        error += math.comb(n, k) * p**k * (1 - p) ** (n - k)
    return error


q2_2_explanation = """
Before training, the digit images are normalised in different ways: the width of the digit's
bounding box is normalised to several different values, and the digits are deslanted; during
training, random elastic distortions (plus small affine transformations) are applied. Every
member of the committee is trained on data with a different normalisation, so the members learn
different features and make less correlated errors, which is what makes the committee better
than any single net.
"""

# ---------------------------------------------------------------------------------------
# Question 3.1
#   z = w x + b, y = sigmoid(z), L = (y - t)^2 / 2, R = w^2 / 2, L_reg = L + lam R
# ---------------------------------------------------------------------------------------

w, b, x, t, lam = sp.symbols("w b x t lam")

s = 1 / (1 + sp.exp(-(w * x + b)))    # y = sigmoid(z)
ds = s * (1 - s)                      # dy/dz

q3_1_grads = {
    "w": (s - t) * ds * x + lam * w,
    "b": (s - t) * ds,
    "x": (s - t) * ds * w,
    "t": -(s - t),
    "lam": w**2 / 2,
}

q3_2_explanation = """
If the weights are not random, e.g. all zero or all equal, the neurons of a layer compute the
same function, get the same gradient and are updated identically, so they never become
different (the symmetry is not broken) and the layer is as good as one neuron. If the weights
are not small, the pre-activations are large: sigmoid and tanh units saturate and their
gradients vanish, so learning is extremely slow, and in deep networks the activations and
gradients can grow layer after layer (exploding gradients) and make training unstable.
"""

# ---------------------------------------------------------------------------------------
# Question 3.3
# ---------------------------------------------------------------------------------------


def _sigmoid(z):
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


def q3_3_gd_step(w, b, x, t, lam, lr):
    y = _sigmoid(w * x + b)
    dz = (y - t) * y * (1 - y)
    dw = dz * x + lam * w
    db = dz
    return w - lr * dw, b - lr * db


_start = {w: sp.Rational(1, 10), b: sp.Rational(1, 10), lam: sp.Rational(1, 10)}
_lr = sp.Rational(1, 10)
q3_3_update = {
    "w1": sp.Rational(1, 10) - _lr * q3_1_grads["w"].subs(_start),
    "b1": sp.Rational(1, 10) - _lr * q3_1_grads["b"].subs(_start),
}

# ---------------------------------------------------------------------------------------
# Question 4
# ---------------------------------------------------------------------------------------

q4_1_explanation = """
g_t: gradient of the objective at the previous parameters theta_{t-1}.
m_t: first moment, an exponential moving average of the gradients with rate beta1
     (momentum); it averages out the noise of the stochastic gradients.
v_t: second moment, exponential moving average of the element-wise squared gradients with
     rate beta2; it measures how large each coordinate's gradient is.
m_hat_t, v_hat_t: bias-corrected moments. m_0 = v_0 = 0, so in the first steps the averages
     are too small; dividing by 1 - beta^t fixes this.
theta_t: step of size alpha in the direction -m_hat, divided element-wise by sqrt(v_hat),
     so each parameter has its own adaptive learning rate; eps prevents division by zero.
"""


def adam_step(theta, grad, m, v, t, lr=1e-3, beta1=0.9, beta2=0.999, eps=1e-8):
    shape = np.shape(theta)
    theta = np.array(theta, dtype=float).ravel()
    grad = np.array(grad, dtype=float).ravel()
    m = np.array(m, dtype=float).ravel()
    v = np.array(v, dtype=float).ravel()
    for i in range(theta.size):
        m[i] = beta1 * m[i] + (1 - beta1) * grad[i]
        v[i] = beta2 * v[i] + (1 - beta2) * grad[i] ** 2
        m_hat = m[i] / (1 - beta1**t)
        v_hat = v[i] / (1 - beta2**t)
        theta[i] = theta[i] - lr * m_hat / (math.sqrt(v_hat) + eps)
    return theta.reshape(shape), m.reshape(shape), v.reshape(shape)


# E[m_t] = (1 - beta1) * sum_{i=1..t} beta1^(t-i) E[g] = (1 - beta1^t) E[g]
beta1 = sp.Symbol("beta1")
q4_2_mt_factor = 1 - beta1**t

# ---------------------------------------------------------------------------------------
# Question 5: f(w) = w^T H w, grad = 2 H w
# ---------------------------------------------------------------------------------------


def q5_1_gd_matrix(H, alpha):
    n = len(H)
    M = np.zeros((n, n))
    for i in range(n):
        for j in range(n):
            M[i, j] = (1.0 if i == j else 0.0) - 2 * alpha * H[i][j]
    return M


def q5_2_w_t(H, w0, alpha, t):
    M = q5_1_gd_matrix(H, alpha)
    w = np.array(w0, dtype=float)
    for _ in range(t):
        w = M @ w
    return w


def q5_3_max_lr(H):
    eigenvalues = np.linalg.eigvalsh(np.array(H, dtype=float))
    lam_max = eigenvalues[0]
    for e in eigenvalues:
        if e > lam_max:
            lam_max = e
    return 1.0 / lam_max


def q5_3_converges(H, alpha):
    # every eigen-direction is multiplied by (1 - 2 alpha lambda_i) at each step
    for e in np.linalg.eigvalsh(np.array(H, dtype=float)):
        if not abs(1 - 2 * alpha * e) < 1:
            return False
    return True


def q5_4_newton_step(H, w):
    H = np.array(H, dtype=float)
    w = np.array(w, dtype=float)
    grad = 2 * H @ w
    hessian = 2 * H
    return w - np.linalg.solve(hessian, grad)


q5_4_newton_iters = 1   # the objective is quadratic, Newton's model of it is exact

q5_5_explanation = """
Newton's method needs the Hessian. With n parameters it has n^2 entries, and solving the
Newton system costs O(n^3); for networks with millions of parameters neither the memory nor
the time is available. Moreover, the loss of a deep network is not convex: the Hessian is
often indefinite (saddle points), and the Newton step then goes towards the saddle point or a
maximum instead of decreasing the loss. Finally, with mini-batches only a noisy estimate of
the Hessian is available. This is why first-order methods (SGD, momentum, Adam) are used.
"""

# ---------------------------------------------------------------------------------------
# Question 6: J1 = 1/2 (y_d - sum_k (w_k + delta_k) x_k)^2,  delta_k ~ N(0, alpha w_k^2)
#   E[J1] = 1/2 (y_d - w.x)^2 + alpha/2 sum_k w_k^2 x_k^2
# ---------------------------------------------------------------------------------------


def q6_1_expected_grad(w, x, y_d, alpha):
    n = len(w)
    wx = 0.0
    for k in range(n):
        wx += w[k] * x[k]
    grad = np.zeros(n)
    for k in range(n):
        grad[k] = -(y_d - wx) * x[k] + alpha * w[k] * x[k] ** 2
    return grad


def q6_2_penalty(w, x, alpha):
    total = 0.0
    for k in range(len(w)):
        total += w[k] ** 2 * x[k] ** 2
    return alpha / 2 * total


q6_2_explanation = """
Taking the expectation over the noise, E[J1] = J0 + (alpha/2) sum_k w_k^2 x_k^2, where J0 is the
loss without dropout. So on average this dropout adds an L2 (weight decay) penalty to the loss,
with a different strength for every weight: proportional to x_k^2. It is like ridge regression
where the penalty of each weight is scaled by the size of its input (equivalently, L2 on the
weights of standardised inputs). The strength of the regularisation is alpha.
"""


if __name__ == "__main__":
    print("curve:", list(zip(batch_sizes, steps)))
    print("params:", q1_4_params)
    print("majority of 5 with p = 0.2:", q2_1_majority_error(0.2, 5))
    print("gd step:", q3_3_gd_step(0.1, 0.1, 2.0, 1.0, 0.1, 0.1))
    print("update at x=2, t=1:", [float(e.subs({x: 2, t: 1})) for e in q3_3_update.values()])
    H = np.array([[2.0, 0.5], [0.5, 1.0]])
    print("max lr:", q5_3_max_lr(H), "converges at 0.3:", q5_3_converges(H, 0.3))
