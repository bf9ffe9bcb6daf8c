"""Evaluation: importance-sampled log p(x) at large K, active units, KL, ESS, samples.

The K=5000 estimate (Burda et al. 2016, sec. 5) is computed per batch of examples in
chunks of C samples inside one compiled ``tf.while_loop``; each chunk's log-weights
are folded into a streaming log-sum-exp accumulated in float64, so memory is bounded
by B*C whatever K. Seeds are stateless, so the same seed gives the same number.
"""
import math
import sys
import time
import weakref

import numpy as np
import tensorflow as tf

from tfiw import distributions as dists, precision as precision_lib, validation
from tfiw.ais import ais_log_likelihood, bdmc  # noqa: F401  (AIS estimates, re-exported)
from tfiw.progress import Progress

DEFAULT_BATCH = 100
# Importance samples per chunk of the K-sample loop. On CPU under XLA, 20 (2,000 decoder
# rows per matmul, so each fused elementwise pass stays in cache) measured fastest:
# 0.0186 s/example vs 0.0198 at 100 and 0.0204 at 500 (docs/performance.md). GPUs want
# big matmuls and few loop iterations: 500 (not yet measured on one).
CPU_CHUNK, ACCELERATOR_CHUNK = 20, 500


def default_chunk_size():
  return ACCELERATOR_CHUNK if tf.config.list_logical_devices("GPU") else CPU_CHUNK


def streaming_log_mean_exp(log_w_fn, x, num_samples, chunk_size, seed):
  """log (1/K) sum_k w_k and ESS for K=num_samples, computed ``chunk_size`` samples at a time.

  Args:
    log_w_fn: (x, chunk_size, seed) -> log-weights [chunk_size, B].
    num_samples: K, a Python int or an int32 scalar tensor (any value >= 1).
  Returns:
    (log_mean_exp [B] float64, ess [B] float64).
  """
  num_samples = tf.cast(num_samples, tf.int32)
  num_chunks = (num_samples + chunk_size - 1) // chunk_size
  batch = tf.shape(x)[0]
  neg_inf = tf.fill([batch], tf.constant(-np.inf, tf.float64))

  def body(i, lse, lse2):
    log_w = tf.cast(log_w_fn(x, chunk_size, tf.random.experimental.stateless_fold_in(seed, i)),
                    tf.float64)
    # The last chunk may run past K: mask its extra samples out of the sums.
    keep = tf.range(chunk_size) < num_samples - i * chunk_size
    log_w = tf.where(keep[:, None], log_w, tf.constant(-np.inf, tf.float64))
    lse = tf.reduce_logsumexp(tf.stack([lse, tf.reduce_logsumexp(log_w, 0)]), 0)
    lse2 = tf.reduce_logsumexp(tf.stack([lse2, tf.reduce_logsumexp(2.0 * log_w, 0)]), 0)
    return i + 1, lse, lse2

  _, lse, lse2 = tf.while_loop(lambda i, *_: i < num_chunks, body,
                               (tf.constant(0), neg_inf, neg_inf))
  log_k = tf.math.log(tf.cast(num_samples, tf.float64))
  return lse - log_k, tf.exp(2.0 * lse - lse2)


def _batches(x, batch_size):
  """Fixed-size batches (the last padded by repetition) so one compiled shape serves all."""
  n = x.shape[0]
  for start in range(0, n, batch_size):
    chunk = x[start:start + batch_size]
    valid = chunk.shape[0]
    if valid < batch_size:
      chunk = np.concatenate([chunk, np.repeat(chunk[-1:], batch_size - valid, 0)], 0)
    yield start, valid, chunk


# Seed of the fixed random subset behind a partial evaluation (``subset_indices``).
SUBSET_SEED = 0


def subset_indices(n, max_examples, seed=SUBSET_SEED):
  """Sorted indices of a fixed random subset of ``max_examples`` of n examples, or None
  for all (max_examples 0 or >= n).

  A uniform sample without replacement, a function of (n, max_examples, seed) only: the
  first N rows of a test file ordered by class (binarized MNIST's is by digit) would
  score one class, and a partial evaluation would not estimate the full-set number.
  """
  if not max_examples or max_examples >= n:
    return None
  return np.sort(np.random.default_rng(seed).choice(n, int(max_examples), replace=False))


def check_input(model, x, name="x"):
  """Numpy float32 [N, D] after checking shape, finiteness and the likelihood's support
  (``tfiw.validation``: the error names the first bad row)."""
  return validation.check_data(x, model.input_dim, model.likelihood, name, allow_empty=True)


_ESTIMATORS = weakref.WeakKeyDictionary()  # model -> {(chunk, jit, precision): function}


def make_estimator(model, chunk_size=None, jit_compile=True, precision="float32"):
  """A compiled (x [B, D], num_samples, seed [2]) -> (log p(x) [B], ess [B]) function.

  XLA (the default) fuses the elementwise work and draws with its fast RNG: 0.0186
  s/example at K=5000 on our 2-core CPU vs 0.0213 with TensorFlow's own (oneDNN)
  kernels (docs/performance.md). Cached per model, so repeated calls do not retrace.
  ``chunk_size`` None: the device's default (``default_chunk_size``). ``precision``: a
  concrete one ("float32", "bfloat16"); the function computes in it whatever the model
  was compiled with (``tfiw.precision.using`` around every call, tracing included).
  """
  chunk_size = chunk_size or default_chunk_size()
  cache = _ESTIMATORS.setdefault(model, {})
  key = (chunk_size, jit_compile, precision)
  if key not in cache:
    fn = _make_estimator(model, chunk_size, jit_compile)
    blocks = model.precision_blocks() if hasattr(model, "precision_blocks") else []

    def in_precision(*args, fn=fn):
      with precision_lib.using(blocks, precision):
        return fn(*args)
    cache[key] = in_precision
  return cache[key]


def make_estimator_fn(model):
  """Uncompiled (x, num_samples, seed, chunk_size) -> (log p(x) [B], ess [B]) (for export)."""
  def log_w_fn(x, k, seed):
    return model.log_weights(x, k, seed).log_w

  def estimate(x, num_samples, seed, chunk_size):
    return streaming_log_mean_exp(log_w_fn, x, num_samples, chunk_size, seed)

  return estimate


def _make_estimator(model, chunk_size, jit_compile):
  estimate = make_estimator_fn(model)
  fn = tf.function(lambda x, k, seed: estimate(x, k, seed, chunk_size),
                   jit_compile=jit_compile, reduce_retracing=True)
  if not jit_compile:
    return fn

  def traced_with_xla_rng(*args):  # tracing happens inside a call: draw with XLA's RNG
    with dists.rng_algorithm(dists.XLA_RNG_ALG):
      return fn(*args)
  return traced_with_xla_rng


def _prepare(model, x, num_samples, batch_size, chunk_size, jit_compile, precision):
  """Checked x, the cached compiled estimator and the block size shared by both scorers."""
  if int(num_samples) < 1:
    raise ValueError(f"num_samples must be >= 1, got {num_samples}")
  precision = precision_lib.resolve(precision, jit_compile)
  x = check_input(model, x)
  chunk_size = chunk_size or default_chunk_size()
  estimate = make_estimator(model, int(min(chunk_size, num_samples)), jit_compile, precision)
  return x, estimate, max(1, min(batch_size, x.shape[0]))


def log_likelihood(model, x, num_samples=5000, seed=0, batch_size=DEFAULT_BATCH,
                   chunk_size=None, jit_compile=True, verbose=0, return_ess=False,
                   precision="float32"):
  """Importance-sampled estimate of log p(x) per example (nats), numpy float64 [N].

  Uses the IWAE bound with K = num_samples samples from q; the same seed gives the
  same number (for a given ``jit_compile``: XLA and TensorFlow's kernels draw different
  streams). ``chunk_size`` None picks the device's default (``default_chunk_size``).
  ``return_ess`` also returns the effective sample size per example. ``precision``:
  "float32", "bfloat16" (the networks' matmuls in bf16; log-weights float32, the
  streaming log-sum-exp float64) or "auto" (``tfiw.precision.resolve``), independent of
  the precision the model was compiled with.
  """
  x, estimate, batch_size = _prepare(model, x, num_samples, batch_size, chunk_size,
                                     jit_compile, precision)
  n = x.shape[0]
  out, ess = np.zeros(n), np.zeros(n)
  progress = Progress(n, f"log p(x), K={num_samples}", verbose)
  for b, (start, valid, chunk) in enumerate(_batches(x, batch_size)):
    batch_seed = tf.constant([seed, b], tf.int32)
    lp, e = estimate(tf.constant(chunk), tf.constant(num_samples, tf.int32), batch_seed)
    out[start:start + valid] = lp.numpy()[:valid]
    ess[start:start + valid] = e.numpy()[:valid]
    progress.update(start + valid)
  return (out, ess) if return_ess else out


def log_likelihood_distributed(model, x, strategy, num_samples=5000, seed=0,
                               batch_size=DEFAULT_BATCH, chunk_size=None,
                               jit_compile=True, verbose=0, return_ess=False,
                               precision="float32"):
  """``log_likelihood`` with its blocks of examples spread over ``strategy``'s replicas.

  Block b keeps its seed [seed, b] and the same compiled estimator, so the numbers equal
  the single-device ones; only where each block runs changes. Each round, replica r
  (of R in sync) scores block round * R + r (a short last round repeats a block and
  drops it), and the results are gathered to every worker, so under
  MultiWorkerMirroredStrategy every worker must call this.
  """
  x, estimate, batch_size = _prepare(model, x, num_samples, batch_size, chunk_size,
                                     jit_compile, precision)
  n = x.shape[0]
  blocks = list(_batches(x, batch_size))
  replicas = strategy.num_replicas_in_sync
  k = tf.constant(num_samples, tf.int32)

  @tf.function(autograph=False)
  def score_round(xs, seeds):
    return strategy.run(lambda xb, sb: estimate(xb, k, sb), args=(xs, seeds))

  def gather(values):
    if isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):  # other workers' too
      return [strategy.gather(v, 0).numpy() for v in values]
    return [np.concatenate([t.numpy() for t in strategy.experimental_local_results(v)])
            for v in values]

  out, ess = np.zeros(n), np.zeros(n)
  progress = Progress(n, f"log p(x), K={num_samples}, {replicas} replicas", verbose)
  for first in range(0, len(blocks), replicas):
    ids = [min(first + r, len(blocks) - 1) for r in range(replicas)]
    xs = strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.constant(blocks[ids[ctx.replica_id_in_sync_group]][2]))
    seeds = strategy.experimental_distribute_values_from_function(
        lambda ctx: tf.constant([seed, ids[ctx.replica_id_in_sync_group]], tf.int32))
    # Gathered in a second step, not inside score_round: a collective waiting in the same
    # graph as the replicas' sampling loops can starve a small CPU thread pool (it hung).
    lp, e = gather(score_round(xs, seeds))
    lp, e = lp.reshape(replicas, batch_size), e.reshape(replicas, batch_size)
    for r, b in enumerate(ids[:len(blocks) - first]):
      start, valid, _ = blocks[b]
      out[start:start + valid] = lp[r, :valid]
      ess[start:start + valid] = e[r, :valid]
    progress.update(blocks[ids[-1]][0] + blocks[ids[-1]][1])
  return (out, ess) if return_ess else out


def sample(model, num_examples, seed=0, mean=False):
  """``num_examples`` ancestral samples from p(x), numpy [N, D]; ``mean=True`` gives
  E[x | z_1]. (``num_samples`` always means importance samples in tfiw.)"""
  if isinstance(num_examples, bool) or int(num_examples) != num_examples or num_examples < 1:
    raise ValueError(f"num_examples must be a whole number >= 1 (how many examples to "
                     f"draw), got {num_examples!r}")
  x, m = model.generate(int(num_examples), tf.constant([seed, 0], tf.int32))
  return (m if mean else x).numpy()


def active_units(model, x, threshold=0.01, batch_size=1000, num_samples=100, seed=0):
  """Units whose activity Cov_x(E_q[z | x]) exceeds ``threshold`` (Burda et al. 2016).

  Returns a list with the count per stochastic layer (bottom first). Layer 1's E[z|x]
  is q's mean; deeper layers' means are Monte Carlo averages over ``num_samples``.
  """
  x = check_input(model, x)
  means = [[] for _ in model.latent_dims]
  for b, (start, valid, chunk) in enumerate(_batches(x, min(batch_size, x.shape[0]))):
    zs = model.log_weights(chunk, num_samples, tf.constant([seed, b], tf.int32)).zs
    means[0].append(model.encode(chunk)[0].numpy()[:valid])
    for l in range(1, len(zs)):
      means[l].append(tf.reduce_mean(zs[l], 0).numpy()[:valid])
  return [int(np.sum(np.var(np.concatenate(m), 0) > threshold)) for m in means]


def kl_to_prior(model, x, num_samples=100, batch_size=1000, seed=0):
  """Average KL(q(z|x) || p(z)) in nats: exact for one stochastic layer, else Monte Carlo."""
  x = check_input(model, x)
  total = 0.0
  for b, (start, valid, chunk) in enumerate(_batches(x, min(batch_size, x.shape[0]))):
    # Closed form only for one Gaussian layer (a binary-latent SBN's encode is not Gaussian).
    if len(model.latent_dims) == 1 and model.latents.reparameterizable:
      loc, scale = model.encode(chunk)
      kl = tf.reduce_sum(dists.kl_to_normal(loc, scale), -1)
    else:
      lw = model.log_weights(chunk, num_samples, tf.constant([seed, b], tf.int32))
      kl = tf.reduce_mean(lw.log_q - model.log_prior(lw.zs), 0)
    total += float(np.sum(kl.numpy()[:valid]))
  return total / x.shape[0]


def summarize(model, x, num_samples=5000, seed=0, verbose=1, **kwargs):
  """The standard evaluation table as a dict (nats; ``nll`` = -mean log p(x))."""
  start = time.time()
  lp, ess = log_likelihood(model, x, num_samples=num_samples, seed=seed, verbose=verbose,
                           return_ess=True, **kwargs)
  seconds = time.time() - start
  return {
      "num_examples": int(x.shape[0]),
      "num_samples": int(num_samples),
      "log_likelihood": float(np.mean(lp)),
      "nll": float(-np.mean(lp)),
      "log_likelihood_stderr": float(np.std(lp) / math.sqrt(len(lp))),
      "ess_mean": float(np.mean(ess)),
      "active_units": active_units(model, x, seed=seed),
      "kl_q_prior": kl_to_prior(model, x, seed=seed),
      "seconds": seconds,
      "seconds_per_example": seconds / max(1, x.shape[0]),
  }


# Annealed importance sampling lives in tfiw.ais; exported here beside the IWAE estimate.
