"""Gradient estimators as losses of log-weights.

Each estimator returns ``Losses``: ``model_loss`` is differentiated w.r.t. the
generative parameters θ only, ``inference_loss`` w.r.t. the recognition parameters φ
only, and ``bound`` [B] is the number that is reported (nats). When both losses are
the same tensor object, one backward pass serves both (VAE, IWAE).

A score-function or reweighted estimator is written as a zero-valued surrogate,
``value + (s - stop_gradient(s))``, so the reported loss stays the bound.
"""
from typing import NamedTuple

import tensorflow as tf

from tfiw import bounds


class Losses(NamedTuple):
  model_loss: tf.Tensor      # scalar, gradient taken w.r.t. θ
  inference_loss: tf.Tensor  # scalar, gradient taken w.r.t. φ
  bound: tf.Tensor           # [B], reported bound (nats)
  ess: tf.Tensor             # [B], effective sample size of the importance weights


def shared(bound, log_w):
  """One objective -bound for both θ and φ (pathwise gradients through z)."""
  loss = -tf.reduce_mean(bound)
  return Losses(loss, loss, bound, bounds.effective_sample_size(log_w))


def vae(log_w):
  """Reparameterised K-sample ELBO (Kingma & Welling 2014)."""
  return shared(bounds.elbo(log_w), log_w)


def iwae(log_w):
  """Reparameterised importance-weighted bound (Burda et al. 2016)."""
  return shared(bounds.iwae_bound(log_w), log_w)


# ---- Beyond the papers: STL, DReG, MIWAE / CIWAE / PIWAE (issue 7) ----------------------
#
# Every objective below is a mixture of grouped IWAE bounds of the same log-weights
# [N, B] (N = M*K samples): a term (c, g) stands for c * MIWAE(g, N/g), the mean over g
# groups of consecutive N/g rows of the (N/g)-sample IWAE bound. So IWAE = [(1, 1)],
# MIWAE(M, K) = [(1, M)], the ELBO = [(1, N)] (groups of one sample) and
# CIWAE(beta) = [(beta, N), (1 - beta, 1)]. A φ-gradient estimator for one grouped IWAE
# term then applies term by term (``phi_surrogate``).

GRADIENTS = ("iwae", "stl", "dreg", "dreg_rws")
OBJECTIVES = ("iwae", "miwae", "ciwae", "piwae")


def objective_terms(objective, num_samples, num_groups=1, beta=None):
  """(θ-terms, φ-terms): lists of (coefficient, groups) of grouped IWAE bounds.

  ``num_samples`` is the total number N = M*K of samples per example.
  - iwae:  θ, φ: IWAE(N).
  - miwae: θ, φ: MIWAE(M, K) (Rainforth et al. 2018, eq. 8).
  - ciwae: θ, φ: beta * ELBO(N) + (1 - beta) * IWAE(N) (Rainforth et al. 2018, eq. 9).
  - piwae: θ: IWAE(M*K); φ: MIWAE(M, K), on the same samples (Rainforth et al. 2018, §5).
  """
  if objective == "iwae":
    terms = [(1.0, 1)]
  elif objective == "miwae":
    terms = [(1.0, num_groups)]
  elif objective == "ciwae":
    terms = [(beta, num_samples), (1.0 - beta, 1)]
  elif objective == "piwae":
    return [(1.0, 1)], [(1.0, num_groups)]
  else:
    raise ValueError(f"unknown objective {objective!r}; valid objectives: {list(OBJECTIVES)}")
  return terms, terms


def mixture_bound(log_w, terms):
  """sum_i c_i * MIWAE(g_i, N / g_i)(log_w), shape [B]."""
  total = 0.0
  for coef, groups in terms:
    if coef:
      total += coef * bounds.miwae_bound(log_w, groups)
  return total


def _grouped(t, groups):
  """[N, B] -> [groups, N / groups, B]; consecutive rows form a group."""
  shape = tf.shape(t)
  return tf.reshape(t, [groups, shape[0] // groups, shape[1]])


def phi_surrogate(log_w, log_w_stl, gradient, groups=1):
  """Surrogate [B] whose φ-gradient is ``gradient``'s estimate of ∇φ MIWAE(groups, K).

  ``log_w`` = log p(x, z) - log q(z | x); ``log_w_stl`` = log p(x, z) - log q_stop(z | x)
  has the same value but q's parameters stop-gradiented, so its φ-gradient is the pathwise
  part ∂log w/∂z ∂z/∂φ only. With w~ the self-normalised weights within a group:
  - iwae: ∇φ log (1/K) sum_k w_k = sum_k w~_k ∇φ log w_k (pathwise plus score of q).
  - stl (Roeder et al. 2017): sum_k w~_k ∂log w_k/∂z_k ∂z_k/∂φ (score term dropped;
    biased for K > 1, zero variance when q is the exact posterior).
  - dreg (Tucker et al. 2019, eq. 5): sum_k w~_k^2 ∂log w_k/∂z_k ∂z_k/∂φ, unbiased for
    ∇φ IWAE, zero when q is the exact posterior (then w~ = 1/K and ∂log w/∂z = 0).
  - dreg_rws (Tucker et al. 2019, eq. 6): sum_k (w~_k - w~_k^2) ∂log w_k/∂z_k ∂z_k/∂φ,
    unbiased for the RWS wake-φ direction E[sum_k w~_k ∇φ log q(z_k)] (which ascends
    -KL(p(z|x) || q)); not the gradient of a bound. With K = 1 it is zero.
  The weights in the DReG forms are stop-gradiented: only log_w_stl carries gradient.
  The value of the surrogate is meaningful for iwae/stl only (the bound).
  """
  if gradient == "iwae":
    return bounds.miwae_bound(log_w, groups)
  if gradient == "stl":
    return bounds.miwae_bound(log_w_stl, groups)
  w = tf.stop_gradient(tf.nn.softmax(_grouped(log_w, groups), axis=1))
  if gradient == "dreg":
    coef = tf.square(w)
  elif gradient == "dreg_rws":
    coef = w - tf.square(w)
  else:
    raise ValueError(f"unknown gradient {gradient!r}; valid gradients: {list(GRADIENTS)}")
  return tf.reduce_mean(tf.reduce_sum(coef * _grouped(log_w_stl, groups), axis=1), axis=0)


def _zero_valued(value, surrogate):
  """``value`` as the number, ``surrogate``'s gradient (DESIGN: value + (s - stop(s)))."""
  return tf.stop_gradient(value) + (surrogate - tf.stop_gradient(surrogate))


def importance_weighted(log_w, log_w_stl, gradient="iwae", objective="iwae", num_groups=1,
                        beta=None):
  """Losses for IWAE-family objectives with a choice of φ-gradient estimator.

  Args:
    log_w: [N, B] log-weights, N = num_groups * K for miwae/piwae, else N = K.
    log_w_stl: [N, B] same values, q's parameters stop-gradiented (``LogWeights``:
      log_p - log_q_stop).
    gradient: one of ``GRADIENTS`` (see ``phi_surrogate``).
    objective: one of ``OBJECTIVES`` (see ``objective_terms``).
    num_groups: M for miwae/piwae.
    beta: CIWAE's mixing weight in [0, 1] (ciwae only).

  θ always gets the plain pathwise gradient of its objective: log q does not depend on θ
  and z does not either, so STL and DReG do not change θ's gradient. DReG is applied to
  the φ loss only (a single DReG surrogate for both would give θ the w~^2-weighted,
  wrong gradient). ``bound`` reports θ's objective (IWAE(M*K) for PIWAE).
  When θ and φ share one objective and the estimator is iwae or stl, one loss tensor
  serves both (one backward pass); else the φ loss is a zero-valued surrogate whose
  value is φ's objective.
  """
  if gradient not in GRADIENTS:
    raise ValueError(f"unknown gradient {gradient!r}; valid gradients: {list(GRADIENTS)}")
  n = tf.shape(log_w)[0]
  theta_terms, phi_terms = objective_terms(objective, n, num_groups, beta)
  bound = mixture_bound(log_w, theta_terms)
  ess = bounds.effective_sample_size(log_w)
  if gradient == "iwae" and theta_terms is phi_terms:
    return shared(bound, log_w)
  if gradient == "stl" and theta_terms is phi_terms:
    # θ-gradient of the STL bound equals IWAE's (log q_stop has no θ dependence).
    loss = -tf.reduce_mean(_zero_valued(bound, mixture_bound(log_w_stl, theta_terms)))
    return Losses(loss, loss, bound, ess)
  model_loss = -tf.reduce_mean(bound)
  phi_value = bound if theta_terms is phi_terms else mixture_bound(log_w, phi_terms)
  surrogate = 0.0
  for coef, groups in phi_terms:
    if coef:
      surrogate += coef * phi_surrogate(log_w, log_w_stl, gradient, groups)
  inference_loss = -tf.reduce_mean(_zero_valued(phi_value, surrogate))
  return Losses(model_loss, inference_loss, bound, ess)
