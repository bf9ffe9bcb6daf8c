"""Method registry: a plain dict from config name to model class."""
from tfiw.models.base import LatentVariableModel, LogWeights
from tfiw.models.iwae import IWAE, VAE
from tfiw.models.rem import REM
from tfiw.models.rws import RWS
from tfiw.models import iwae as _iwae

METHODS = {"vae": VAE, "iwae": IWAE}
# Issue 7: named presets of the one IWAE class (factories; the model is an IWAE).
METHODS.update(stl=_iwae.STL, dreg=_iwae.DREG, miwae=_iwae.MIWAE, ciwae=_iwae.CIWAE,
               piwae=_iwae.PIWAE)

# Issue 4: the EM family (separate θ and φ objectives).
METHODS.update(rws=RWS, rem=REM)


# Issue 5: sigmoid belief networks (binary latents) with score-function estimators.
from tfiw.models.sbn import NVIL, SBN, VIMCO, Reinforce  # noqa: E402
METHODS.update(reinforce=Reinforce, nvil=NVIL, vimco=VIMCO)


def get_method(name):
  """The model class registered as ``name``; an unknown name lists the valid ones."""
  try:
    return METHODS[name]
  except KeyError:
    raise ValueError(f"unknown method {name!r}; valid methods: {sorted(METHODS)}") from None

# Issue 8: IWAE with random network weights (IWAE-R, IWAE-Rrec).
from tfiw.models.iwae_r import IWAER  # noqa: E402
METHODS.update(iwae_r=IWAER)

# Issue 8: variational auto-encoded deep Gaussian processes.
from tfiw.models.vae_dgp import VAEDGP  # noqa: E402
METHODS.update(vae_dgp=VAEDGP)
