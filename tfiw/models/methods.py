"""Named conveniences: each class is ``LatentVariableModel`` with one method's family,
objective and estimator as defaults (``tfiw.registry.METHODS`` is the table), kept so
``tfiw.IWAE(...)`` and friends read as the papers name them and saved models reload under
their names. Any other combination needs no class: ``LatentVariableModel(latents=...,
objective=..., estimator=...)`` or ``tfiw.get_method(name)(...)``.
"""
import keras

from tfiw.models.base import LatentVariableModel


def _convenience(name, doc, **defaults):
  def __init__(self, input_dim, **kwargs):
    LatentVariableModel.__init__(self, input_dim, **{**defaults, **kwargs})
  cls = type(name, (LatentVariableModel,), {"__init__": __init__, "__doc__": doc,
                                            "defaults": dict(defaults),
                                            "__module__": __name__})
  return keras.saving.register_keras_serializable("tfiw")(cls)


VAE = _convenience(
    "VAE", "Variational auto-encoder (Kingma & Welling 2014): the K-sample averaged ELBO, "
    "reparameterised gradients.", objective="elbo")
IWAE = _convenience(
    "IWAE", "Importance-weighted auto-encoder (Burda et al. 2016): log (1/K) Σ_k w_k, "
    "reparameterised gradients; ``estimator=`` stl/dreg/dreg_rws and ``objective=`` "
    "miwae/ciwae/piwae/vr change either axis.", objective="iwae")
RWS = _convenience(
    "RWS", "Reweighted wake-sleep (``tfiw.estimators.em.RWS``; ``phi_update=`` wake_phi, "
    "sleep_phi, mixed); ``latents='bernoulli'`` for sigmoid belief nets.", estimator="rws")
REM = _convenience(
    "REM", "Reweighted EM v1/v2 (``tfiw.estimators.em.REM``; ``version=``, ``cov_epsilon=``, "
    "``covariance=``).", estimator="rem")
Reinforce = _convenience(
    "Reinforce", "Sigmoid belief net, ELBO, plain REINFORCE for φ (Williams 1992).",
    latents="bernoulli", objective="elbo", estimator="reinforce")
NVIL = _convenience(
    "NVIL", "Sigmoid belief net trained with NVIL (Mnih & Gregor 2014; "
    "``tfiw.estimators.score.NVIL`` for its options).",
    latents="bernoulli", objective="elbo", estimator="nvil")
VIMCO = _convenience(
    "VIMCO", "Sigmoid belief net trained on the K-sample bound with VIMCO's leave-one-out "
    "baselines (Mnih & Rezende 2016); K >= 2.",
    latents="bernoulli", objective="iwae", estimator="vimco", num_samples=5)
