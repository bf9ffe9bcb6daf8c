"""Training steps/s: one device with whole-step XLA vs MirroredStrategy with XLA per replica.

  python -m zoo.distribute_benchmark --mode=mirrored2_xla --steps=100
  python -m zoo.distribute_benchmark mirrored2_xla 100      # the same, positionally

MODE: single_xla (Keras whole-step jit_compile=True, no strategy), single_nojit (no XLA),
mirrored1_xla (MirroredStrategy over 1 logical CPU: the strategy's own overhead) or
mirrored2_xla (2 logical CPUs). The CPU is split into 2 logical devices in every mode, so the
modes differ only in how the step runs. IWAE 784-200-200-50, K=5, batch 20, random binary data.
Prints one JSON line.
"""
import json
import os
import time

from absl import app, flags

from zoo import cli

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MODES = ("single_xla", "single_nojit", "mirrored1_xla", "mirrored2_xla")
_MODE = flags.DEFINE_enum("mode", None, MODES, "How the training step runs (see above); "
                          "also accepted as the first positional argument.")
_STEPS = flags.DEFINE_integer("steps", 100, "Timed steps (after 20 warm-up steps); also "
                              "accepted as the second positional argument.", lower_bound=1)


def benchmark(mode, steps=100):
  """Steps/s of ``mode`` over ``steps`` timed steps, printed as one JSON line."""
  if mode not in MODES:
    raise ValueError(f"unknown mode {mode!r}; valid: {list(MODES)}")
  from zoo import trainer
  trainer.split_cpu(2)
  import keras
  import numpy as np
  import tensorflow as tf
  import tfiw

  x = (np.random.RandomState(0).rand(2000, 784) < 0.3).astype(np.float32)
  ds = tf.data.Dataset.from_tensor_slices(x).repeat().batch(20, drop_remainder=True)

  def build():
    model = tfiw.IWAE(input_dim=784, latent_dims=[50], hidden=[200, 200], num_samples=5)
    model.compile(keras.optimizers.Adam(1e-3), jit_compile=mode != "single_nojit")
    model.build()
    return model

  if mode.startswith("mirrored"):
    devices = ["/cpu:0", "/cpu:1"][:int(mode[8])]
    with tf.distribute.MirroredStrategy(devices).scope():
      model = build()
  else:
    model = build()
  model.fit(ds, epochs=1, steps_per_epoch=20, verbose=0)  # trace, compile, warm up
  start = time.time()
  model.fit(ds, epochs=1, steps_per_epoch=steps, verbose=0)
  seconds = time.time() - start
  print(json.dumps({"mode": mode, "steps": steps, "seconds": round(seconds, 2),
                    "steps_per_s": round(steps / seconds, 2)}))


def mode_and_steps(argv):
  """(mode, steps) from the flags, or from the positional MODE [STEPS] of ``argv[1:]``."""
  positional = argv[1:]
  if len(positional) > 2:
    raise app.UsageError(f"too many arguments {positional}: give MODE [STEPS]")
  mode = positional[0] if positional else _MODE.value
  if mode is None:
    raise app.UsageError(f"give --mode (or MODE) from {list(MODES)}")
  if mode not in MODES:
    raise app.UsageError(f"unknown mode {mode!r}; valid: {list(MODES)}")
  steps = _STEPS.value
  if len(positional) == 2:
    try:
      steps = int(positional[1])
    except ValueError:
      steps = 0
    if steps < 1:
      raise app.UsageError(f"steps must be an integer >= 1, got {positional[1]!r}")
  return mode, steps


def main(argv):
  benchmark(*mode_and_steps(argv))


if __name__ == "__main__":
  # Plain absl parsing: TensorFlow must not initialise its devices before the CPU split.
  cli.run(main)
