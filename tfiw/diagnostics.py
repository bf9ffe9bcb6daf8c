"""Gradient signal-to-noise diagnostics (Rainforth et al. 2018, "Tighter variational
bounds are not necessarily better").

For a gradient estimator g (a random vector: one draw of the samples z gives one g), the
signal-to-noise ratio of parameter j is

  SNR_j = |E[g_j]| / std(g_j),

estimated from ``num_draws`` independent draws on a fixed minibatch. Rainforth et al. show
that for the IWAE bound with K samples, SNR = O(sqrt(K)) for the generative parameters θ
but O(1 / sqrt(K)) for the inference parameters φ; Tucker et al. (2019) show DReG's
φ-gradient does not decay. We report, separately for θ and φ:
  snr_mean / snr_median: mean / median over parameters of SNR_j (parameters whose
    gradient has zero variance over the draws, e.g. exactly zero, are left out and
    counted in ``num_constant``);
  snr_norm: ||E[g]|| / sqrt(tr Cov[g]), one number for the whole vector;
  mean_sq_norm (||E[g]||^2) and variance (tr Cov[g]).

The functions are generic: ``gradient_snr`` takes any ``grad_fn(seed) -> (θ-grad,
φ-grad)`` (flat vectors), so score-function estimators (``tfiw.diagnostics_sbn``) can reuse
it; ``losses_grad_fn`` builds one from any ``LatentVariableModel`` whose
``compute_losses(x, seed)`` returns a ``tfiw.losses.Step``; ``with_options`` clones a
model with other constructor options (estimator, K) and the same weights, which is how
``snr_sweep`` compares estimators on one checkpoint.
"""
import json
import math
import time

import numpy as np
import tensorflow as tf

from tfiw import estimators as estimators_lib

# Estimator settings for ``snr_sweep``: every gradient estimator of ``tfiw.estimators`` by
# its name (the checkpoint's family and objective kept), "iwae" for the plain reparameterised
# gradient (as the papers' plots name it), and "model": the checkpoint's own estimator,
# only K varied (any family, e.g. an SBN trained with VIMCO or NVIL).
ESTIMATORS = {"iwae": dict(estimator="reparameterized"),
              **{name: dict(estimator=name) for name in estimators_lib.ESTIMATORS},
              "model": {}}


def _flat(grads, variables):
  """Concatenate gradients into one vector; a missing gradient (None) counts as zero."""
  return tf.concat([tf.reshape(tf.zeros_like(v) if g is None else tf.convert_to_tensor(g),
                               [-1]) for g, v in zip(grads, variables)], 0)


def losses_grad_fn(model, x, losses_fn=None, jit_compile=True):
  """``seed [2] -> (θ-grad, φ-grad)``, flat float32 vectors, for one draw on minibatch x.

  θ-grad is the gradient of ``Losses.model_loss`` w.r.t. ``model.model_variables``,
  φ-grad that of ``Losses.inference_loss`` w.r.t. ``model.inference_variables`` (exactly
  what ``train_step`` applies). ``losses_fn(x, seed) -> Losses`` defaults to
  ``model.compute_losses``; pass another for a method that computes its losses elsewhere.
  ``jit_compile``: True/False wrap it in a ``tf.function`` (with/without XLA), traced
  once; None runs eagerly (cheapest for a handful of draws of a small model).
  """
  model.build()
  losses_fn = losses_fn or model.compute_losses
  x = tf.convert_to_tensor(np.asarray(x, np.float32))
  theta, phi = model.model_variables, model.inference_variables

  def grad_fn(seed):
    with tf.GradientTape(persistent=True) as tape:
      losses = losses_fn(x, seed)
    g_theta = tape.gradient(losses.model_loss, theta)
    g_phi = tape.gradient(losses.inference_loss, phi)
    del tape
    return _flat(g_theta, theta), _flat(g_phi, phi)

  if jit_compile is None:
    return grad_fn
  return tf.function(grad_fn, jit_compile=jit_compile)


class _Moments:
  """Running mean and variance per coordinate, float64, shifted by the first draw so the
  sums do not cancel catastrophically when |E g| >> std g."""

  def __init__(self):
    self.n, self.shift, self.s1, self.s2 = 0, None, None, None

  def add(self, g):
    g = np.asarray(g, np.float64)
    if self.shift is None:
      self.shift, self.s1, self.s2 = g.copy(), np.zeros_like(g), np.zeros_like(g)
    d = g - self.shift
    self.s1 += d
    self.s2 += d * d
    self.n += 1

  def summary(self):
    n = self.n
    mean = self.shift + self.s1 / n
    var = np.maximum(self.s2 / n - (self.s1 / n) ** 2, 0.0) * n / max(n - 1, 1)  # unbiased
    std = np.sqrt(var)
    varying = std > 0
    snr = np.abs(mean[varying]) / std[varying]
    total_var = float(var.sum())
    return {
        "snr_mean": float(snr.mean()) if snr.size else float("nan"),
        "snr_median": float(np.median(snr)) if snr.size else float("nan"),
        "snr_norm": float(np.linalg.norm(mean) / math.sqrt(total_var)) if total_var > 0
                    else float("nan"),
        "mean_sq_norm": float(np.sum(mean**2)), "variance": total_var,
        "num_params": int(mean.size), "num_constant": int((~varying).sum()),
    }


def gradient_snr(grad_fn, num_draws=100, seed=0):
  """Estimate gradient SNR from ``num_draws`` draws of ``grad_fn``.

  Args:
    grad_fn: ``seed`` (int32 [2] tensor) -> (θ-grad, φ-grad), flat vectors (either may
      be empty). Draw i uses the stateless seed [seed, i], so results are reproducible
      and two estimators given the same ``seed`` see the same samples.
    num_draws: independent draws (>= 2; Rainforth et al. use ~1000, 100 is enough to
      see the trend).
  Returns:
    {"theta": summary, "phi": summary}; see the module docstring for the fields.
  """
  if num_draws < 2:
    raise ValueError(f"num_draws must be >= 2 to estimate a variance, got {num_draws}")
  moments = {"theta": _Moments(), "phi": _Moments()}
  for i in range(num_draws):
    g_theta, g_phi = grad_fn(tf.constant([seed, i], tf.int32))
    moments["theta"].add(g_theta)
    moments["phi"].add(g_phi)
  return {name: m.summary() for name, m in moments.items()}


def with_options(model, cls=None, **overrides):
  """A copy of ``model`` (same weights) built from its config with ``overrides``.

  E.g. ``with_options(iwae_model, estimator="dreg", num_samples=100)``. ``cls`` replaces
  the class (e.g. score a VAE checkpoint as ``tfiw.IWAE``); weights must match in layout.
  """
  model.build()
  clone = (cls or type(model)).from_config({**model.get_config(), **overrides})
  clone.build()
  clone.set_weights(model.get_weights())
  return clone


def snr_sweep(model, x, estimators=("iwae", "stl", "dreg"), ks=(1, 10, 100), num_draws=100,
              seed=0, jit_compile=True, k_option="num_samples", cls=None, log=None):
  """SNR of θ- and φ-gradients for each estimator and each K, on one model's weights.

  Args:
    model: a trained or initial ``LatentVariableModel``.
    x: the fixed minibatch [B, D].
    estimators: names in ``ESTIMATORS``, or a dict name -> constructor overrides (so other
      families can pass their own, e.g. {"vimco": dict(estimator="vimco")}).
    ks: sample sizes; each is set through the constructor option ``k_option``.
  Returns:
    {"estimators": {name: {"K": [...], "theta": [summary per K], "phi": [...],
    "seconds": [...]}}, "num_draws", "batch_size", "seed"}.
  """
  if not isinstance(estimators, dict):
    unknown = [e for e in estimators if e not in ESTIMATORS]
    if unknown:
      raise ValueError(f"unknown estimators {unknown}; valid: {sorted(ESTIMATORS)}")
    estimators = {e: ESTIMATORS[e] for e in estimators}
  out = {"num_draws": int(num_draws), "batch_size": int(np.shape(x)[0]), "seed": int(seed),
         "estimators": {}}
  for name, overrides in estimators.items():
    rows = out["estimators"][name] = {"K": [], "theta": [], "phi": [], "seconds": []}
    for k in ks:
      start = time.time()
      variant = with_options(model, cls=cls, **{**overrides, k_option: int(k)})
      stats = gradient_snr(losses_grad_fn(variant, x, jit_compile=jit_compile), num_draws,
                           seed)
      rows["K"].append(int(k))
      rows["theta"].append(stats["theta"])
      rows["phi"].append(stats["phi"])
      rows["seconds"].append(time.time() - start)
      if log:
        log(f"{name:>9s} K={k:<5d} SNR theta {stats['theta']['snr_mean']:.4g} "
            f"phi {stats['phi']['snr_mean']:.4g}  ({rows['seconds'][-1]:.1f}s)")
  return out


def save_json(results, path):
  with open(path, "w") as f:
    json.dump(results, f, indent=2)


def plot_snr(results, path, stat="snr_mean", title=None):
  """SNR against K (log-log), θ and φ side by side, one line per estimator; writes a PNG."""
  import matplotlib
  matplotlib.use("Agg")
  import matplotlib.pyplot as plt
  fig, axes = plt.subplots(1, 2, figsize=(10, 4))
  for ax, part, label in zip(axes, ("theta", "phi"), ("θ (generative)", "φ (inference)")):
    for name, rows in results["estimators"].items():
      ys = [r[stat] for r in rows[part]]
      ax.plot(rows["K"], ys, marker="o", label=name)
    ax.set_xscale("log")
    ax.set_yscale("log")
    ax.set_xlabel("K (samples)")
    ax.set_ylabel(f"gradient SNR ({stat})")
    ax.set_title(label)
    ax.grid(True, which="both", alpha=0.3)
    ax.legend()
  fig.suptitle(title or f"Gradient SNR over {results['num_draws']} draws, "
               f"batch of {results['batch_size']}")
  fig.tight_layout()
  fig.savefig(path, dpi=110)
  plt.close(fig)
