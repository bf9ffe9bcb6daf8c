"""VAE and IWAE: one reparameterised objective shared by θ and φ."""
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
  """Importance-weighted auto-encoder (Burda et al. 2016): log (1/K) sum_k w_k."""

  def estimator(self, lw):
    return estimators.iwae(lw.log_w)
