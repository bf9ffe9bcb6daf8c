"""The Keras model that runs a training step: one contract for every method.

A subclass supplies
  compute_losses(x, seed) -> tfiw.losses.Step   (losses per variable group, bound, metrics,
                                                  declared sharing, state updates)
  variable_groups()       -> {group: [variables]}  ("model" θ, "inference" φ, "baseline" ψ)
  metric_names            the Step metrics logged after loss and bound
and this class does the rest: per-step stateless seeds, the gradient of each group's own
loss (one backward pass where the losses are declared shared), the optimizer step, state
updates, metrics, XLA on one device (several steps fused into one XLA call) and under
tf.distribute (XLA inside each replica), and data checks before Keras's loop.
"""
import weakref

import keras
import numpy as np
import tensorflow as tf

from tfiw import distributions as dists, precision as precision_lib
from tfiw.models import fused_steps

_REPLICA_FNS = weakref.WeakKeyDictionary()  # model -> jit-compiled _losses_and_grads


class StepModel(keras.Model):
  """Base of every tfiw model (see the module docstring)."""

  metric_names = ("ess",)

  def __init__(self, seed=0, **kwargs):
    super().__init__(**kwargs)
    self.seed = int(seed)
    self.precision = "float32"  # the concrete precision of training; set by compile
    # only_first_replica: under tf.distribute every replica increments it in sync, and
    # one replica's update is kept (a plain variable cannot be written in replica context).
    self._step_counter = self.add_weight(shape=(), dtype="int64", initializer="zeros",
                                         trainable=False, name="step_seed_counter",
                                         aggregation="only_first_replica")
    self.loss_tracker = keras.metrics.Mean(name="loss")
    self.bound_tracker = keras.metrics.Mean(name="bound")

  def _make_metric_trackers(self):
    """One Mean per Step metric; called once ``metric_names`` is known."""
    self.step_trackers = [keras.metrics.Mean(name=n) for n in self.metric_names]

  @property
  def metrics(self):
    return [self.loss_tracker, self.bound_tracker] + list(self.step_trackers)

  def variable_groups(self):
    raise NotImplementedError

  def precision_blocks(self):
    """The networks whose Dense layers a precision applies to (``tfiw.precision``)."""
    return []

  def compute_losses(self, x, seed):
    raise NotImplementedError

  # ---- seeds ------------------------------------------------------------------
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

  def call(self, x, training=False):
    """The bound (nats per example) at K=num_samples; lets Keras build and trace the model."""
    return self.compute_losses(tf.convert_to_tensor(x), self._next_seed()).bound

  # ---- compile, XLA, distribution ----------------------------------------------
  def compile(self, *args, jit_compile="auto", precision="float32", **kwargs):
    """Keras compile; under a tf.distribute strategy XLA moves inside the replica step.

    ``precision``: "float32", "bfloat16" or "auto" (``tfiw.precision``) for training and
    ``evaluate``; "auto" is resolved here for the path the step takes (XLA or not), and
    the concrete precision is kept as ``self.precision`` and in the saved compile config.

    A whole-step ``jit_compile=True`` under MirroredStrategy puts the cross-replica
    all-reduce and the variable updates of every replica into one XLA cluster, which
    fails ("Trying to access resource ... located in device CPU:1 from device CPU:0").
    So with a non-default strategy Keras's step stays a plain ``tf.function`` and
    ``_losses_and_grads`` (pure compute, no variable writes) is jit-compiled per replica.
    """
    precision_lib.check(precision)  # before Keras's compile changes anything
    super().compile(*args, jit_compile=jit_compile, **kwargs)  # the saved config keeps it
    self._replica_jit_compile = bool(self._distributed() and jit_compile is True)
    xla = self.jit_compile is True or self._replica_jit_compile  # Keras resolved "auto"
    if self._replica_jit_compile:
      self.jit_compile = False
    self.precision = precision_lib.resolve(precision, xla)
    precision_lib.set_precision(self.precision_blocks(), self.precision)
    # The resolved value, not "auto": a loaded model runs in the precision it trained in.
    self._compile_config.config["precision"] = self.precision

  def _distributed(self):
    """Compiled or running under a (non-default) tf.distribute strategy."""
    return self._distribute_strategy is not None or tf.distribute.has_strategy()

  def compile_from_config(self, config):
    """Compile on load (Keras skips it for a model whose ``compile`` is overridden)."""
    self.compile(**keras.saving.deserialize_keras_object(config))
    if hasattr(self, "optimizer") and self.built:
      self.optimizer.build(self.trainable_variables)

  def _losses_and_grads(self, x, seed):
    """(x, seed) -> (step outputs, gradients in ``self.trainable_variables`` order).

    Pure: reads variables, writes none, so it can be XLA-compiled on its own on each
    replica while the all-reduce, optimizer update and state updates stay outside the
    cluster. Gradients are of the replica's own losses (means over its own examples).
    Each variable group gets the gradient of its own loss; groups declared shared take
    one backward pass.
    """
    groups = self.variable_groups()
    with tf.GradientTape(persistent=True) as tape:
      step = self.compute_losses(x, seed)
    grad_of = {}
    pending = [g for g in groups if groups[g]]
    if step.shared:
      joint = groups["model"] + groups["inference"]
      for v, g in zip(joint, tape.gradient(step.losses["model"], joint)):
        grad_of[id(v)] = g
      pending = [g for g in pending if g not in ("model", "inference")]
    for group in pending:
      for v, g in zip(groups[group], tape.gradient(step.losses[group], groups[group])):
        grad_of[id(v)] = g
    del tape
    # Apply in the model's own variable order, the order the optimizer's slots are built
    # in when a saved model is loaded.
    variables = self.trainable_variables
    grads = [grad_of.get(id(v)) for v in variables]
    grads = [tf.zeros_like(v) if g is None else g for g, v in zip(grads, variables)]
    return {"losses": step.losses, "bound": step.bound, "metrics": step.metrics,
            "updates": step.updates}, grads

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
      self.build()
      x = self._unpack(data)
      out, grads = self._replica_losses_and_grads()(x, self._next_seed())
      self._apply_gradients(grads, self.trainable_variables)
      for name, value in out["updates"].items():
        getattr(self, name).assign(value)
      return self._update_metrics(out)

  def test_step(self, data):
    with self._step_rng():
      self.build()
      step = self.compute_losses(self._unpack(data), self._next_seed())
      return self._update_metrics({"losses": step.losses, "bound": step.bound,
                                   "metrics": step.metrics})

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

  def _update_metrics(self, out):
    # Weighted by batch size so the epoch average matches the per-example bound average.
    self.loss_tracker.update_state(out["losses"]["model"],
                                   sample_weight=tf.shape(out["bound"])[0])
    self.bound_tracker.update_state(out["bound"])
    for tracker in self.step_trackers:
      tracker.update_state(out["metrics"][tracker.name])
    logs = {m.name: m.result() for m in self.metrics}
    strategy = tf.distribute.get_strategy()
    if (isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) and
        strategy.extended._in_multi_worker_mode()):
      # Keras reduces multi-worker logs with strategy.reduce(MEAN, v, axis=0), which fails
      # on scalars ("Invalid reduction dimension 0"): give each replica's value an axis.
      logs = {k: tf.reshape(v, [1]) for k, v in logs.items()}
    return logs

  # ---- data checks: once per dataset, before Keras's loop ----------------------
  def _checked(self, x, name):
    """Arrays (numpy, tensors, lists) are checked whole, once (``tfiw.validation``): shape
    [N, D], N > 0, finite, in the likelihood's support. ``tf.data`` datasets and
    generators pass unchecked (they would have to be consumed to be checked)."""
    from tfiw import validation
    if is_array(x):
      return validation.check_data(np.asarray(x), self.input_dim, self.likelihood, name)
    return x

  def fit(self, x=None, y=None, *args, **kwargs):
    """Keras ``fit`` after checking array data once (``init_from_array`` first: a family
    may take data-dependent settings from it). A ``tf.data`` dataset is already shuffled
    (or not) by its pipeline, so ``shuffle`` defaults to False for it (Keras would ignore
    True with a warning)."""
    x = self._checked(x, "x")
    if is_array(x):
      self.init_from_array(x)
    val = kwargs.get("validation_data")
    if val is not None:
      kwargs["validation_data"] = (
          (self._checked(val[0], "validation_data"), *val[1:]) if isinstance(val, tuple)
          else self._checked(val, "validation_data"))
    if not isinstance(x, np.ndarray) and len(args) < 7:
      kwargs.setdefault("shuffle", False)
    return super().fit(x, y, *args, **kwargs)

  def init_from_array(self, x):
    """Settings a family takes from the training array that ``fit`` is given (none here;
    VAE-DGP: the training-set size N when not set)."""

  def evaluate(self, x=None, y=None, *args, **kwargs):
    """Keras ``evaluate`` after checking array data once (as ``fit``; not again for the
    validation that ``fit`` runs every epoch on data it has checked)."""
    if not kwargs.get("_use_cached_eval_dataset"):
      x = self._checked(x, "x")
    return super().evaluate(x, y, *args, **kwargs)


def is_array(x):
  """Array data (numpy, tensors, lists), as opposed to a dataset or a generator."""
  return isinstance(x, (np.ndarray, tf.Tensor, list)) or (
      hasattr(x, "__array__") and not isinstance(x, tf.data.Dataset))
