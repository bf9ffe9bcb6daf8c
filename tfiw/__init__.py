"""tfiw: importance-weighted latent-variable models in TensorFlow/Keras.

A model is a latent family x an objective x a gradient estimator (docs/design.md);
``METHODS`` names the combinations the literature uses.
"""
from tfiw import bounds, distributions, estimators, initializers, objectives, optimizers, schedules
from tfiw.models import IWAE, VAE, LatentVariableModel
from tfiw.registry import METHODS, get_method

__version__ = "0.1.0"
