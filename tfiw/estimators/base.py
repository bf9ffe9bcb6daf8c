"""The estimator interface (see ``tfiw.estimators``)."""

ALL_OBJECTIVES = ("elbo", "iwae", "miwae", "ciwae", "piwae", "vr")


class Estimator:
  """Base: subclasses set ``name``, ``families``, ``objectives``, ``OPTIONS`` (constructor
  options and defaults), ``metric_names`` (Step metrics beyond "ess"), and implement
  ``losses(model, x, seed) -> Step``."""
  name = None
  families = ()
  objectives = ALL_OBJECTIVES
  OPTIONS = {}
  metric_names = ()

  def __init__(self, **options):
    unknown = sorted(set(options) - set(self.OPTIONS))
    if unknown:
      raise ValueError(f"estimator {self.name!r} takes no option(s) {unknown}; "
                       f"valid: {sorted(self.OPTIONS)}")
    self.options = {**self.OPTIONS, **options}

  def check(self, model):
    """Refuse a family or objective this estimator does not support, listing the valid."""
    from tfiw.estimators import supported
    objective = model.objective.name
    if model.family not in self.families or objective not in self.objectives:
      raise ValueError(
          f"estimator {self.name!r} does not support the {model.family!r} family with "
          f"objective {objective!r}: it supports families {list(self.families)} with "
          f"objectives {list(self.objectives)}; estimators for this family and objective: "
          f"{supported(model.family, objective)}")

  def create_state(self, model):
    """Add the estimator's own layers and variables to ``model`` (in its ``__init__``)."""

  def build_state(self, model):
    """Build them (in ``model.build``)."""

  def variable_groups(self, model):
    """Variable groups beyond θ ("model") and φ ("inference"), e.g. {"baseline": ψ}."""
    return {}

  def losses(self, model, x, seed):
    raise NotImplementedError
