"""Keras layers with random (Gaussian) weights, sampled with an explicit stateless seed.

A ``BayesDense`` layer holds a factorised Gaussian over its parameters,
  W_ij ~ N(μ_ij, σ_ij²),  b_j ~ N(μ_j, σ_j²),  σ = softplus(ρ),
and maps h [..., I] to activation(h W + b) for a draw of (W, b). Three ways to draw:

- ``"local"`` (default): the local reparameterisation trick (Kingma, Salimans & Welling
  2015, "Variational dropout and the local reparameterization trick"). For a fixed row h
  the pre-activation a = h W + b is Gaussian with
    E[a_j] = sum_i h_i μ_ij + μ_j,   Var[a_j] = sum_i h_i² σ_ij² + σ_j²,
  so a is sampled directly, a = E[a] + sqrt(Var[a]) ε with ε ~ N(0, I) of the output's
  shape. This equals drawing an independent weight matrix for every row (every
  importance sample k and example b) at the cost of two matmuls instead of K*B weight
  draws, and the per-row independence removes the covariance between rows that a
  shared weight draw induces, so minibatch averages have lower variance.
- ``"per_sample"``: one weight matrix per index of the leading axis (per importance
  sample k when the input is [K, B, I]), shared across the batch. Costs a [K, I, O] draw.
- ``"per_batch"``: one weight matrix for the whole call.
``seed=None`` evaluates the mean network (W = μ, b = μ_b): deterministic, used for
``encode`` and pictures. The last two modes exist to measure what LRT saves
(docs/random_weights.md); training uses ``"local"``.

``kl(prior_stddev)`` is KL(q(W, b) || N(0, s² I)) in closed form, summed over the
layer's parameters (Blundell et al. 2015, Bayes by backprop):
  KL = sum log(s / σ) + (σ² + μ²) / (2 s²) - 1/2.
"""

import keras
import tensorflow as tf

from tfiw import distributions as dists
from tfiw.networks import build_chain

SAMPLING = ("local", "per_sample", "per_batch")
# Added to the LRT variance before the square root: keeps sqrt's gradient finite when the
# variances are driven to their minimum (noise std 1e-12, far below float32 resolution).
VARIANCE_FLOOR = 1e-24


def _dense(h, w):
  """h [..., I] @ w [I, O] as one 2-D matmul (an einsum over "..." broadcasts w in its
  gradient: measured 30x slower under XLA on CPU)."""
  shape = tf.shape(h)
  out = tf.matmul(tf.reshape(h, [-1, h.shape[-1]]), w)
  return tf.reshape(out, tf.concat([shape[:-1], tf.shape(w)[-1:]], 0))


def _fold(seed, i):
  return tf.random.experimental.stateless_fold_in(tf.cast(seed, tf.int32), i)


@keras.saving.register_keras_serializable("tfiw")
class BayesDense(keras.layers.Layer):
  """Dense layer with factorised Gaussian weights; ``call(h, seed)`` draws them.

  Args:
    units: output units O.
    activation: applied after the (sampled) affine map.
    init_stddev: initial σ of every weight and bias (ρ = softplus⁻¹(init_stddev)).
    sampling: one of ``SAMPLING`` (see the module docstring).
  """

  def __init__(self, units, activation=None, init_stddev=1e-3, sampling="local", **kwargs):
    super().__init__(**kwargs)
    if sampling not in SAMPLING:
      raise ValueError(f"unknown sampling {sampling!r}; valid: {list(SAMPLING)}")
    if not init_stddev > 0:
      raise ValueError(f"init_stddev must be > 0, got {init_stddev}")
    self.units, self.init_stddev, self.sampling = int(units), float(init_stddev), sampling
    self.activation_name = activation
    self.activation = keras.activations.get(activation)

  def build(self, input_shape):
    if self.built:
      return
    i, o = int(input_shape[-1]), self.units
    rho = keras.initializers.Constant(dists.inverse_softplus(self.init_stddev))
    self.kernel_loc = self.add_weight(shape=(i, o), initializer="glorot_uniform",
                                      name="kernel_loc")
    self.kernel_rho = self.add_weight(shape=(i, o), initializer=rho, name="kernel_rho")
    self.bias_loc = self.add_weight(shape=(o,), initializer="zeros", name="bias_loc")
    self.bias_rho = self.add_weight(shape=(o,), initializer=rho, name="bias_rho")
    self.built = True

  # σ of the weights and biases.
  @property
  def kernel_stddev(self):
    return tf.nn.softplus(self.kernel_rho)

  @property
  def bias_stddev(self):
    return tf.nn.softplus(self.bias_rho)

  def moments(self, h):
    """Mean and variance of the pre-activation h W + b over q(W, b), [..., O] each."""
    mean = _dense(h, self.kernel_loc) + self.bias_loc
    var = (_dense(tf.square(h), tf.square(self.kernel_stddev)) +
           tf.square(self.bias_stddev))
    return mean, var

  def call(self, h, seed=None):
    if seed is None:
      return self.activation(_dense(h, self.kernel_loc) + self.bias_loc)
    if self.sampling == "local":
      mean, var = self.moments(h)
      eps = dists.normal_noise(tf.shape(mean), seed, dtype=mean.dtype)
      return self.activation(mean + tf.sqrt(var + VARIANCE_FLOOR) * eps)
    ks, kb = _fold(seed, 0), _fold(seed, 1)
    i, o = self.kernel_loc.shape
    if self.sampling == "per_batch":
      w = self.kernel_loc + self.kernel_stddev * dists.normal_noise([i, o], ks)
      b = self.bias_loc + self.bias_stddev * dists.normal_noise([o], kb)
      return self.activation(_dense(h, w) + b)
    # per_sample: one draw per index of the leading axis.
    shape = tf.shape(h)
    n = shape[0]
    w = self.kernel_loc + self.kernel_stddev * dists.normal_noise(
        tf.stack([n, i, o]), ks)
    b = self.bias_loc + self.bias_stddev * dists.normal_noise(tf.stack([n, o]), kb)
    flat = tf.reshape(h, tf.stack([n, -1, i]))
    out = tf.matmul(flat, w) + b[:, None, :]
    return self.activation(tf.reshape(out, tf.concat([shape[:-1], [o]], 0)))

  def kl(self, prior_stddev=1.0):
    """KL(q(W, b) || N(0, prior_stddev² I)), a scalar (nats)."""
    return (tf.reduce_sum(dists.kl_to_normal(self.kernel_loc, self.kernel_stddev, prior_stddev))
            + tf.reduce_sum(dists.kl_to_normal(self.bias_loc, self.bias_stddev, prior_stddev)))

  def compute_output_shape(self, input_shape):
    return tuple(input_shape)[:-1] + (self.units,)

  def get_config(self):
    return {**super().get_config(), "units": self.units, "activation": self.activation_name,
            "init_stddev": self.init_stddev, "sampling": self.sampling}


@keras.saving.register_keras_serializable("tfiw")
class BayesStochasticBlock(keras.layers.Layer):
  """``tfiw.networks.StochasticBlock`` with random weights in every layer (heads included).

  ``call(h, seed)`` takes h of any rank [..., I]; every layer gets its own seed
  (``stateless_fold_in(seed, layer)``). ``kind="gaussian"`` returns (loc, raw_scale),
  ``kind="logits"`` returns logits. ``seed=None`` runs the mean network.
  """

  def __init__(self, hidden, size, kind="gaussian", activation="tanh", init_stddev=1e-3,
               sampling="local", **kwargs):
    super().__init__(**kwargs)
    if kind not in ("gaussian", "logits"):
      raise ValueError(f"kind must be 'gaussian' or 'logits', got {kind!r}")
    self.hidden, self.size, self.kind, self.activation = list(hidden), int(size), kind, activation
    self.init_stddev, self.sampling = float(init_stddev), sampling
    opts = dict(init_stddev=init_stddev, sampling=sampling)
    self.dense = [BayesDense(u, activation, name=f"dense_{i}", **opts)
                  for i, u in enumerate(self.hidden)]
    heads = ("loc", "raw_scale") if kind == "gaussian" else ("logits",)
    self.heads = [BayesDense(self.size, None, name=n, **opts) for n in heads]

  @property
  def layers_list(self):
    return self.dense + self.heads

  def build(self, input_shape):
    if self.built:
      return
    shape = build_chain(self.dense, input_shape)
    for layer in self.heads:
      layer.build(shape)
    self.built = True

  def call(self, h, seed=None):
    seeds = [None if seed is None else _fold(seed, i) for i in range(len(self.layers_list))]
    for layer, s in zip(self.dense, seeds):
      h = layer(h, seed=s)
    out = [layer(h, seed=s) for layer, s in zip(self.heads, seeds[len(self.dense):])]
    return tuple(out) if self.kind == "gaussian" else out[0]

  @property
  def output_bias(self):
    """Mean bias of the layer that outputs the mean/logits (data-mean initialisation)."""
    return self.heads[0].bias_loc

  def kl(self, prior_stddev=1.0):
    return tf.add_n([layer.kl(prior_stddev) for layer in self.layers_list])

  def get_config(self):
    return {**super().get_config(), "hidden": self.hidden, "size": self.size,
            "kind": self.kind, "activation": self.activation,
            "init_stddev": self.init_stddev, "sampling": self.sampling}
