"""Training steps/s: one device with whole-step XLA vs MirroredStrategy with XLA per replica.

  python -m zoo.distribute_benchmark MODE [STEPS]

MODE: single_xla (Keras whole-step jit_compile=True, no strategy), single_nojit (no XLA),
mirrored1_xla (MirroredStrategy over 1 logical CPU: the strategy's own overhead) or
mirrored2_xla (2 logical CPUs). The CPU is split into 2 logical devices in every mode, so the
modes differ only in how the step runs. IWAE 784-200-200-50, K=5, batch 20, random binary data.
Prints one JSON line.
"""
import argparse
import json
import os
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

MODES = ("single_xla", "single_nojit", "mirrored1_xla", "mirrored2_xla")


def main(mode, steps=100):
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


def parse_args(argv=None):
  p = argparse.ArgumentParser(prog="python -m zoo.distribute_benchmark",
                              description=__doc__.split("\n\n")[0],
                              epilog=__doc__.split("\n\n", 2)[2],
                              formatter_class=argparse.RawDescriptionHelpFormatter)
  p.add_argument("mode", choices=MODES, help="how the training step runs")
  p.add_argument("steps", nargs="?", type=int, default=100, help="timed steps (default 100)")
  args = p.parse_args(argv)
  if args.steps < 1:
    p.error(f"steps must be >= 1, got {args.steps}")
  return args


if __name__ == "__main__":
  args = parse_args()
  main(args.mode, args.steps)
