"""Independent numpy oracles for tests: the bounds and their log-weight gradients.

Written from the definitions, not from ``tfiw.bounds`` (float64 numpy, max-shifted), so a
test can compare the library against them. ``log_w`` is [N, B], sample axis first.
  ELBO(N)       = (1/N) Σ_k log w_k                      d/d log w_k = 1/N
  IWAE(N)       = log (1/N) Σ_k w_k                      d/d log w_k = w~_k = w_k / Σ_j w_j
  MIWAE(M, K)   = (1/M) Σ_m IWAE(K) of rows mK..mK+K-1   d/d log w_k = w~_k within its group / M
  CIWAE(β)      = β ELBO(N) + (1 - β) IWAE(N)            d/d log w_k = β/N + (1 - β) w~_k
  PIWAE(M, K):  θ maximises IWAE(M*K), φ maximises MIWAE(M, K).
"""
import numpy as np


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
