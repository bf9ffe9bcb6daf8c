"""Score-function (REINFORCE-type) estimators for discrete latents, as surrogate losses.

Pure functions of tensors, no Keras, no state. Conventions as in ``tfiw.bounds``:
``log_w`` [K, B] with ``log w_k = log p(x, z_k) - log q(z_k | x)`` and ``log_q`` [K, B]
= log q(z_k | x), both differentiable w.r.t. φ through q's parameters (the samples z are
discrete and stop-gradiented, so there is no pathwise gradient to pick up).

Every function returns ``tfiw.losses.Losses``:
  * ``model_loss = -mean(bound)``: its θ-gradient is the pathwise ∇θ log p(x, z) at the
    sampled z (for the K-sample bound, the self-normalised average Σ_k w̃_k ∇θ log p(x, z_k));
  * ``inference_loss``: value ``-mean(bound)``, gradient the estimator's φ-gradient of
    ``-bound``, written as a zero-valued surrogate ``s - stop_gradient(s)``.

Score-function identity: ∇φ E_q[f(z)] = E_q[f(z) ∇φ log q(z|x)] + E_q[∇φ f(z)], and
E_q[∇φ log q(z|x)] = 0, so any signal c that does not depend on z (a baseline) can be
subtracted from f without bias: E_q[(f(z) - c) ∇φ log q(z|x)] = E_q[f(z) ∇φ log q(z|x)].

References:
  Williams (1992), Simple statistical gradient-following algorithms (REINFORCE).
  Mnih & Gregor (2014), Neural variational inference and learning in belief networks (NVIL).
  Mnih & Rezende (2016), Variational inference for Monte Carlo objectives (VIMCO).
"""
import tensorflow as tf

from tfiw import bounds
from tfiw.losses import Losses, zero_valued


def _surrogate(signal, log_q):
  """Zero-valued term whose gradient is Σ_k signal_k ∇ log q_k, averaged over the batch.

  ``signal`` [K, B] is treated as a constant (stop-gradient), ``log_q`` [K, B].
  """
  return zero_valued(0.0, tf.reduce_mean(tf.reduce_sum(tf.stop_gradient(signal) * log_q,
                                                       axis=0)))


def _elbo_losses(log_w, log_q, signal):
  """K independent single-sample ELBO estimates with a given (centred) learning signal.

  bound = (1/K) Σ_k log w_k; φ-gradient of -bound estimated by
  -(1/K) Σ_k signal_k ∇φ log q(z_k|x). The direct term E_q[-∇φ log q] = 0 is left out
  (keeping it would only act as a constant baseline of 1 nat).
  """
  k = tf.cast(tf.shape(log_w)[0], log_w.dtype)
  bound = bounds.elbo(log_w)
  model_loss = -tf.reduce_mean(bound)
  inference_loss = -tf.reduce_mean(tf.stop_gradient(bound)) - _surrogate(signal / k, log_q)
  return Losses(model_loss, inference_loss, bound, bounds.effective_sample_size(log_w))


def reinforce(log_w, log_q):
  """Plain REINFORCE for the ELBO (no baseline): learning signal l = log p(x,z) - log q(z|x).

  ∇φ ELBO ≈ (1/K) Σ_k l_k ∇φ log q(z_k|x). Unbiased, high variance: the reference point.
  """
  return _elbo_losses(log_w, log_q, log_w)


def nvil_signal(log_w, baseline, running_mean, running_scale):
  """NVIL's centred and normalised learning signal (Mnih & Gregor 2014, sec. 3.3).

  A = (l - b(x) - c) / max(1, sqrt(v)), with l = log w the single-sample ELBO, b(x) [B]
  the input-dependent baseline network, c a running mean of l - b(x) and v a running
  variance of l - b(x) - c (both exponential moving averages; ``running_scale`` = sqrt(v)).
  b, c and v do not depend on z, so E_q[A ∇φ log q] is the ELBO gradient divided by
  max(1, sqrt(v)): unbiased up to a positive per-step scale (the step size adapts).

  Returns (A [K, B], centred l - b(x) - c [K, B]); the second is what b is trained on.
  """
  centred = tf.stop_gradient(log_w) - baseline[None, :] - running_mean
  return centred / tf.maximum(1.0, running_scale), centred


def nvil(log_w, log_q, baseline, running_mean, running_scale):
  """NVIL estimator. Returns (Losses, baseline_loss, centred [K, B]).

  ``baseline_loss = mean((l - c - b(x))^2)`` is minimised w.r.t. the baseline network's
  own parameters only (NVIL's b(x) is fitted to the learning signal by regression); its
  gradient flows only through ``baseline`` (l is stop-gradiented).
  """
  signal, centred = nvil_signal(log_w, baseline, running_mean, running_scale)
  losses = _elbo_losses(log_w, log_q, tf.stop_gradient(signal))
  baseline_loss = tf.reduce_mean(tf.square(centred))
  return losses, baseline_loss, centred


def vimco_log_baselines(log_w, objective_fn=bounds.iwae_bound):
  """Leave-one-out baselines of VIMCO (Mnih & Rezende 2016, eq. 10), [K, B].

  For sample j: the objective (IWAE's: log (1/K) (Σ_{i≠j} w_i + ŵ_{-j})) of the K
  log-weights with log w_j replaced by (1/(K-1)) Σ_{i≠j} log w_i, so ŵ_{-j} is the
  geometric mean of the other weights standing in for w_j. ``objective_fn`` maps [K, N]
  log-weights to [N] (any symmetric objective, e.g. the VR bound). Needs K >= 2.
  """
  k = tf.shape(log_w)[0]
  kf = tf.cast(k, log_w.dtype)
  # Mean of the others' log-weights: (Σ_i log w_i - log w_j) / (K - 1).
  loo_mean = (tf.reduce_sum(log_w, 0, keepdims=True) - log_w) / (kf - 1.0)   # [K(j), B]
  eye = tf.eye(k, dtype=tf.bool)[:, :, None]                                 # [K(j), K(i), 1]
  # Row j: log-weights with entry j replaced by the leave-one-out geometric mean.
  replaced = tf.where(eye, loo_mean[:, None, :], log_w[None, :, :])          # [K, K, B]
  if objective_fn is bounds.iwae_bound:
    return bounds.log_mean_exp(replaced, axis=1)
  samples_first = tf.reshape(tf.transpose(replaced, [1, 0, 2]), [k, -1])       # [K(i), K*B]
  return tf.reshape(objective_fn(samples_first), tf.shape(log_w))


def vimco(log_w, log_q, objective_fn=bounds.iwae_bound):
  """VIMCO gradient of the K-sample bound L̂ = log (1/K) Σ_k w_k (Mnih & Rezende 2016, eq. 11).

  ∇φ L̂ ≈ Σ_j (L̂ - L̂_{-j}) ∇φ log q(z_j|x) + Σ_j w̃_j ∇φ log w_j,
  where L̂_{-j} is ``vimco_log_baselines`` and w̃_j = w_j / Σ_i w_i. The second term is the
  bound's direct dependence on φ through -log q inside log w (kept here: unlike the ELBO's,
  it does not vanish in expectation). Each baseline L̂_{-j} is independent of z_j given the
  other samples, so the estimator is unbiased for ∇φ E[L̂]. ``objective_fn`` replaces L̂ by
  another symmetric objective of the K log-weights (e.g. the VR bound); the argument is
  the same.
  """
  bound = objective_fn(log_w)
  signal = tf.stop_gradient(bound[None, :] - vimco_log_baselines(log_w, objective_fn))
  model_loss = -tf.reduce_mean(bound)
  inference_loss = -tf.reduce_mean(bound) - _surrogate(signal, log_q)
  return Losses(model_loss, inference_loss, bound, bounds.effective_sample_size(log_w))


def iwae_reinforce(log_w, log_q, objective_fn=bounds.iwae_bound):
  """Naive score-function gradient of the K-sample bound (no baselines; VIMCO's reference).

  ∇φ L̂ ≈ Σ_j L̂ ∇φ log q(z_j|x) + Σ_j w̃_j ∇φ log w_j: every sample gets the same signal
  L̂, which is why its variance grows with K (Mnih & Rezende 2016, sec. 3). Any objective
  ``objective_fn`` of the K log-weights in place of L̂.
  """
  bound = objective_fn(log_w)
  signal = tf.stop_gradient(tf.broadcast_to(bound[None, :], tf.shape(log_w)))
  model_loss = -tf.reduce_mean(bound)
  inference_loss = -tf.reduce_mean(bound) - _surrogate(signal, log_q)
  return Losses(model_loss, inference_loss, bound, bounds.effective_sample_size(log_w))

