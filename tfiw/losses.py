"""The one training-step contract, and the zero-valued surrogate every estimator uses.

``Step`` is what a gradient estimator returns for a minibatch and what the Keras model
(``tfiw.models.step``) consumes, for every method:
  losses:  {group: scalar loss}; each variable group of the model takes the gradient of
           its own loss: "model" (θ, the generative model), "inference" (φ, the
           recognition model) and, where the estimator has one, "baseline" (ψ).
  bound:   [B] the reported objective (nats per example).
  metrics: {name: [B]} logged next to loss and bound ("ess" always; "kl", "sigma_q", ...).
  shared:  True when "model" and "inference" are one loss (one backward pass serves both);
           declared by the estimator, never detected.
  updates: {state name: new value}: estimator state (e.g. NVIL's running statistics)
           assigned after the optimizer step, outside the (XLA-compiled, pure) gradient
           computation, so it also runs per replica under tf.distribute.

``Losses`` is the smaller result of the pure math functions (``tfiw.score_function``,
``tfiw.rem``): θ's loss, φ's loss, the bound and the ESS.
"""
from typing import NamedTuple

import tensorflow as tf


class Losses(NamedTuple):
  model_loss: tf.Tensor      # scalar, gradient taken w.r.t. θ
  inference_loss: tf.Tensor  # scalar, gradient taken w.r.t. φ
  bound: tf.Tensor           # [B], reported bound (nats)
  ess: tf.Tensor             # [B], effective sample size of the importance weights


class Step(NamedTuple):
  losses: dict
  bound: tf.Tensor
  metrics: dict
  shared: bool = False
  updates: dict = {}

  @property
  def model_loss(self):
    return self.losses["model"]

  @property
  def inference_loss(self):
    return self.losses["inference"]

  @property
  def ess(self):
    return self.metrics["ess"]

  def __getattr__(self, name):
    """Metrics read as attributes too (``step.kl``, ``step.ess_s``)."""
    if not name.startswith("_") and name in self.metrics:
      return self.metrics[name]
    raise AttributeError(f"Step has no field or metric {name!r}")

  @classmethod
  def of(cls, losses, shared=False, updates=None, **metrics):
    """A ``Step`` from a ``Losses`` of the math functions plus extra metrics."""
    return cls({"model": losses.model_loss, "inference": losses.inference_loss},
               losses.bound, {"ess": losses.ess, **metrics}, shared, dict(updates or {}))

  def plus(self, penalty, in_bound=True):
    """Every loss but the baseline's plus ``penalty`` (a scalar, nats per example): a term
    over global variables. ``in_bound``: it is part of the objective (a KL of global
    parameters divided by N, as VAE-DGP's), so the reported bound drops by it too; else it
    is a regulariser (IWAE-R's optional weight KL) and the bound is left as it was."""
    losses = {k: v if k == "baseline" else v + penalty for k, v in self.losses.items()}
    return self._replace(losses=losses, bound=self.bound - penalty if in_bound else self.bound)


def zero_valued(value, surrogate):
  """``value`` as the number, ``surrogate``'s gradient: value + (s - stop_gradient(s)).

  So the reported loss stays the bound while the gradient is the estimator's (TFP's
  ``tfp.vi`` convention). Works on tensors of any (matching or broadcastable) shape.
  """
  return tf.stop_gradient(value) + (surrogate - tf.stop_gradient(surrogate))
