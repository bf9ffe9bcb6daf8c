"""Score-function (REINFORCE-type) estimators: the samples are held constant, so φ learns
through ∇φ log q(z|x) times a learning signal, and θ through ∇θ log p(x, z) at the samples.
They need no reparameterisation: discrete latents (sigmoid belief nets) and Gaussian ones.
The math is in ``tfiw.score_function``.
  reinforce: Williams (1992). With the ELBO each sample's signal is its own log-weight
    (K independent single-sample estimates); with another objective every sample gets
    the objective's value (the naive estimator VIMCO improves on).
  nvil (Mnih & Gregor 2014): the ELBO with a centred, normalised signal
    (l - b(x) - c) / max(1, sqrt(v)): an input-dependent baseline network b (ψ, its own
    variable group and loss) and running statistics c, v (estimator state, updated after
    each step).
  vimco (Mnih & Rezende 2016): leave-one-out baselines of a K-sample objective (IWAE's,
    or any symmetric one such as the VR bound); K >= 2.
"""
import keras
import tensorflow as tf

from tfiw import score_function
from tfiw.estimators.base import Estimator
from tfiw.losses import Step

SCORE_FAMILIES = ("gaussian", "bernoulli")


class ScoreFunction(Estimator):
  """Base: ``losses`` is ``step`` at the model's objective and K; ``step`` takes others
  (the variance diagnostics compare estimators at one checkpoint, ``tfiw.diagnostics_sbn``)."""
  families = SCORE_FAMILIES

  def losses(self, model, x, seed):
    return self.step(model, x, seed, model.objective, model.num_samples)

  @staticmethod
  def _log_weights(model, x, seed, objective, num_samples):
    return model.log_weights(x, objective.num_samples(num_samples), seed,
                             reparameterize=False)


class Reinforce(ScoreFunction):
  name = "reinforce"
  objectives = ("elbo", "iwae", "vr")

  def step(self, model, x, seed, objective, num_samples):
    lw = self._log_weights(model, x, seed, objective, num_samples)
    if objective.decomposable:
      return Step.of(score_function.reinforce(lw.log_w, lw.log_q))
    return Step.of(score_function.iwae_reinforce(lw.log_w, lw.log_q, objective.value))


class VIMCO(ScoreFunction):
  name = "vimco"
  objectives = ("iwae", "vr")

  def check(self, model):
    super().check(model)
    if model.num_samples < 2:
      raise ValueError(f"VIMCO needs num_samples >= 2 (leave-one-out baselines), "
                       f"got {model.num_samples}")

  def step(self, model, x, seed, objective, num_samples):
    lw = self._log_weights(model, x, seed, objective, num_samples)
    return Step.of(score_function.vimco(lw.log_w, lw.log_q, objective.value))


class NVIL(ScoreFunction):
  """Options: baseline_hidden (tanh units of b(x); the paper: one layer of 100),
  input_baseline (use b(x), else only c), variance_normalization (divide by
  max(1, sqrt(v)), else by 1), decay (α of c ← αc + (1-α) mean(l - b) and
  v ← αv + (1-α) mean((l - b - c)²); the paper: 0.8)."""
  name = "nvil"
  objectives = ("elbo",)
  OPTIONS = {"baseline_hidden": [100], "input_baseline": True,
             "variance_normalization": True, "decay": 0.8}

  def __init__(self, **options):
    super().__init__(**options)
    o = self.options
    o["baseline_hidden"] = [int(u) for u in (o["baseline_hidden"] or [])]
    o["input_baseline"] = bool(o["input_baseline"])
    o["variance_normalization"] = bool(o["variance_normalization"])
    o["decay"] = float(o["decay"])
    if not 0.0 <= o["decay"] < 1.0:
      raise ValueError(f"decay must be in [0, 1), got {o['decay']}")

  def create_state(self, model):
    model.baseline_net = keras.Sequential(
        [keras.layers.Dense(u, activation="tanh", name=f"dense_{i}")
         for i, u in enumerate(self.options["baseline_hidden"])] +
        [keras.layers.Dense(1, name="out")], name="baseline")
    # aggregation="mean": under tf.distribute the replicas' running statistics are averaged.
    model.signal_mean = model.add_weight(shape=(), initializer="zeros", trainable=False,
                                         name="signal_mean", aggregation="mean")
    model.signal_var = model.add_weight(shape=(), initializer="ones", trainable=False,
                                        name="signal_var", aggregation="mean")

  def build_state(self, model):
    model.baseline_net.build((None, model.input_dim))

  def variable_groups(self, model):
    """ψ: the input-dependent baseline network's variables."""
    if not self.options["input_baseline"]:
      return {"baseline": []}
    return {"baseline": list(model.baseline_net.trainable_variables)}

  def baseline(self, model, x):
    """b(x) [B] (zeros when ``input_baseline=False``)."""
    if not self.options["input_baseline"]:
      return tf.zeros(tf.shape(x)[:1])
    return model.baseline_net(x)[:, 0]

  def step(self, model, x, seed, objective, num_samples, normalize=None):
    """``normalize``: divide by max(1, sqrt(v)) (default: the ``variance_normalization``
    option)."""
    lw = self._log_weights(model, x, seed, objective, num_samples)
    normalize = self.options["variance_normalization"] if normalize is None else normalize
    scale = tf.sqrt(model.signal_var) if normalize else tf.constant(1.0)
    losses, baseline_loss, centred = score_function.nvil(
        lw.log_w, lw.log_q, self.baseline(model, x), model.signal_mean, scale)
    # Running statistics of the signal after the input-dependent baseline (paper, sec. 3.3):
    # c tracks mean(l - b(x)); v tracks the variance of l - b(x) - c.
    a = self.options["decay"]
    residual = centred + model.signal_mean  # l - b(x)
    updates = {"signal_mean": a * model.signal_mean + (1.0 - a) * tf.reduce_mean(residual),
               "signal_var": a * model.signal_var +
                             (1.0 - a) * tf.reduce_mean(tf.square(centred))}
    step = Step.of(losses, updates=updates)
    return step._replace(losses={**step.losses, "baseline": baseline_loss})
