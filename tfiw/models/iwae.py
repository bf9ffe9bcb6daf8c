"""VAE and IWAE: one reparameterised objective shared by θ and φ.

IWAE also carries the estimators of issue 7 as options of the same class (not copies):
the φ-gradient estimator (``gradient``: iwae, stl, dreg, dreg_rws) and the objective
(``objective``: iwae, miwae, ciwae, piwae). The math is in ``tfiw.estimators``.
"""
import keras

from tfiw import estimators
from tfiw.models.base import LatentVariableModel


@keras.saving.register_keras_serializable("tfiw")
class VAE(LatentVariableModel):
  """Variational auto-encoder (Kingma & Welling 2014) with the K-sample averaged ELBO."""

  def estimator(self, lw):
    return estimators.vae(lw.log_w)


@keras.saving.register_keras_serializable("tfiw")
class IWAE(LatentVariableModel):
  """Importance-weighted auto-encoder (Burda et al. 2016): log (1/K) sum_k w_k.

  Options beyond the paper (defaults give Burda et al.'s IWAE unchanged):
    gradient: φ-gradient estimator, one of ``estimators.GRADIENTS``:
      "iwae" (plain reparameterised), "stl" (sticking the landing, Roeder et al. 2017),
      "dreg" (doubly reparameterised, Tucker et al. 2019), "dreg_rws" (DReG form of the
      RWS wake-φ update). θ always gets the plain gradient of its objective.
    objective: one of ``estimators.OBJECTIVES``: "iwae"; "miwae" (MIWAE(M, K)),
      "ciwae" (beta * ELBO + (1 - beta) * IWAE), "piwae" (θ on IWAE(M*K), φ on
      MIWAE(M, K)) (Rainforth et al. 2018).
    num_groups: M for miwae/piwae; each training step then draws M * num_samples
      samples per example. Must be 1 for the other objectives.
    beta: CIWAE's weight in [0, 1]; ciwae only (None otherwise).
  """

  def __init__(self, *args, gradient="iwae", objective="iwae", num_groups=1, beta=None,
               **kwargs):
    if gradient not in estimators.GRADIENTS:
      raise ValueError(f"unknown gradient {gradient!r}; valid gradients: "
                       f"{list(estimators.GRADIENTS)}")
    if objective not in estimators.OBJECTIVES:
      raise ValueError(f"unknown objective {objective!r}; valid objectives: "
                       f"{list(estimators.OBJECTIVES)}")
    num_groups = int(num_groups)
    if num_groups < 1:
      raise ValueError(f"num_groups must be >= 1, got {num_groups}")
    if num_groups != 1 and objective not in ("miwae", "piwae"):
      raise ValueError(f"num_groups={num_groups} needs objective 'miwae' or 'piwae', "
                       f"got {objective!r}")
    if objective == "ciwae":
      if beta is None or not 0.0 <= float(beta) <= 1.0:
        raise ValueError(f"objective 'ciwae' needs beta in [0, 1], got {beta!r}")
      beta = float(beta)
    elif beta is not None:
      raise ValueError(f"beta is CIWAE's parameter; objective {objective!r} takes none")
    super().__init__(*args, **kwargs)
    self.gradient, self.objective = gradient, objective
    self.num_groups, self.beta = num_groups, beta

  def get_config(self):
    return {**super().get_config(), "gradient": self.gradient, "objective": self.objective,
            "num_groups": self.num_groups, "beta": self.beta}

  @property
  def total_samples(self):
    """Samples drawn per example in a training step: num_groups * num_samples."""
    return self.num_groups * self.num_samples

  def compute_losses(self, x, seed):
    return self.estimator(self.log_weights(x, self.total_samples, seed))

  def estimator(self, lw):
    if self.gradient == "iwae" and self.objective == "iwae":
      return estimators.iwae(lw.log_w)  # Burda et al., exactly as before the options
    return estimators.importance_weighted(
        lw.log_w, lw.log_p - lw.log_q_stop, gradient=self.gradient, objective=self.objective,
        num_groups=self.num_groups, beta=self.beta)


def preset(**options):
  """A factory ``IWAE(**{**options, **kwargs})``: a named method that is IWAE with options.

  Registered in ``tfiw.models.METHODS`` (e.g. "dreg" -> IWAE(gradient="dreg")); the model
  it builds is a plain ``IWAE`` and saves/loads as one, its options in ``get_config``.
  """
  def make(*args, **kwargs):
    return IWAE(*args, **{**options, **kwargs})
  make.__name__ = "IWAE(" + ", ".join(f"{k}={v!r}" for k, v in options.items()) + ")"
  make.__doc__ = f"IWAE with preset options {options}; see ``tfiw.IWAE``."
  make.preset = dict(options)
  return make


STL = preset(gradient="stl")
DREG = preset(gradient="dreg")
MIWAE = preset(objective="miwae")
CIWAE = preset(objective="ciwae", beta=0.5)
PIWAE = preset(objective="piwae")
