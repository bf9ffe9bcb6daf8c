"""The estimator interface (see ``tfiw.estimators``)."""

ALL_OBJECTIVES = None  # an estimator that works with any objective of tfiw.objectives


class Estimator:
  """Base: subclasses set ``name``, ``families``, ``objectives``, ``OPTIONS`` (constructor
  options and defaults), ``metric_names`` (Step metrics beyond "ess"), and implement
  ``losses(model, x, seed) -> Step``. ``objectives`` is a tuple of names, or
  ``ALL_OBJECTIVES`` (any objective, also ones added later)."""
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
    if model.family not in self.families or not self.supports_objective(objective):
      raise ValueError(
          f"estimator {self.name!r} does not support the {model.family!r} family with "
          f"objective {objective!r}: it supports families {list(self.families)} with "
          f"objectives {self.objective_names()}; estimators for this family and objective: "
          f"{supported(model.family, objective)}")

  @classmethod
  def supports_objective(cls, name):
    return cls.objectives is ALL_OBJECTIVES or name in cls.objectives

  @classmethod
  def objective_names(cls):
    from tfiw import objectives
    return sorted(objectives.OBJECTIVES) if cls.objectives is ALL_OBJECTIVES else list(
        cls.objectives)

  def create_state(self, model):
    """Add the estimator's own layers and variables to ``model`` (in its ``__init__``)."""

  def build_state(self, model):
    """Build them (in ``model.build``)."""

  def variable_groups(self, model):
    """Variable groups beyond θ ("model") and φ ("inference"), e.g. {"baseline": ψ}."""
    return {}

  def losses(self, model, x, seed):
    raise NotImplementedError
