"""Method registry: a plain dict from config name to model class."""
from tfiw.models.base import LatentVariableModel, LogWeights
from tfiw.models.iwae import IWAE, VAE

METHODS = {"vae": VAE, "iwae": IWAE}


def get_method(name):
  """The model class registered as ``name``; an unknown name lists the valid ones."""
  try:
    return METHODS[name]
  except KeyError:
    raise ValueError(f"unknown method {name!r}; valid methods: {sorted(METHODS)}") from None
