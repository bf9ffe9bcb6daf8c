"""Closed-form test models: a linear-Gaussian latent-variable model.

p(z) = N(0, I_d),  p(x | z) = N(W z + b, sigma^2 I_D). Then exactly
  p(x) = N(b, W W^T + sigma^2 I),
  p(z | x) = N(S W^T (x - b) / sigma^2, S),  S = (I + W^T W / sigma^2)^-1.
W is built with orthogonal columns, so S is diagonal and a diagonal-Gaussian q can
equal the exact posterior; then log w = log p(x) for every sample and every K.
"""
import math

import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfiw import distributions as dists, gp

tfd = tfp.distributions


class LinearGaussian:
  def __init__(self, data_dim=6, latent_dim=3, sigma=0.7, seed=0):
    rng = np.random.default_rng(seed)
    q, _ = np.linalg.qr(rng.normal(size=(data_dim, latent_dim)))
    self.W = (q * rng.uniform(0.5, 2.0, size=latent_dim)).astype(np.float64)  # orthogonal cols
    self.b = rng.normal(size=data_dim)
    self.sigma = float(sigma)
    self.data_dim, self.latent_dim = data_dim, latent_dim
    wtw = self.W.T @ self.W
    self.post_cov = np.linalg.inv(np.eye(latent_dim) + wtw / sigma**2)
    # x -> posterior mean is affine: mean = x A + c
    self.A = self.W @ self.post_cov / sigma**2
    self.c = -self.b @ self.A

  def sample(self, n, seed=1):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, self.latent_dim))
    return z @ self.W.T + self.b + self.sigma * rng.normal(size=(n, self.data_dim))

  def log_marginal(self, x):
    """Exact log p(x), numpy float64 [N]."""
    cov = self.W @ self.W.T + self.sigma**2 * np.eye(self.data_dim)
    return tfd.MultivariateNormalFullCovariance(self.b, cov).log_prob(x).numpy()

  def posterior(self, x):
    """Exact p(z | x): mean [N, d] and (diagonal) std [d]."""
    return x @ self.A + self.c, np.sqrt(np.diag(self.post_cov))

  def log_joint(self, x, z):
    """log p(x, z) for z [K, N, d] -> [K, N] (float64)."""
    prior = dists.standard_normal(self.latent_dim, tf.float64).log_prob(z)
    lik = dists.diag_gaussian(tf.einsum("knd,Dd->knD", z, self.W) + self.b,
                              self.sigma * tf.ones([self.data_dim], tf.float64))
    return prior + lik.log_prob(x)

  def log_weights(self, x, q_loc, q_scale, num_samples, seed=0):
    """log p(x, z) - log q(z | x) with z ~ q = N(q_loc, q_scale^2); [K, N] float64."""
    q = dists.diag_gaussian(tf.constant(q_loc, tf.float64),
                            tf.constant(q_scale, tf.float64) * tf.ones_like(q_loc))
    z = q.sample(num_samples, seed=tf.constant([seed, 7]))
    return self.log_joint(x, z) - q.log_prob(z)

  def keras_model(self, method_cls, q_loc_shift=0.0, q_scale_factor=1.0, **kwargs):
    """A ``method_cls`` model (linear, Gaussian likelihood) whose p is this model and whose
    q is the exact posterior, optionally shifted/widened to make it inexact."""
    model = method_cls(input_dim=self.data_dim, latent_dims=[self.latent_dim], hidden=[],
                       likelihood="gaussian", **kwargs)
    model.build()
    enc, dec = model.encoder_blocks[0].head, model.decoder_blocks[0].head
    post_std = np.sqrt(np.diag(self.post_cov)) * q_scale_factor
    enc.loc.kernel.assign(self.A.astype(np.float32))
    enc.loc.bias.assign((self.c + q_loc_shift).astype(np.float32))
    enc.raw_scale.kernel.assign(np.zeros_like(self.A, np.float32))
    enc.raw_scale.bias.assign(dists.raw_from_scale(post_std.astype(np.float32)))
    dec.loc.kernel.assign(self.W.T.astype(np.float32))
    dec.loc.bias.assign(self.b.astype(np.float32))
    dec.raw_scale.kernel.assign(np.zeros_like(self.W.T, np.float32))
    dec.raw_scale.bias.assign(
        dists.raw_from_scale(np.full(self.data_dim, self.sigma, np.float32)))
    return model


class DeepLinearGaussian:
  """L stochastic layers, all linear-Gaussian, with an exact posterior that factorises
  the way tfiw's recognition models do, so q can equal it exactly.

  Generative (latent_dims bottom first, ``[Z_1, ..., Z_L]``):
    p(z_L) = N(0, I),  p(z_l | z_{l+1}) = N(W_{l+1} z_{l+1} + b_{l+1}, s_{l+1}^2 I),
    p(x | z_1) = N(W_1 z_1 + b_1, s_1^2 I).
  Every marginal p(z_l) = N(m_l, C_l) is Gaussian: m_l = W_{l+1} m_{l+1} + b_{l+1},
  C_l = W_{l+1} C_{l+1} W_{l+1}^T + s_{l+1}^2 I, and
  log p(x) = log N(x; W_1 m_1 + b_1, W_1 C_1 W_1^T + s_1^2 I) exactly.
  The posterior is a Markov chain, p(z | x) = p(z_1 | x) prod_{l>=2} p(z_l | z_{l-1})
  (z_l is independent of x given z_{l-1}), and each factor is Gaussian with covariance
  S_l = (C_l^-1 + W_l^T W_l / s_l^2)^-1 and mean affine in the layer below. W_1 has
  orthogonal columns and the upper W_l are rectangular-diagonal (orthogonal rows and
  columns), so every C_l and S_l is diagonal: a diagonal-Gaussian q(z_1 | x) prod
  q(z_l | z_{l-1}) with linear networks is then the exact posterior, and
  log w = log p(x) for every joint sample. (Needs Z_{l+1} <= Z_l.)
  """

  def __init__(self, data_dim=6, latent_dims=(4, 2), sigmas=(0.7, 0.6), seed=0):
    rng = np.random.default_rng(seed)
    self.latent_dims = [int(z) for z in latent_dims]
    dims = [int(data_dim)] + self.latent_dims            # dims[l] is the output of W_{l+1}
    if any(dims[l + 1] > dims[l] for l in range(1, len(dims) - 1)):
      raise ValueError(f"latent_dims must not grow upwards, got {latent_dims}")
    self.data_dim, self.sigmas = int(data_dim), [float(s) for s in sigmas]
    if len(self.sigmas) != len(self.latent_dims):
      raise ValueError("one sigma per stochastic layer")
    q, _ = np.linalg.qr(rng.normal(size=(dims[0], dims[1])))
    self.W = [q * rng.uniform(0.5, 2.0, size=dims[1])]                  # W_1: [D, Z_1]
    for l in range(1, len(self.latent_dims)):                            # W_{l+1}: [Z_l, Z_{l+1}]
      w = np.zeros((dims[l], dims[l + 1]))
      w[np.arange(dims[l + 1]), np.arange(dims[l + 1])] = rng.uniform(0.5, 2.0, dims[l + 1])
      self.W.append(w[rng.permutation(dims[l])])                       # rows permuted
    self.b = [rng.normal(size=dims[l]) for l in range(len(self.latent_dims))]
    # Marginals of z_l, top down: m[l], C[l] for z_{l+1} (index 0 = z_1).
    n = len(self.latent_dims)
    self.m, self.C = [None] * n, [None] * n
    self.m[-1], self.C[-1] = np.zeros(dims[-1]), np.eye(dims[-1])
    for l in range(n - 2, -1, -1):
      w, s = self.W[l + 1], self.sigmas[l + 1]
      self.m[l] = w @ self.m[l + 1] + self.b[l + 1]
      self.C[l] = w @ self.C[l + 1] @ w.T + s**2 * np.eye(dims[l + 1])
    # Posterior factors: z_l | (x or z_{l-1}) ~ N(h A_l + c_l, S_l).
    self.S, self.A, self.c = [], [], []
    for l in range(n):
      w, s, c_inv = self.W[l], self.sigmas[l], np.linalg.inv(self.C[l])
      S = np.linalg.inv(c_inv + w.T @ w / s**2)
      assert np.allclose(S, np.diag(np.diag(S)), atol=1e-10)
      self.S.append(S)
      self.A.append(w @ S / s**2)
      self.c.append(self.m[l] @ c_inv @ S - self.b[l] @ w @ S / s**2)

  def marginal_x(self):
    w, s = self.W[0], self.sigmas[0]
    return w @ self.m[0] + self.b[0], w @ self.C[0] @ w.T + s**2 * np.eye(self.data_dim)

  def sample(self, n, seed=1):
    rng = np.random.default_rng(seed)
    z = rng.normal(size=(n, self.latent_dims[-1]))
    for l in range(len(self.latent_dims) - 1, -1, -1):
      z = z @ self.W[l].T + self.b[l]
      z = z + self.sigmas[l] * rng.normal(size=z.shape)
    return z

  def log_marginal(self, x):
    """Exact log p(x), numpy float64 [N]."""
    return tfd.MultivariateNormalFullCovariance(*self.marginal_x()).log_prob(x).numpy()

  def keras_model(self, method_cls, q_loc_shift=0.0, q_scale_factor=1.0, **kwargs):
    """A ``method_cls`` model (linear networks, Gaussian likelihood) whose p is this model
    and whose q is the exact posterior; ``q_loc_shift`` / ``q_scale_factor`` (scalars,
    every layer) make q inexact."""
    model = method_cls(input_dim=self.data_dim, latent_dims=self.latent_dims, hidden=[],
                       likelihood="gaussian", **kwargs)
    model.build()
    for l, block in enumerate(model.encoder_blocks):
      std = np.sqrt(np.diag(self.S[l])) * q_scale_factor
      _set_gaussian_head(block.head, self.A[l], self.c[l] + q_loc_shift, std)
    for l, block in enumerate(model.decoder_blocks):   # p(x | z_1), p(z_1 | z_2), ...
      _set_gaussian_head(block.head, self.W[l].T, self.b[l],
                         np.full(self.W[l].shape[0], self.sigmas[l]))
    return model


def _set_gaussian_head(head, kernel, bias, std):
  """Set a ``GaussianHead`` to loc = h @ kernel + bias and a constant std."""
  head.loc.kernel.assign(np.asarray(kernel, np.float32))
  head.loc.bias.assign(np.asarray(bias, np.float32))
  head.raw_scale.kernel.assign(np.zeros(np.shape(kernel), np.float32))
  head.raw_scale.bias.assign(dists.raw_from_scale(np.asarray(std, np.float32)))


def tiny_binary_data(n=64, dim=12, seed=0):
  """Binary data with structure (two prototypes plus noise), for quick fit tests."""
  rng = np.random.default_rng(seed)
  protos = rng.random((2, dim)) < 0.5
  idx = rng.integers(0, 2, n)
  flip = rng.random((n, dim)) < 0.1
  return (protos[idx] ^ flip).astype(np.float32)


# ---- Independent numpy oracles: the bounds and their log-weight gradients ----------------
#Independent numpy oracles for tests: the bounds and their log-weight gradients.
# 
# Written from the definitions, not from ``tfiw.bounds`` (float64 numpy, max-shifted), so a
# test can compare the library against them. ``log_w`` is [N, B], sample axis first.
#   ELBO(N)       = (1/N) Σ_k log w_k                      d/d log w_k = 1/N
#   IWAE(N)       = log (1/N) Σ_k w_k                      d/d log w_k = w~_k = w_k / Σ_j w_j
#   MIWAE(M, K)   = (1/M) Σ_m IWAE(K) of rows mK..mK+K-1   d/d log w_k = w~_k within its group / M
#   CIWAE(β)      = β ELBO(N) + (1 - β) IWAE(N)            d/d log w_k = β/N + (1 - β) w~_k
#   PIWAE(M, K):  θ maximises IWAE(M*K), φ maximises MIWAE(M, K).



def log_mean_exp(a, axis=0):
  """log (1/n) Σ exp(a) along ``axis``."""
  a = np.asarray(a, np.float64)
  m = np.max(a, axis=axis, keepdims=True)
  return np.squeeze(m, axis) + np.log(np.mean(np.exp(a - m), axis=axis))


def self_normalised(a):
  """w~_k = w_k / Σ_j w_j along axis 0."""
  a = np.asarray(a, np.float64)
  e = np.exp(a - a.max(0, keepdims=True))
  return e / e.sum(0, keepdims=True)


def miwae(a, m):
  """Mean over m groups of consecutive rows of the per-group IWAE bound, [B]."""
  k = len(a) // m
  return np.mean([log_mean_exp(a[g * k:(g + 1) * k]) for g in range(m)], axis=0)


def _miwae_grad(a, m):
  k = len(a) // m
  return np.concatenate([self_normalised(a[g * k:(g + 1) * k]) for g in range(m)]) / m


def bound_and_grads(objective, a, num_groups=1, beta=None):
  """(θ's bound [B], d θ-objective / d log_w [N, B], d φ-objective / d log_w [N, B])."""
  a = np.asarray(a, np.float64)
  n = len(a)
  if objective == "elbo":
    g = np.full_like(a, 1.0 / n)
    return a.mean(0), g, g
  if objective == "iwae":
    g = self_normalised(a)
    return log_mean_exp(a), g, g
  if objective == "miwae":
    g = _miwae_grad(a, num_groups)
    return miwae(a, num_groups), g, g
  if objective == "ciwae":
    g = beta / n + (1.0 - beta) * self_normalised(a)
    return beta * a.mean(0) + (1.0 - beta) * log_mean_exp(a), g, g
  if objective == "piwae":
    return log_mean_exp(a), self_normalised(a), _miwae_grad(a, num_groups)
  raise ValueError(objective)


# ---- Sparse-GP oracles (closed forms a VAE-DGP with observed inputs must reproduce) ------
def uncollapsed_bound(kernel, z, x, y, q_mu, q_sqrt, noise_var, whiten=True,
                      jitter=gp.DEFAULT_JITTER, num_data=None):
  """Sparse GP regression ELBO with explicit q(u) (Hensman et al. 2013):
  (N / B) Σ_n E_q(f_n)[log p(y_n | f_n)] - KL(q(u) || p(u)); y [B, P]. ``num_data``
  N defaults to B (the whole data set in one batch)."""
  mean, var = gp.conditional(kernel, z, x, q_mu, q_sqrt, whiten, jitter)
  ell = tf.reduce_sum(gp.expected_gaussian_log_lik(y, mean, var, noise_var))
  scale = 1.0 if num_data is None else tf.cast(num_data, y.dtype) / tf.cast(tf.shape(y)[0],
                                                                            y.dtype)
  kmm = None if whiten else kernel.matrix(z, z)
  return scale * ell - gp.kl_q_u(q_mu, q_sqrt, kmm, whiten, jitter)


def optimal_q_u(kernel, z, x, y, noise_var, whiten=True, jitter=gp.DEFAULT_JITTER):
  """The q(u) that maximises the uncollapsed bound for a Gaussian likelihood (Titsias):
  Σ = (K_mm + σ⁻² K_mn K_nm)⁻¹,  m_u = σ⁻² K_mm Σ K_mn y,  S_u = K_mm Σ K_mm,
  shared by every output column of y [N, P]. Returns (q_mu [P, M], q_sqrt [1, M, M])
  in the requested parameterisation (whitened: m_v = L⁻¹ m_u, S_v = L⁻¹ S_u L⁻ᵀ)."""
  kmm = kernel.matrix(z, z) + jitter * tf.eye(tf.shape(z)[0], dtype=z.dtype)
  kmn = kernel.matrix(z, x)
  sigma_inv = kmm + tf.matmul(kmn, kmn, transpose_b=True) / noise_var
  sigma = tf.linalg.inv(sigma_inv)
  m_u = tf.matmul(kmm, tf.matmul(sigma, tf.matmul(kmn, y))) / noise_var       # [M, P]
  s_u = tf.matmul(kmm, tf.matmul(sigma, kmm))
  s_u = 0.5 * (s_u + tf.transpose(s_u))
  if whiten:
    chol = tf.linalg.cholesky(kmm)
    m_u = tf.linalg.triangular_solve(chol, m_u, lower=True)
    li_s = tf.linalg.triangular_solve(chol, s_u, lower=True)
    s_u = tf.linalg.triangular_solve(chol, tf.transpose(li_s), lower=True)
    s_u = 0.5 * (s_u + tf.transpose(s_u))
  return tf.transpose(m_u), tf.linalg.cholesky(s_u)[None]


def titsias_bound(kernel, z, x, y, noise_var, jitter=gp.DEFAULT_JITTER):
  """Collapsed bound (Titsias 2009), summed over the columns of y [N, P]:
  Σ_p log N(y_p | 0, Q_nn + σ² I) - P tr(K_nn - Q_nn) / (2σ²),  Q_nn = K_nm K_mm⁻¹ K_mn,
  computed with B = I + AAᵀ, A = L⁻¹ K_mn / σ (matrix determinant and inversion lemmas)."""
  n = tf.cast(tf.shape(x)[0], y.dtype)
  p = tf.cast(tf.shape(y)[1], y.dtype)
  sigma = tf.sqrt(tf.cast(noise_var, y.dtype))
  chol = gp.cholesky(kernel.matrix(z, z), jitter)
  a = tf.linalg.triangular_solve(chol, kernel.matrix(z, x), lower=True) / sigma
  b = tf.eye(tf.shape(z)[0], dtype=y.dtype) + tf.matmul(a, a, transpose_b=True)
  lb = tf.linalg.cholesky(b)
  c = tf.linalg.triangular_solve(lb, tf.matmul(a, y), lower=True) / sigma
  log_det = 2.0 * tf.reduce_sum(tf.math.log(tf.linalg.diag_part(lb))) + n * tf.math.log(
      noise_var)
  log_marg = (-0.5 * p * n * math.log(2 * math.pi) - 0.5 * p * log_det -
              0.5 * tf.reduce_sum(tf.square(y)) / noise_var + 0.5 * tf.reduce_sum(tf.square(c)))
  trace = tf.reduce_sum(gp.kernel_diag(kernel, x)) / noise_var - tf.reduce_sum(tf.square(a))
  return log_marg - 0.5 * p * trace
