"""Base config shared by every method (big_vision style: ``get_config(arg)``).

``arg`` is a comma-separated string of ``key=value`` or bare flags, e.g.
``configs/iwae.py:k=50,layers=2,runlocal``. ``runlocal`` shrinks a run to seconds on
CPU (a few steps, small evaluation K, 200 test images) with everything else unchanged:
every config applies it LAST (big_vision's ``if arg.runlocal:`` block at the end of
``get_config``), so nothing set after it can undo the shrinking.
"""
import ast
import difflib

import ml_collections

# Burda et al. (2016) architectures, keyed by the number of stochastic layers.
ARCHITECTURES = {
    1: dict(latent_dims=[50], hidden=[[200, 200]]),
    2: dict(latent_dims=[100, 50], hidden=[[200, 200], [100, 100]]),
}


def parse_arg(arg, **defaults):
  """'k=5,layers=2,runlocal' -> ConfigDict; bare names are True; types follow defaults."""
  out = ml_collections.ConfigDict(dict(defaults))
  for item in filter(None, (arg or "").split(",")):
    key, _, value = item.partition("=")
    if key not in defaults:
      close = difflib.get_close_matches(key, list(defaults), n=1)
      raise ValueError(f"unknown config argument {key!r}"
                       f"{f'; did you mean {close[0]!r}?' if close else ''} "
                       f"(valid: {sorted(defaults)})")
    if not _:
      out[key] = True
    elif isinstance(defaults[key], str):
      out[key] = value
    else:
      try:
        out[key] = type(defaults[key])(ast.literal_eval(value))
      except (ValueError, SyntaxError, TypeError):
        raise ValueError(f"config argument {key}={value!r}: expected a "
                         f"{type(defaults[key]).__name__}") from None
  return out


def get_config(arg=None, **extra_args):
  # extra_args add method-specific arguments and may override these defaults (e.g. k).
  a = parse_arg(arg, **{"runlocal": False, "k": 50, "layers": 1, **extra_args})
  c = ml_collections.ConfigDict()
  c.seed = 0
  # shuffle: a new order every data pass; False: the stored order every pass, as Burda et
  # al.'s released code trains (tfiw.data.train_dataset).
  c.data = dict(name="binarized_mnist", data_dir="", batch_size=20, shuffle=True)
  if a.layers not in ARCHITECTURES:
    raise ValueError(f"layers={a.layers}: Burda et al.'s architectures have "
                     f"{' or '.join(map(str, sorted(ARCHITECTURES)))} stochastic layers "
                     "(set model.latent_dims and model.hidden for others)")
  arch = ARCHITECTURES[a.layers]
  # init: "keras" (each Dense layer its own Glorot-uniform draw) or "yburda_iwae" (the same
  # Glorot-uniform, every layer drawn from seed 123 as in Burda et al.'s released code:
  # tfiw.initializers.yburda_iwae).
  c.model = dict(latent_dims=arch["latent_dims"], hidden=arch["hidden"], activation="tanh",
                 init="keras")
  c.method = dict(name="iwae", num_samples=a.k)
  # Burda et al.: Adam(beta1=0.9, beta2=0.999, eps=1e-4), lr 1e-3 * 10^(-i/7) for 3^i epochs.
  # adam: "keras" (that Adam), or "yburda_iwae", the Adam of their released code (beta1 0.99,
  # v starting at ones, one-step-late moments: tfiw.optimizers.YburdaAdam; eps as set here).
  c.optim = dict(learning_rate=1e-3, adam_epsilon=1e-4, schedule="burda", adam="keras")
  # steps_per_execution: with XLA on one device, that many steps run in one XLA call
  # (docs/performance.md). The trainer uses the largest divisor of the epoch's steps not
  # above it, so epochs keep their length, and 1 under a tf.distribute strategy. 150, so
  # that Burda's 2,980-step epochs get 149 per call (the largest divisor up to 50 is 20,
  # which costs 16-19% at K=1 and K=5; beyond 50 the gain is within noise: docs/performance.md).
  c.train = dict(epochs=3280, steps_per_epoch=0, jit_compile=True, steps_per_execution=150,
                 validation_freq=10, validation_examples=1000, verbose="auto")
  # tf.distribute: "default" (one device), "mirrored" (all local GPUs, else all logical
  # CPUs), "multi_worker" (MultiWorkerMirroredStrategy from TF_CONFIG). logical_cpus > 0
  # splits the CPU into that many logical devices (to try distribution without GPUs).
  c.train.strategy = "default"
  c.train.logical_cpus = 0
  # Precision of the networks' matmuls (tfiw.precision): "float32", "bfloat16" or "auto"
  # (bf16 only where measured faster on this hardware and path). The trainer resolves
  # "auto" before it writes config.json, so the run records the precision it ran in.
  c.train.precision = "auto"
  # Test log-likelihood: IWAE bound with K=5000 on the full test set (0 = all examples).
  # chunk_size 0: tfiw.evaluation.default_chunk_size() (20 on CPU, 500 on GPUs).
  c.eval = dict(num_samples=5000, chunk_size=0, batch_size=100, max_examples=0,
                jit_compile=True, precision="auto")
  c.export = dict(num_samples=5000)
  c.args = a.to_dict()
  return c


def runlocal(c):
  """Shrink a config to a seconds-long run on CPU (call it last in ``get_config``)."""
  c.train.epochs = 2
  c.train.steps_per_epoch = 5
  c.train.validation_freq = 1
  c.train.validation_examples = 100
  c.eval.num_samples = 20
  c.eval.chunk_size = 10
  c.eval.max_examples = 200
  c.export.num_samples = 20
  return c
