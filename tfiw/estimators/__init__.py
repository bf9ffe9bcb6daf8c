"""Gradient estimators: (family, objective, minibatch) -> ``tfiw.losses.Step``, one axis of
the composition (family x objective x gradient estimator; docs/design.md).

An estimator draws what it needs from the family (``LatentVariableModel.log_weights``,
``dream``, ``log_recognition``, ...), applies the objective (``tfiw.objectives``) and
returns one loss per variable group as zero-valued surrogates (``tfiw.losses``), so the
reported number stays the bound while each group's gradient is the estimator's. It
declares the families and objectives it supports; any other combination is refused at
construction with a ValueError that lists the valid ones.

  pathwise:  reparameterized, stl, dreg, dreg_rws          (``tfiw.estimators.pathwise``)
  score:     reinforce, nvil, vimco                        (``tfiw.estimators.score``)
  em:        rws, rem                                      (``tfiw.estimators.em``)

To add an estimator: a subclass of ``Estimator`` in one of these modules and one
``ESTIMATORS`` entry; the Keras step needs no change.
"""
from tfiw.estimators.base import Estimator
from tfiw.estimators.em import REM, RWS
from tfiw.estimators.pathwise import DReG, DReGRWS, Reparameterized, STL
from tfiw.estimators.score import NVIL, VIMCO, Reinforce

ESTIMATORS = {e.name: e for e in (Reparameterized, STL, DReG, DReGRWS, Reinforce, NVIL,
                                  VIMCO, RWS, REM)}


def estimator_class(name):
  """The estimator class registered as ``name``; an unknown name lists the valid ones."""
  if name not in ESTIMATORS:
    raise ValueError(f"unknown estimator {name!r}; valid estimators: {sorted(ESTIMATORS)}")
  return ESTIMATORS[name]


def get_estimator(name, **options):
  """An estimator by name with its options."""
  return estimator_class(name)(**options)


def supported(family, objective):
  """Names of the estimators that support ``family`` with ``objective``."""
  return sorted(n for n, e in ESTIMATORS.items()
                if family in e.families and e.supports_objective(objective))


__all__ = ["ESTIMATORS", "Estimator", "estimator_class", "get_estimator", "supported"]
