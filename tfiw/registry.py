"""``METHODS``: every named method as data, a family x objective x gradient estimator plus
defaults. The zoo's configs (``configs/<name>.py`` sets ``method.name``), the trainer's
config validation and the diagnostics read this one table.

``tfiw.get_method(name)(input_dim=..., **kwargs)`` builds the model; kwargs override the
defaults (also ``latents=``, ``objective=``, ``estimator=`` where the estimator supports
the change, e.g. ``get_method("rws")(latents="bernoulli")``).
"""
import dataclasses
import inspect

from tfiw import estimators, objectives
from tfiw.models import methods
from tfiw.models.base import LatentVariableModel
from tfiw.models.iwae_r import IWAER
from tfiw.models.vae_dgp import VAEDGP


@dataclasses.dataclass(frozen=True)
class Method:
  family: str               # "gaussian" | "bernoulli" | "random_weights" | "gp"
  objective: str            # a name in tfiw.objectives.OBJECTIVES
  estimator: str            # a name in tfiw.estimators.ESTIMATORS
  defaults: dict = dataclasses.field(default_factory=dict)
  cls: type = LatentVariableModel  # the Keras class that builds the family
  reference: str = ""

  def __call__(self, **kwargs):
    args = {"objective": self.objective, "estimator": self.estimator, **self.defaults}
    if self.family in ("gaussian", "bernoulli"):
      args["latents"] = self.family
    return self.cls(**{**args, **kwargs})

  def option_names(self, objective=None, estimator=None):
    """Keyword arguments a config's ``method`` section may set for this method (with
    ``objective``/``estimator`` overridden: their options)."""
    names = set()
    for klass in inspect.getmro(self.cls):
      if "__init__" in vars(klass) and klass.__module__.startswith("tfiw"):
        params = inspect.signature(klass.__init__).parameters.values()
        names |= {p.name for p in params if p.kind in (p.POSITIONAL_OR_KEYWORD, p.KEYWORD_ONLY)}
    obj = objectives.OBJECTIVES.get(objective or self.objective)
    est = estimators.ESTIMATORS.get(estimator or self.estimator)
    names |= set(getattr(obj, "OPTIONS", {})) | set(getattr(est, "OPTIONS", {}))
    return names - {"self", "input_dim", "latent_dims", "hidden", "activation", "likelihood",
                    "seed", "name"}


G, B = "gaussian", "bernoulli"
METHODS = {
    "vae": Method(G, "elbo", "reparameterized", cls=methods.VAE,
                  reference="Kingma & Welling 2014"),
    "iwae": Method(G, "iwae", "reparameterized", cls=methods.IWAE,
                   reference="Burda, Grosse & Salakhutdinov 2016"),
    "stl": Method(G, "iwae", "stl", cls=methods.IWAE, reference="Roeder et al. 2017"),
    "dreg": Method(G, "iwae", "dreg", cls=methods.IWAE, reference="Tucker et al. 2019"),
    "miwae": Method(G, "miwae", "reparameterized", cls=methods.IWAE,
                    reference="Rainforth et al. 2018"),
    "ciwae": Method(G, "ciwae", "reparameterized", {"beta": 0.5}, cls=methods.IWAE,
                    reference="Rainforth et al. 2018"),
    "piwae": Method(G, "piwae", "reparameterized", cls=methods.IWAE,
                    reference="Rainforth et al. 2018"),
    "vr": Method(G, "vr", "reparameterized",
                 reference="Li & Turner 2016; Daudel et al. 2023 (VR-IWAE)"),
    "rws": Method(G, "iwae", "rws", cls=methods.RWS,
                  reference="Bornschein & Bengio 2015; Le et al. 2019"),
    "rem": Method(G, "iwae", "rem", cls=methods.REM, reference="Dieng & Paisley 2019"),
    "reinforce": Method(B, "elbo", "reinforce", cls=methods.Reinforce,
                        reference="Williams 1992"),
    "nvil": Method(B, "elbo", "nvil", cls=methods.NVIL, reference="Mnih & Gregor 2014"),
    "vimco": Method(B, "iwae", "vimco", {"num_samples": 5}, cls=methods.VIMCO,
                    reference="Mnih & Rezende 2016"),
    "iwae_r": Method("random_weights", "iwae", "reparameterized", cls=IWAER,
                     reference="random-weight IWAE (../shared/papers); Kingma et al. 2015"),
    "vae_dgp": Method("gp", "elbo", "reparameterized", cls=VAEDGP,
                      reference="Dai, Damianou, González & Lawrence 2016"),
}


def get_method(name):
  """The method registered as ``name`` (call it with the model's arguments); an unknown
  name lists the valid ones."""
  try:
    return METHODS[name]
  except KeyError:
    raise ValueError(f"unknown method {name!r}; valid methods: {sorted(METHODS)}") from None
