"""Learning-rate schedules (serializable, usable under XLA)."""
import math

import keras
import tensorflow as tf


@keras.saving.register_keras_serializable("tfiw")
class BurdaSchedule(keras.optimizers.schedules.LearningRateSchedule):
  """Burda et al. (2016): stage i = 0..7 lasts 3^i epochs at lr = base * 10^(-i/7).

  Stage i starts at epoch (3^i - 1)/2, so epoch e is in stage floor(log3(2e + 1));
  the eight stages cover 3280 epochs, after which the last rate is kept.
  """

  def __init__(self, steps_per_epoch, base_learning_rate=1e-3, num_stages=8):
    self.steps_per_epoch = int(steps_per_epoch)
    self.base_learning_rate = float(base_learning_rate)
    self.num_stages = int(num_stages)

  def __call__(self, step):
    epoch = tf.floor(tf.cast(step, tf.float32) / self.steps_per_epoch)
    # +1e-4 guards float error at the exact stage boundaries 2e+1 = 3^i.
    stage = tf.floor(tf.math.log(2.0 * epoch + 1.0) / math.log(3.0) + 1e-4)
    stage = tf.minimum(stage, self.num_stages - 1)
    return self.base_learning_rate * tf.pow(10.0, -stage / 7.0)

  def get_config(self):
    return {"steps_per_epoch": self.steps_per_epoch,
            "base_learning_rate": self.base_learning_rate, "num_stages": self.num_stages}


def burda_total_epochs(num_stages=8):
  return sum(3**i for i in range(num_stages))
