"""Optimisers a paper's released code used, where it differs from Keras's.

``YburdaAdam`` is the Adam of Burda et al.'s released code (github.com/yburda/iwae,
``optimizers.py``), which Table 1's runs used through ``Adam(model, learning_rate=1e-3)``.
It differs from Keras's Adam (and from the paper's text, β1 = 0.9) in three ways:

- β1 = 0.99, the class default the experiments never override;
- the second moment v starts at ones, not zeros (``shared_ones_like``), so the first
  ~1/(1-β2) = 1,000 steps are far smaller than Adam's;
- Theano computes all of a step's updates from the values before the step, so the
  parameter moves by the *previous* step's moments (m_{t-1}, v_{t-1}) with the bias
  correction of step t: alpha_t = lr·√(1-β2^t)/(1-β1^t), θ += alpha_t·m_{t-1}/(√v_{t-1}+ε);
- its gradient is of the minibatch's *sum* of bounds (``iwae.py``), not their mean. Adam is
  scale-free only when v starts at zero and ε is negligible; with v from ones and ε = 1e-4
  the scale matters, so ``gradient_scale`` (the batch size, set by the trainer) turns
  tfiw's mean-gradient back into the sum.

The ε = 1e-4 is added to √v as in Keras. The variant row ``vae_l1_k1_yburda_adam``
(configs/papers/burda2016_table1.py) measures what this optimiser changes at the full
protocol.
"""
import keras
from keras import ops


@keras.saving.register_keras_serializable("tfiw")
class YburdaAdam(keras.optimizers.Adam):
  """Adam as in yburda/iwae ``optimizers.py`` (see the module docstring)."""

  def __init__(self, learning_rate=1e-3, beta_1=0.99, beta_2=0.999, epsilon=1e-4,
               initial_velocity=1.0, gradient_scale=1.0, name="yburda_adam", **kwargs):
    super().__init__(learning_rate=learning_rate, beta_1=beta_1, beta_2=beta_2,
                     epsilon=epsilon, name=name, **kwargs)
    self.initial_velocity = float(initial_velocity)
    self.gradient_scale = float(gradient_scale)

  def build(self, var_list):
    if self.built:
      return
    super().build(var_list)
    for v in self._velocities:  # a checkpoint restored later overwrites these
      v.assign(ops.full(v.shape, self.initial_velocity, dtype=v.dtype))

  def update_step(self, gradient, variable, learning_rate):
    lr = ops.cast(learning_rate, variable.dtype)
    gradient = ops.cast(gradient, variable.dtype) * self.gradient_scale
    step = ops.cast(self.iterations + 1, variable.dtype)
    alpha = (lr * ops.sqrt(1 - ops.power(ops.cast(self.beta_2, variable.dtype), step)) /
             (1 - ops.power(ops.cast(self.beta_1, variable.dtype), step)))
    m = self._momentums[self._get_variable_index(variable)]
    v = self._velocities[self._get_variable_index(variable)]
    # The parameter first, from the moments before this step (Theano's update semantics);
    # the resource variables' program order keeps these reads before the writes below.
    self.assign_sub(variable, ops.divide(ops.multiply(m, alpha),
                                         ops.add(ops.sqrt(v), self.epsilon)))
    self.assign_add(m, ops.multiply(ops.subtract(gradient, m), 1 - self.beta_1))
    self.assign_add(v, ops.multiply(ops.subtract(ops.square(gradient), v), 1 - self.beta_2))

  def get_config(self):
    return {**super().get_config(), "initial_velocity": self.initial_velocity,
            "gradient_scale": self.gradient_scale}
