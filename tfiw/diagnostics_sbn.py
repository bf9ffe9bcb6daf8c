"""Variance of score-function φ-gradients for binary-latent models.

For a fixed model (a checkpoint) and a fixed minibatch x, each estimator's φ-gradient
ĝ = ∇φ inference_loss is a random vector (over z ~ q). Over ``num_draws`` independent
draws we report, per estimator,
  total_variance     tr Cov[ĝ] = Σ_p Var[ĝ_p]        (the number baselines reduce)
  mean_grad_sq_norm  ||E[ĝ]||^2 (Monte Carlo mean)
  relative_variance  tr Cov[ĝ] / ||E[ĝ]||^2          (scale-free; 1/SNR)
Estimators (``name`` or ``name:K``; each is an estimator of ``tfiw.estimators`` with an
objective, ``SPECS``):
  reinforce[:K]       ELBO, learning signal l = log w, no baseline (default K=1)
  nvil                ELBO, l - b(x) - c with the model's own baseline network and running
                      mean (NVIL models only); reported without the 1/max(1, sqrt(v))
                      normalisation, so the number compares centring alone, like for like
                      with ``reinforce``
  iwae_reinforce:K    K-sample bound, no baselines (every sample gets the signal L̂)
  vimco:K             K-sample bound, leave-one-out baselines
ELBO estimators and K-sample estimators target different objectives (the ELBO vs the
K-sample bound), so compare variance within a family, and relative variance across.

Pure TensorFlow; the CLI is ``python -m zoo.diagnose_sbn --workdir=DIR``.
"""
import time

import numpy as np
import tensorflow as tf

from tfiw import estimators, objectives

DEFAULT_ESTIMATORS = ("reinforce", "nvil", "iwae_reinforce:5", "vimco:5", "vimco:50")
# Diagnostic names -> (estimator in tfiw.estimators.ESTIMATORS, objective, default K).
SPECS = {"reinforce": ("reinforce", "elbo", 1), "nvil": ("nvil", "elbo", 1),
         "iwae_reinforce": ("reinforce", "iwae", 5), "vimco": ("vimco", "iwae", 5)}


def parse_estimator(spec):
  """'vimco:5' -> ('vimco', 5); 'nvil' -> ('nvil', 1); 'vimco' -> ('vimco', 5)."""
  name, _, k = spec.partition(":")
  if name not in SPECS:
    raise ValueError(f"unknown estimator {name!r}; valid: {sorted(SPECS)}")
  k = int(k) if k else SPECS[name][2]
  if name == "vimco" and k < 2:
    raise ValueError("vimco needs K >= 2")
  return name, k


def estimator_losses(model, x, name, num_samples, seed, normalize=False):
  """The ``Step`` of estimator ``name`` with K = ``num_samples`` on ``model``'s p and q
  (any family the estimator supports), through the estimator registry. ``nvil`` uses the
  model's own baseline network and running mean (NVIL models only)."""
  estimator_name, objective_name, _ = SPECS[name]
  objective = objectives.get_objective(objective_name)
  if estimator_name == "nvil":
    if model.estimator.name != "nvil":
      raise ValueError("the nvil estimator needs an NVIL model (its baseline network)")
    return model.estimator.step(model, x, seed, objective, num_samples, normalize=normalize)
  return estimators.get_estimator(estimator_name).step(model, x, seed, objective, num_samples)


def make_gradient_fn(model, name, num_samples, normalize=False, jit_compile=True):
  """A compiled (x, seed [2]) -> flat φ-gradient [P] of ``inference_loss``."""
  model.build()
  phi = model.inference_variables

  @tf.function(jit_compile=jit_compile, reduce_retracing=True)
  def grad(x, seed):
    with tf.GradientTape() as tape:
      loss = estimator_losses(model, x, name, num_samples, seed, normalize).inference_loss
    grads = tape.gradient(loss, phi)
    return tf.concat([tf.reshape(tf.zeros_like(v) if g is None else g, [-1])
                      for g, v in zip(grads, phi)], 0)

  return grad


def gradient_draws(model, x, spec, num_draws, seed=0, normalize=False, jit_compile=True):
  """[num_draws, P] numpy float64: independent φ-gradients of estimator ``spec`` on x."""
  name, k = parse_estimator(spec)
  fn = make_gradient_fn(model, name, k, normalize, jit_compile)
  x = tf.constant(np.asarray(x, np.float32))
  return np.stack([fn(x, tf.constant([seed, i], tf.int32)).numpy().astype(np.float64)
                   for i in range(num_draws)])


def summarize_draws(g):
  """Moments of gradient draws [N, P] (see the module docstring).

  ||E ĝ||^2 is estimated without bias as ||ḡ||^2 - tr Cov / N (the plain ||ḡ||^2 is inflated
  by the Monte Carlo noise of the mean, which dominates for high-variance estimators);
  the relative variance uses this estimate and is ``inf`` when it is not positive (the
  mean is not resolved with this many draws).
  """
  n = g.shape[0]
  mean = g.mean(0)
  total_var = float(g.var(0, ddof=1).sum())
  raw_sq = float(np.sum(mean**2))
  sq = raw_sq - total_var / n
  return {"total_variance": total_var, "mean_grad_sq_norm": sq,
          "mean_grad_sq_norm_raw": raw_sq,
          "relative_variance": total_var / sq if sq > 0 else float("inf"),
          "num_draws": int(n), "num_params": int(g.shape[1])}


def gradient_variance(model, x, estimators=DEFAULT_ESTIMATORS, num_draws=100, seed=0,
                      jit_compile=True):
  """{spec: summary} for each estimator spec at this model and minibatch x.

  Estimators the model cannot evaluate (``nvil`` on a non-NVIL model) are skipped.
  """
  out = {}
  for spec in estimators:
    name, k = parse_estimator(spec)
    if name == "nvil" and model.estimator.name != "nvil":
      continue
    start = time.time()
    summary = summarize_draws(gradient_draws(model, x, spec, num_draws, seed,
                                             jit_compile=jit_compile))
    summary.update(estimator=name, num_samples=k, batch_size=int(np.shape(x)[0]),
                   seconds=time.time() - start)
    out[spec] = summary
  return out


def format_table(results):
  """A plain-text table of ``gradient_variance`` results."""
  lines = [f"{'estimator':<18}{'K':>4}{'tr Cov[g]':>14}{'||E g||^2':>14}{'rel. var':>12}"]
  for spec, r in results.items():
    lines.append(f"{spec:<18}{r['num_samples']:>4}{r['total_variance']:>14.4g}"
                 f"{r['mean_grad_sq_norm']:>14.4g}{r['relative_variance']:>12.4g}")
  return "\n".join(lines)
