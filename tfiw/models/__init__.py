"""Keras models: ``LatentVariableModel`` (the Gaussian and Bernoulli families composed with
an objective and an estimator), the random-weight and VAE-DGP families, and the named
conveniences. The table of named methods is ``tfiw.registry.METHODS``."""
from tfiw.models.base import LatentVariableModel, LogWeights
from tfiw.models.iwae_r import IWAER
from tfiw.models.methods import IWAE, NVIL, REM, RWS, VAE, VIMCO, Reinforce
from tfiw.models.vae_dgp import VAEDGP
