"""tfiw: importance-weighted latent-variable models in TensorFlow/Keras."""
from tfiw import bounds, distributions, estimators, schedules
from tfiw.models import IWAE, METHODS, VAE, LatentVariableModel, get_method

__version__ = "0.1.0"
