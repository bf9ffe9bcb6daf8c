"""LatentVariableModel: p(x, z) with Gaussian stochastic layers and a recognition model.

Generative model (θ), L stochastic layers, top first:
  p(z_L) = N(0, I),  p(z_l | z_{l+1}) diagonal Gaussian,  p(x | z_1) Bernoulli or Gaussian.
Recognition model (φ), bottom first:
  q(z_1 | x), q(z_l | z_{l-1}) diagonal Gaussians.
Burda et al. (2016): 1 layer = 784-200-200-50; 2 layers = 200-200 -> 100, 100-100 -> 50.

A training method is a subclass that implements ``compute_losses`` (and overrides
``train_step`` only if its loop differs). The math lives in ``tfiw.bounds`` and
``tfiw.estimators``; this file is the plumbing.
"""
import weakref
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfiw import distributions as dists
from tfiw.models import fused_steps
from tfiw.networks import StochasticBlock, frozen_call

LIKELIHOODS = ("bernoulli", "gaussian")
_REPLICA_FNS = weakref.WeakKeyDictionary()  # model -> jit-compiled _losses_and_grads


class LogWeights(NamedTuple):
  log_w: tf.Tensor         # [K, B] log p(x, z) - log q(z | x)
  log_p: tf.Tensor         # [K, B] log p(x, z)
  log_q: tf.Tensor         # [K, B] log q(z | x)
  log_q_stop: tf.Tensor    # [K, B] log q(z | x) with q's parameters φ stop-gradiented but
                           # its samples z live (STL, DReG): ``stopped_q_params``
  zs: tuple                # per layer, [K, B, Z_l], bottom first


def _normalize_hidden(hidden, num_layers):
  hidden = list(hidden)
  if all(isinstance(h, (int, np.integer)) for h in hidden):
    return [[int(h) for h in hidden]] * num_layers
  if len(hidden) != num_layers:
    raise ValueError(f"hidden has {len(hidden)} per-layer lists but there are "
                     f"{num_layers} stochastic layers")
  return [[int(u) for u in h] for h in hidden]


def _apply(layer, t, frozen=False):
  """Apply ``layer`` to the last axis of ``t`` of any rank (flattened to 2-D for matmuls);
  ``frozen=True``: with the layer's weights stop-gradiented (``networks.frozen_call``)."""
  lead = tf.shape(t)[:-1]
  flat = tf.reshape(t, [-1, t.shape[-1]])
  out = frozen_call(layer, flat) if frozen else layer(flat)
  return tf.nest.map_structure(
      lambda o: tf.reshape(o, tf.concat([lead, tf.shape(o)[-1:]], 0)), out)


class LatentVariableModel(keras.Model):
  """Base class; use a method subclass such as ``tfiw.IWAE`` or ``tfiw.VAE``.

  Args:
    input_dim: number of observed units D (any size, not only 784).
    latent_dims: latent units per stochastic layer, bottom first, e.g. ``[100, 50]``.
    hidden: deterministic units, either one list used for every stochastic layer or
      one list per layer (``[[200, 200], [100, 100]]``); the decoder mirrors it.
    activation: of the deterministic layers.
    likelihood: ``"bernoulli"`` (x in {0, 1}) or ``"gaussian"`` (real x).
    num_samples: K importance samples per example in training and ``evaluate``.
    seed: makes training draws reproducible (a counter advances it every step).
  """

  # Head of every latent block (q and p between stochastic layers): "gaussian" gives
  # (loc, raw_scale); a discrete-latent subclass sets "logits" (tfiw.models.sbn).
  latent_head = "gaussian"

  def __init__(self, input_dim, latent_dims=(50,), hidden=(200, 200), activation="tanh",
               likelihood="bernoulli", num_samples=1, seed=0, **kwargs):
    super().__init__(**kwargs)
    if likelihood not in LIKELIHOODS:
      raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
    if int(num_samples) < 1:
      raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    self.input_dim = int(input_dim)
    self.latent_dims = [int(z) for z in latent_dims]
    if not self.latent_dims:
      raise ValueError("latent_dims needs at least one stochastic layer")
    self.hidden = _normalize_hidden(hidden, len(self.latent_dims))
    self.activation = activation
    self.likelihood = likelihood
    self.num_samples = int(num_samples)
    self.seed = int(seed)
    n = len(self.latent_dims)
    # q(z_1|x), q(z_2|z_1), ...
    self.encoder_blocks = [
        StochasticBlock(self.hidden[l], self.latent_dims[l], self.latent_head, activation,
                        name=f"q_z{l + 1}") for l in range(n)]
    # p(x|z_1), p(z_1|z_2), ...  (mirrored hidden sizes)
    out_kind = "logits" if likelihood == "bernoulli" else "gaussian"
    self.decoder_blocks = [StochasticBlock(self.hidden[0][::-1], self.input_dim, out_kind,
                                           activation, name="p_x")]
    self.decoder_blocks += [
        StochasticBlock(self.hidden[l][::-1], self.latent_dims[l - 1], self.latent_head,
                        activation,
                        name=f"p_z{l}") for l in range(1, n)]
    # only_first_replica: under tf.distribute every replica increments it in sync, and
    # one replica's update is kept (a plain variable cannot be written in replica context).
    self._step_counter = self.add_weight(shape=(), dtype="int64", initializer="zeros",
                                         trainable=False, name="step_seed_counter",
                                         aggregation="only_first_replica")
    self.loss_tracker = keras.metrics.Mean(name="loss")
    self.bound_tracker = keras.metrics.Mean(name="bound")
    self.ess_tracker = keras.metrics.Mean(name="ess")

  # ---- Keras plumbing -------------------------------------------------------
  def build(self, input_shape=None):
    """Create every weight; all shapes follow from the constructor's arguments.

    Called lazily (first step, first score, loading), not by ``__init__``, so a
    subclass can still add layers in its own ``__init__``.
    """
    if self.built:
      return
    shapes = [self.input_dim] + self.latent_dims
    for l, block in enumerate(self.encoder_blocks):
      block.build((None, shapes[l]))
    for l, block in enumerate(self.decoder_blocks):
      block.build((None, shapes[l + 1]))
    self.built = True

  def get_build_config(self):
    return {"input_dim": self.input_dim}  # always rebuilt on load, before weights are set

  def build_from_config(self, config):
    self.build()

  def get_config(self):
    return {"input_dim": self.input_dim, "latent_dims": self.latent_dims,
            "hidden": self.hidden, "activation": self.activation,
            "likelihood": self.likelihood, "num_samples": self.num_samples,
            "seed": self.seed, "name": self.name}

  @property
  def inference_variables(self):
    """φ: the recognition network's trainable variables."""
    return [v for b in self.encoder_blocks for v in b.trainable_variables]

  @property
  def model_variables(self):
    """θ: the generative model's trainable variables."""
    return [v for b in self.decoder_blocks for v in b.trainable_variables]

  @property
  def metrics(self):
    return [self.loss_tracker, self.bound_tracker, self.ess_tracker]

  def call(self, x, training=False):
    """The bound (nats per example) at K=num_samples; lets Keras build and trace the model."""
    return self.compute_losses(tf.convert_to_tensor(x), self._next_seed()).bound

  def _next_seed(self):
    """A fresh stateless seed [2] per call; the counter is saved with the model."""
    self._step_counter.assign_add(1)
    count = tf.cast(self._step_counter.value % (2**31 - 1), tf.int32)
    seed = tf.stack([tf.constant(self.seed, tf.int32), count])
    # Data-parallel replicas must draw different importance samples: fold the replica id
    # in. A single replica keeps the seed unchanged (same draws as before distribution).
    ctx = tf.distribute.get_replica_context()
    if ctx is not None and ctx.num_replicas_in_sync > 1:
      seed = tf.random.experimental.stateless_fold_in(seed, ctx.replica_id_in_sync_group)
    return seed

  @staticmethod
  def _unpack(data):
    x, _, _ = keras.utils.unpack_x_y_sample_weight(data)
    if isinstance(x, (tuple, list)):
      x = x[0]
    return tf.cast(x, tf.float32)

  def compile(self, *args, jit_compile="auto", **kwargs):
    """Keras compile; under a tf.distribute strategy XLA moves inside the replica step.

    A whole-step ``jit_compile=True`` under MirroredStrategy puts the cross-replica
    all-reduce and the variable updates of every replica into one XLA cluster, which
    fails ("Trying to access resource ... located in device CPU:1 from device CPU:0").
    So with a non-default strategy Keras's step stays a plain ``tf.function`` and
    ``_losses_and_grads`` (pure compute, no variable writes) is jit-compiled per replica.
    """
    super().compile(*args, jit_compile=jit_compile, **kwargs)  # the saved config keeps it
    self._replica_jit_compile = bool(self._distributed() and jit_compile is True)
    if self._replica_jit_compile:
      self.jit_compile = False

  def _distributed(self):
    """Compiled or running under a (non-default) tf.distribute strategy."""
    return self._distribute_strategy is not None or tf.distribute.has_strategy()

  def compile_from_config(self, config):
    """Compile on load (Keras skips it for a model whose ``compile`` is overridden)."""
    self.compile(**keras.saving.deserialize_keras_object(config))
    if hasattr(self, "optimizer") and self.built:
      self.optimizer.build(self.trainable_variables)

  def _losses_and_grads(self, x, seed):
    """(x, seed) -> (Losses, gradients in ``self.trainable_variables`` order).

    Pure: reads variables, writes none, so it can be XLA-compiled on its own on each
    replica while the all-reduce and optimizer update stay outside the cluster.
    Gradients are of the replica's own losses (means over its own examples).
    """
    theta, phi = self.model_variables, self.inference_variables
    with tf.GradientTape(persistent=True) as tape:
      losses = self.compute_losses(x, seed)
    if losses.inference_loss is losses.model_loss:
      grads = tape.gradient(losses.model_loss, theta + phi)
    else:  # separate objectives for θ and φ (RWS, REM, score-function methods, DReG)
      grads = (tape.gradient(losses.model_loss, theta) +
               tape.gradient(losses.inference_loss, phi))
    del tape
    # Apply in the model's own variable order, the order the optimizer's slots are built
    # in when a saved model is loaded.
    grad_of = {id(v): g for v, g in zip(theta + phi, grads)}
    variables = self.trainable_variables
    grads = [grad_of.get(id(v)) for v in variables]
    grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]
    return losses, grads

  def _replica_losses_and_grads(self):
    """``_losses_and_grads``, XLA-compiled when ``compile`` moved jit inside the replica."""
    if not getattr(self, "_replica_jit_compile", False):
      return self._losses_and_grads
    fn = _REPLICA_FNS.get(self)
    if fn is None:  # kept outside the model so Keras/SavedModel do not track it
      # autograph=False like Keras's own step: the model code has no tensor-dependent
      # Python control flow, and converting it would re-convert nested tf.functions.
      fn = _REPLICA_FNS[self] = tf.function(self._losses_and_grads, jit_compile=True,
                                            reduce_retracing=True, autograph=False)
    return fn

  def make_train_function(self, force=False):
    """Keras's train function, except with XLA on one device and ``steps_per_execution``
    N > 1: then N steps run in one XLA computation (``tfiw.models.fused_steps``)."""
    if self.train_function is not None and not force:
      return self.train_function
    super().make_train_function(force=True)
    if (self.steps_per_execution > 1 and self.jit_compile and not self.run_eagerly
        and not self._distributed()):
      self.train_function = fused_steps.train_function(self, self.train_function)
    return self.train_function

  def _step_rng(self):
    """The RNG algorithm for draws traced in Keras's train/test step: XLA's fastest when
    the whole step is XLA-compiled. (Not under a strategy: there the per-replica jit
    function is not always compiled, e.g. MirroredStrategy on CPUs runs its ops with
    TensorFlow's kernels, which lack ThreeFry.)"""
    xla = self.jit_compile is True
    return dists.rng_algorithm(dists.XLA_RNG_ALG if xla else dists.RNG_ALG)

  def train_step(self, data):
    with self._step_rng():
      return self._train_step(data)

  def test_step(self, data):
    with self._step_rng():
      return self._test_step(data)

  def _train_step(self, data):
    self.build()
    x = self._unpack(data)
    seed = self._next_seed()
    losses, grads = self._replica_losses_and_grads()(x, seed)
    self._apply_gradients(grads, self.trainable_variables)
    return self._update_metrics(losses)

  def _apply_gradients(self, grads, variables):
    """``optimizer.apply`` with gradients of per-replica means, correct on N replicas.

    In a replica context ``optimizer.apply`` all-reduces by SUM; each replica's loss is
    a mean over its B/N examples, so dividing by N gives the gradient of the global
    mean (what Keras's own train_step does with ``scale_loss_for_distribution``).
    """
    replicas = tf.distribute.get_strategy().num_replicas_in_sync
    if replicas > 1:
      grads = [g / replicas for g in grads]
    self.optimizer.apply(grads, variables)

  def _test_step(self, data):
    self.build()
    x = self._unpack(data)
    return self._update_metrics(self.compute_losses(x, self._next_seed()))

  def _update_metrics(self, losses):
    # Weighted by batch size so the epoch average matches the per-example bound average.
    self.loss_tracker.update_state(losses.model_loss, sample_weight=tf.shape(losses.bound)[0])
    self.bound_tracker.update_state(losses.bound)
    self.ess_tracker.update_state(losses.ess)
    logs = {m.name: m.result() for m in self.metrics}
    strategy = tf.distribute.get_strategy()
    if (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and
        strategy.extended._in_multi_worker_mode()):
      # Keras reduces multi-worker logs with strategy.reduce(MEAN, v, axis=0), which fails
      # on scalars ("Invalid reduction dimension 0"): give each replica's value an axis.
      logs = {k: tf.reshape(v, [1]) for k, v in logs.items()}
    return logs

  # ---- what a method implements ---------------------------------------------
  def compute_losses(self, x, seed):
    """x [B, D], seed [2] -> ``tfiw.estimators.Losses``.

    The default draws K = num_samples samples from q and hands their log-weights to
    ``estimator``; a method whose sampling differs overrides this instead.
    """
    return self.estimator(self.log_weights(x, self.num_samples, seed))

  def estimator(self, lw):
    """``LogWeights`` -> ``Losses``. Each method implements this."""
    raise NotImplementedError(f"{type(self).__name__} does not define an estimator")

  # ---- the model's math -----------------------------------------------------
  def _gaussian(self, block, h, frozen=False):
    loc, raw = _apply(block, h, frozen)
    return loc, dists.scale_from_raw(raw)

  @staticmethod
  def stopped_q_params(layer, loc, scale, frozen_params):
    """(loc, scale) of q at stochastic layer ``layer`` with φ stop-gradiented.

    Layer 0's input is x, which does not depend on φ, so stopping its outputs is the same
    and free; above it the input z_{l-1} is a reparameterised function of φ, so q is
    re-evaluated with frozen weights (``frozen_params()``) and the path through z_{l-1}
    is kept: ∂log q(z_l | z_{l-1}) / ∂z_{l-1} · ∂z_{l-1} / ∂φ belongs to STL and DReG.
    """
    if layer == 0:
      return tf.stop_gradient(loc), tf.stop_gradient(scale)
    return frozen_params()

  def likelihood_dist(self, z1):
    """p(x | z_1) as a tfp distribution over [..., D]."""
    if self.likelihood == "bernoulli":
      return dists.bernoulli(_apply(self.decoder_blocks[0], z1))
    return dists.diag_gaussian(*self._gaussian(self.decoder_blocks[0], z1))

  def encode(self, x):
    """Mean and scale of q(z_1 | x), [B, Z_1] each."""
    return self._gaussian(self.encoder_blocks[0], tf.cast(x, tf.float32))

  def encode_top(self, x):
    """Mean and scale of q at the top stochastic layer, [B, Z_L] each.

    With several stochastic layers, the lower layers are passed through at their means
    (a deterministic summary; q(z_L | x) itself is not Gaussian then).
    """
    h = tf.cast(x, tf.float32)
    for block in self.encoder_blocks:
      loc, scale = self._gaussian(block, h)
      h = loc
    return loc, scale

  def reconstruct(self, x):
    """E[x | z_1] at z_1 = E_q[z_1 | x] (mean reconstructions for pictures)."""
    return self.likelihood_dist(self.encode(x)[0]).mean()

  def log_weights(self, x, num_samples, seed):
    """Draw K reparameterised samples z ~ q(z|x) and score them; returns ``LogWeights``."""
    self.build()
    x = tf.cast(x, tf.float32)
    seeds = tfp.random.split_seed(seed, len(self.latent_dims))
    h, zs, log_q, log_q_stop = x, [], 0.0, 0.0
    for l, block in enumerate(self.encoder_blocks):
      loc, scale = self._gaussian(block, h)
      z = dists.sample_gaussian(loc, scale, num_samples if l == 0 else (), seeds[l])
      log_q += dists.diag_gaussian(loc, scale).log_prob(z)
      log_q_stop += dists.diag_gaussian(*self.stopped_q_params(
          l, loc, scale, lambda: self._gaussian(block, h, frozen=True))).log_prob(z)
      zs.append(z)
      h = z
    log_p = self.log_joint(x, zs)
    return LogWeights(log_p - log_q, log_p, log_q, log_q_stop, tuple(zs))

  def log_prior(self, zs):
    """log p(z_1..z_L) for samples zs[l] of shape [K, B, Z_l]; returns [K, B]."""
    log_p = dists.standard_normal(self.latent_dims[-1]).log_prob(zs[-1])
    for l in range(1, len(zs)):  # p(z_l | z_{l+1}), l = 1..L-1
      log_p += dists.diag_gaussian(*self._gaussian(self.decoder_blocks[l], zs[l])).log_prob(
          zs[l - 1])
    return log_p

  def log_likelihood(self, x, z1):
    """log p(x | z_1) for z_1 [K, B, Z_1]; returns [K, B]."""
    if self.likelihood == "bernoulli":
      return dists.bernoulli_log_prob(_apply(self.decoder_blocks[0], z1), x)
    return self.likelihood_dist(z1).log_prob(x)

  def log_joint(self, x, zs):
    """log p(x, z_1..z_L); returns [K, B]."""
    return self.log_prior(zs) + self.log_likelihood(x, zs[0])

  def log_recognition(self, x, zs):
    """log q_φ(z_1..z_L | x) at given samples zs[l] [K, B, Z_l]; returns [K, B]."""
    self.build()
    h, log_q = tf.cast(x, tf.float32), 0.0
    for block, z in zip(self.encoder_blocks, zs):
      log_q += dists.diag_gaussian(*self._gaussian(block, h)).log_prob(z)
      h = z
    return log_q

  def dream(self, num_samples, seed):
    """(x, zs) ~ p(x, z) by ancestral sampling, held constant: x [N, D] and zs per layer
    [N, Z_l], bottom first (RWS's sleep phase; BDMC's simulated data)."""
    self.build()
    n = len(self.latent_dims)
    seeds = tfp.random.split_seed(seed, n + 1)
    zs = [dists.standard_normal(self.latent_dims[-1]).sample(num_samples, seed=seeds[0])]
    for l in range(n - 1, 0, -1):
      zs.insert(0, dists.diag_gaussian(*self._gaussian(self.decoder_blocks[l], zs[0])).sample(
          seed=seeds[l]))
    x = self.likelihood_dist(zs[0]).sample(seed=seeds[-1])
    return tf.stop_gradient(x), tuple(tf.stop_gradient(z) for z in zs)

  def generate(self, num_samples, seed):
    """Ancestral sampling z_L -> ... -> z_1 -> x; returns (x, E[x | z_1]), [N, D] each."""
    self.build()
    seeds = tfp.random.split_seed(seed, len(self.latent_dims) + 1)
    z = dists.standard_normal(self.latent_dims[-1]).sample(num_samples, seed=seeds[0])
    for l in range(len(self.latent_dims) - 1, 0, -1):
      z = dists.diag_gaussian(*self._gaussian(self.decoder_blocks[l], z)).sample(seed=seeds[l])
    p_x = self.likelihood_dist(z)
    return p_x.sample(seed=seeds[-1]), p_x.mean()

  # ---- user API ---------------------------------------------------------------
  def set_output_bias(self, data_mean):
    """Initialise the output bias from the training data mean (Burda et al.)."""
    mean = np.asarray(data_mean, np.float32).reshape(-1)
    if mean.shape != (self.input_dim,):
      raise ValueError(f"data_mean has {mean.size} values, model input_dim is {self.input_dim}")
    self.build()
    if self.likelihood == "bernoulli":
      p = np.clip(mean, 1e-3, 1 - 1e-3)
      mean = np.log(p) - np.log1p(-p)
    self.decoder_blocks[0].output_bias.assign(mean)

  def init_from_data(self, x):
    """Data-dependent initialisation from the training set x [N, D]: the output bias
    from its mean (Burda et al.). Subclasses take more (VAE-DGP: the set's size N)."""
    self.set_output_bias(np.asarray(x).mean(0))

  def log_prob(self, x, num_samples=5000, seed=0, **kwargs):
    """Importance-sampled log p(x) per example (nats), [N] numpy; see ``tfiw.evaluation``."""
    from tfiw import evaluation
    return evaluation.log_likelihood(self, x, num_samples=num_samples, seed=seed, **kwargs)

  def sample(self, num_samples, seed=0, mean=False):
    """Ancestral samples x ~ p(x); ``mean=True`` returns E[x | z_1] instead."""
    from tfiw import evaluation
    return evaluation.sample(self, num_samples, seed=seed, mean=mean)

  # ---- data checks: once per dataset, before Keras's loop ----------------------
  def _checked(self, x, name):
    """Arrays (numpy, tensors, lists) are checked whole, once (``tfiw.validation``): shape
    [N, D], N > 0, finite, in the likelihood's support. ``tf.data`` datasets and
    generators pass unchecked (they would have to be consumed to be checked)."""
    from tfiw import validation
    if isinstance(x, (np.ndarray, tf.Tensor, list)) or (
        hasattr(x, "__array__") and not isinstance(x, tf.data.Dataset)):
      return validation.check_data(np.asarray(x), self.input_dim, self.likelihood, name)
    return x

  def fit(self, x=None, y=None, *args, **kwargs):
    """Keras ``fit`` after checking array data once. A ``tf.data`` dataset is already
    shuffled (or not) by its pipeline, so ``shuffle`` defaults to False for it (Keras
    would ignore True with a warning)."""
    x = self._checked(x, "x")
    val = kwargs.get("validation_data")
    if val is not None:
      kwargs["validation_data"] = (
          (self._checked(val[0], "validation_data"), *val[1:]) if isinstance(val, tuple)
          else self._checked(val, "validation_data"))
    if not isinstance(x, np.ndarray) and len(args) < 7:
      kwargs.setdefault("shuffle", False)
    return super().fit(x, y, *args, **kwargs)

  def evaluate(self, x=None, y=None, *args, **kwargs):
    """Keras ``evaluate`` after checking array data once (as ``fit``; not again for the
    validation that ``fit`` runs every epoch on data it has checked)."""
    if not kwargs.get("_use_cached_eval_dataset"):
      x = self._checked(x, "x")
    return super().evaluate(x, y, *args, **kwargs)
