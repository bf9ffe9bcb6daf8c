"""Keras layers that return tensors only (no distributions): MLPs and heads.

Distributions are built from these tensors in ``tfiw.distributions``, outside the
layers, because Keras 3 layers must return tensors.
"""
import keras
import tensorflow as tf


def frozen_call(layer, *args, **kwargs):
  """``layer(*args, **kwargs)`` with the layer's own weights stop-gradiented.

  Gradients still flow through the inputs. This is "stop the gradient of q's parameters"
  (STL, DReG): for q(z_2 | z_1) the input z_1 is itself a function of φ, so stopping the
  gradient at q's *outputs* (loc, scale) would also drop the path through z_1 and bias the
  estimator with two or more stochastic layers.
  """
  trainable = [tf.stop_gradient(v.value) for v in layer.trainable_variables]
  non_trainable = [v.value for v in layer.non_trainable_variables]
  outputs, _ = layer.stateless_call(trainable, non_trainable, *args, **kwargs)
  return outputs


@keras.saving.register_keras_serializable("tfiw")
def build_chain(layers, input_shape):
  """Build layers that feed each other (each with ``units``); returns the output shape."""
  shape = tuple(input_shape)
  for layer in layers:
    layer.build(shape)
    shape = shape[:-1] + (layer.units,)
  return shape


class MLP(keras.layers.Layer):
  """A stack of Dense layers with one activation; ``units=[]`` is the identity."""

  def __init__(self, units, activation="tanh", **kwargs):
    super().__init__(**kwargs)
    self.units = [int(u) for u in units]
    self.activation = activation
    self.dense = [keras.layers.Dense(u, activation=activation, name=f"dense_{i}")
                  for i, u in enumerate(self.units)]

  def build(self, input_shape):
    if self.built:
      return
    build_chain(self.dense, input_shape)
    self.built = True

  def call(self, h):
    for layer in self.dense:
      h = layer(h)
    return h

  def compute_output_shape(self, input_shape):
    return tuple(input_shape)[:-1] + ((self.units[-1],) if self.units else (input_shape[-1],))

  def get_config(self):
    return {**super().get_config(), "units": self.units, "activation": self.activation}


@keras.saving.register_keras_serializable("tfiw")
class GaussianHead(keras.layers.Layer):
  """h -> (loc, raw_scale) of a diagonal Gaussian over ``size`` units."""

  def __init__(self, size, **kwargs):
    super().__init__(**kwargs)
    self.size = int(size)
    self.loc = keras.layers.Dense(self.size, name="loc")
    self.raw_scale = keras.layers.Dense(self.size, name="raw_scale")

  def build(self, input_shape):
    if self.built:
      return
    self.loc.build(input_shape)
    self.raw_scale.build(input_shape)
    self.built = True

  def call(self, h):
    return self.loc(h), self.raw_scale(h)

  def get_config(self):
    return {**super().get_config(), "size": self.size}


@keras.saving.register_keras_serializable("tfiw")
class StochasticBlock(keras.layers.Layer):
  """One conditional distribution's network: MLP followed by a head.

  ``kind="gaussian"`` returns (loc, raw_scale); ``kind="logits"`` returns logits.
  """

  def __init__(self, hidden, size, kind="gaussian", activation="tanh", **kwargs):
    super().__init__(**kwargs)
    self.hidden, self.size, self.kind, self.activation = list(hidden), int(size), kind, activation
    if kind not in ("gaussian", "logits"):
      raise ValueError(f"kind must be 'gaussian' or 'logits', got {kind!r}")
    self.mlp = MLP(self.hidden, activation, name="mlp")
    self.head = (GaussianHead(self.size, name="head") if kind == "gaussian"
                 else keras.layers.Dense(self.size, name="head"))

  def build(self, input_shape):
    if self.built:
      return
    self.mlp.build(input_shape)
    self.head.build(self.mlp.compute_output_shape(input_shape))
    self.built = True

  def call(self, h):
    # Under the "bfloat16" precision (tfiw.precision) the Dense layers compute in bf16;
    # the outputs parameterize distributions, whose log-densities and sums stay float32.
    # (A cast to the dtype a tensor already has is no op: float32 runs are unchanged.)
    return tf.nest.map_structure(lambda o: tf.cast(o, tf.float32), self.head(self.mlp(h)))

  @property
  def output_bias(self):
    """The bias of the layer that outputs the mean/logits (for data-mean initialisation)."""
    return self.head.loc.bias if self.kind == "gaussian" else self.head.bias

  def get_config(self):
    return {**super().get_config(), "hidden": self.hidden, "size": self.size,
            "kind": self.kind, "activation": self.activation}
