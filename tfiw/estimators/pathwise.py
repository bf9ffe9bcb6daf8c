"""Pathwise (reparameterised) gradient estimators of an objective's φ-gradient.

θ always gets the plain pathwise gradient of its objective: log q does not depend on θ
and neither do the samples z, so STL and DReG do not change θ's gradient (applying a DReG
surrogate to θ would give it the w̃²-weighted, wrong gradient). They differ in φ's:
  reparameterized: ∇φ of the objective through z and through q's parameters (Kingma &
    Welling 2014; Burda et al. 2016).
  stl (Roeder et al. 2017): the score term of q dropped: the objective evaluated at
    log w_stl = log p(x, z) - log q_stop(z | x) (q's parameters stop-gradiented, z live);
    biased for IWAE with K > 1, zero variance when q is the exact posterior.
  dreg (Tucker et al. 2019, eq. 5): the objective's doubly reparameterised form
    (``Objective.dreg_surrogate``): unbiased, zero when q is the exact posterior.
  dreg_rws (Tucker et al. 2019, eq. 6): the RWS wake-φ direction in DReG form, for the
    grouped-IWAE objectives (``Objective.rws_surrogate``); not the gradient of a bound.
Families: any with reparameterised samples (Gaussian latents, random weights, VAE-DGP).
"""
from typing import NamedTuple

import tensorflow as tf

from tfiw import bounds
from tfiw.estimators.base import Estimator
from tfiw.losses import Step, zero_valued

REPARAMETERIZED_FAMILIES = ("gaussian", "random_weights", "gp")


def _stl_log_w(lw):
  """log w with q's parameters stop-gradiented (z live): the pathwise part only."""
  return lw.log_p - lw.log_q_stop


class Reparameterized(Estimator):
  name = "reparameterized"
  families = REPARAMETERIZED_FAMILIES
  # With an objective that θ and φ share, one loss serves both (one backward pass) when
  # the estimator's φ-gradient is that loss's own (not DReG's reweighted one).
  shares_one_loss = True

  def losses(self, model, x, seed):
    objective = model.objective
    lw = model.log_weights(x, objective.num_samples(model.num_samples), seed)
    return self.from_log_weights(objective, lw)

  def from_log_weights(self, objective, lw):
    """The ``Step`` of reparameterised ``LogWeights`` (any number of samples)."""
    bound = objective.value(lw.log_w)
    metrics = {"ess": bounds.effective_sample_size(lw.log_w)}
    if self.shares_one_loss and not objective.splits:
      loss = -tf.reduce_mean(self.shared_objective(objective, lw, bound))
      return Step({"model": loss, "inference": loss}, bound, metrics, shared=True)
    return Step({"model": -tf.reduce_mean(bound), "inference": self.phi_loss(objective, lw)},
                bound, metrics)

  def shared_objective(self, objective, lw, bound):
    """The objective both θ and φ ascend, valued at ``bound``."""
    return bound

  def phi_loss(self, objective, lw):
    """φ's loss when θ's and φ's losses differ."""
    return -tf.reduce_mean(objective.phi_value(lw.log_w))


class STL(Reparameterized):
  name = "stl"

  def shared_objective(self, objective, lw, bound):
    # θ-gradient of the STL form equals the objective's (log q_stop has no θ dependence).
    return zero_valued(bound, objective.value(_stl_log_w(lw)))

  def phi_loss(self, objective, lw):
    return -tf.reduce_mean(zero_valued(objective.phi_value(lw.log_w),
                                       objective.phi_value(_stl_log_w(lw))))


class DReG(Reparameterized):
  name = "dreg"
  shares_one_loss = False  # φ's reweighted gradient is not θ's loss's

  def surrogate(self, objective, log_w, log_w_stl):
    return objective.dreg_surrogate(log_w, log_w_stl)

  def phi_loss(self, objective, lw):
    surrogate = self.surrogate(objective, lw.log_w, _stl_log_w(lw))
    return -tf.reduce_mean(zero_valued(objective.phi_value(lw.log_w), surrogate))


class DReGRWS(DReG):
  name = "dreg_rws"
  objectives = ("elbo", "iwae", "miwae", "ciwae", "piwae")  # the grouped-IWAE objectives

  def surrogate(self, objective, log_w, log_w_stl):
    return objective.rws_surrogate(log_w, log_w_stl)


class _LogWeights(NamedTuple):
  log_w: tf.Tensor
  log_p: tf.Tensor
  log_q_stop: tf.Tensor


def from_log_w(estimator, objective, log_w, log_w_stl=None):
  """The ``Step`` of pathwise ``estimator`` (name) for ``objective`` (an ``Objective``)
  from log-weights alone [N, B]: ``log_w_stl`` (default ``log_w``) is log w with q's
  parameters stop-gradiented. For checks that have log-weights but no model."""
  from tfiw import estimators
  log_w_stl = log_w if log_w_stl is None else log_w_stl
  return estimators.get_estimator(estimator).from_log_weights(
      objective, _LogWeights(log_w, log_w_stl, tf.zeros_like(log_w)))
