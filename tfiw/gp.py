"""Sparse Gaussian-process math as pure functions (no Keras): kernels, q(f) given q(u),
expected Gaussian log-likelihood, KL(q(u) || p(u)), and Titsias's collapsed bound.

Notation (one GP layer with inputs X [N, I], P outputs sharing one kernel k):
  inducing inputs Z [M, I], u_p = f_p(Z), p(u_p) = N(0, K_mm);
  whitened parameterisation u_p = L v_p, K_mm + εI = L Lᵀ, q(v_p) = N(m_p, S_p),
  S_p = R_p R_pᵀ (R_p lower triangular; one R shared by all outputs when R has a
  leading axis of size 1). Unwhitened: q(u_p) = N(m_p, S_p) directly.
The marginals of q(f_p(x)) = ∫ p(f_p(x) | u_p) q(u_p) du_p at each input are
  whitened:   A = L⁻¹ K_mn,  mean = Aᵀ m_p,  var = k(x, x) - Σ_m A_mn² + Σ_j (R_pᵀ A)_jn²,
  unwhitened: B = K_mm⁻¹ K_mn, mean = Bᵀ m_p, var = k(x, x) - Σ_m A_mn² + Σ_j (R_pᵀ B)_jn²
(Titsias 2009; Hensman, Fusi & Lawrence 2013, "Gaussian processes for big data").
Every Cholesky factor gets ``jitter`` on its diagonal.

References: Titsias (2009), "Variational learning of inducing variables in sparse
Gaussian processes"; Hensman et al. (2013); Salimbeni & Deisenroth (2017), "Doubly
stochastic variational inference for deep Gaussian processes"; Dai, Damianou, González
& Lawrence (2016), "Variational auto-encoded deep Gaussian processes".
"""
import math

import tensorflow as tf
import tensorflow_probability as tfp

psd_kernels = tfp.math.psd_kernels

DEFAULT_JITTER = 1e-5


def ard_rbf(amplitude, length_scales):
  """Exponentiated quadratic kernel with one length scale per input dimension (ARD):
  k(x, x') = a² exp(-½ Σ_i (x_i - x'_i)² / ℓ_i²)."""
  return psd_kernels.FeatureScaled(
      psd_kernels.ExponentiatedQuadratic(amplitude=amplitude), scale_diag=length_scales)


def kernel_diag(kernel, x):
  """k(x_n, x_n) for each row of x [N, I] -> [N] (stationary kernels: a²)."""
  return kernel.apply(x, x)


def cholesky(matrix, jitter=DEFAULT_JITTER):
  """Cholesky factor of ``matrix + jitter * I`` (jitter keeps K_mm numerically PD)."""
  m = tf.shape(matrix)[-1]
  return tf.linalg.cholesky(matrix + jitter * tf.eye(m, dtype=matrix.dtype))


def conditional(kernel, z, x, q_mu, q_sqrt, whiten=True, jitter=DEFAULT_JITTER):
  """Marginal mean and variance of q(f(x)) for every input row and output.

  Args:
    kernel: a ``tfp.math.psd_kernels`` kernel.
    z: inducing inputs [M, I];  x: inputs [N, I].
    q_mu: [P, M] means of q(v_p) (whitened) or q(u_p).
    q_sqrt: [P, M, M] or [1, M, M] lower-triangular factors R (upper part ignored).
  Returns:
    (mean, var), each [N, P].
  """
  kmm = kernel.matrix(z, z)
  kmn = kernel.matrix(z, x)
  chol = cholesky(kmm, jitter)
  a = tf.linalg.triangular_solve(chol, kmn, lower=True)                    # [M, N]
  b = a if whiten else tf.linalg.triangular_solve(chol, a, lower=True, adjoint=True)
  mean = tf.einsum("mn,pm->np", b, q_mu)
  r = tf.linalg.band_part(q_sqrt, -1, 0)
  rtb = tf.einsum("pmj,mn->pjn", r, b)                                     # Rᵀ B
  var = (kernel_diag(kernel, x)[:, None] - tf.reduce_sum(tf.square(a), 0)[:, None] +
         tf.transpose(tf.reduce_sum(tf.square(rtb), 1)))
  return mean, tf.broadcast_to(var, tf.shape(mean))  # a shared R gives [N, 1]


def kl_q_u(q_mu, q_sqrt, kmm=None, whiten=True, jitter=DEFAULT_JITTER):
  """Σ_p KL(q(u_p) || p(u_p)), a scalar.

  whitened:   KL(N(m, RRᵀ) || N(0, I)) = ½ [tr(RRᵀ) + mᵀm - M - log|RRᵀ|];
  unwhitened: KL(N(m, RRᵀ) || N(0, K)) = ½ [tr(K⁻¹RRᵀ) + mᵀK⁻¹m - M + log|K| - log|RRᵀ|].
  A shared factor ([1, M, M]) counts once per output.
  """
  p = tf.shape(q_mu)[0]
  m = tf.cast(tf.shape(q_mu)[1], q_mu.dtype)
  r = tf.linalg.band_part(q_sqrt, -1, 0)
  r = tf.broadcast_to(r, tf.concat([[p], tf.shape(r)[1:]], 0))
  logdet_s = 2.0 * tf.reduce_sum(tf.math.log(tf.abs(tf.linalg.diag_part(r))))
  if whiten:
    trace = tf.reduce_sum(tf.square(r))
    maha = tf.reduce_sum(tf.square(q_mu))
    logdet_k = 0.0
  else:
    chol = cholesky(kmm, jitter)
    li_r = tf.linalg.triangular_solve(chol[None], r, lower=True)          # L⁻¹ R
    trace = tf.reduce_sum(tf.square(li_r))
    maha = tf.reduce_sum(tf.square(tf.linalg.triangular_solve(chol, tf.transpose(q_mu))))
    logdet_k = tf.cast(p, q_mu.dtype) * 2.0 * tf.reduce_sum(
        tf.math.log(tf.linalg.diag_part(chol)))
  return 0.5 * (trace + maha - tf.cast(p, q_mu.dtype) * m + logdet_k - logdet_s)


def expected_gaussian_log_lik(y, mean, var, noise_var):
  """E_{f ~ N(mean, var)}[log N(y | f, σ²)] summed over the last axis:
  Σ_d -½ log(2πσ²) - ((y_d - mean_d)² + var_d) / (2σ²)."""
  return tf.reduce_sum(-0.5 * tf.math.log(2 * math.pi * noise_var) -
                       (tf.square(y - mean) + var) / (2.0 * noise_var), -1)
