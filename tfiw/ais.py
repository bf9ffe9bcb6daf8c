"""Annealed importance sampling (AIS) and bidirectional Monte Carlo (BDMC) for log p(x).

For each example x, AIS (Neal 2001) moves C chains from an initial density f_0(z) — the
recognition model q(z | x), or the prior p(z) — to the unnormalised posterior
f_T(z) = p(x, z) through the geometric path

  log f_t(z) = (1 - β_t) log f_0(z) + β_t log p(x, z),   0 = β_0 < β_1 < ... < β_T = 1,

with one HMC transition leaving f_t invariant at every step. Each chain's log-weight

  log w = Σ_{t=1..T} (β_t - β_{t-1}) [log p(x, z_{t-1}) - log f_0(z_{t-1})]

has E[w] = p(x), so log (1/C) Σ_c w_c is a stochastic lower bound on log p(x) that is
tight as T grows however poor q is (Wu, Burda, Salakhutdinov & Grosse 2017).

BDMC (Grosse, Ghahramani & Adams 2015): on data simulated from the model, (x, z) ~ p(x, z),
z is an exact posterior sample, so the same path run backwards from it (β from 1 to 0)
gives an unbiased estimate of 1/p(x); minus its log is a stochastic UPPER bound on
log p(x). The two sandwich the truth; their gap bounds the error of forward AIS on such
data and shrinks as T grows.

Step sizes: HMC's step size is adapted per example in a separate pilot run (a few chains,
discarded) toward a target acceptance rate, and the resulting schedule ε_t is then fixed
for the real chains. Adapting inside the real chains would make each transition depend
on the chain's own past and void the unbiasedness of w.

Everything runs vectorised over chains × examples in one XLA-compiled ``tf.while_loop``
over t per block of examples; memory is bounded by the block size.

Applies to models with continuous latents and a deterministic log p(x, z): the Gaussian
stochastic layers of ``LatentVariableModel`` (VAE, IWAE, STL, DReG, RWS, REM, ...) and
VAE-DGP with one GP layer. It does not apply to sigmoid belief nets (discrete latents:
HMC needs gradients in z), to IWAE-R (its p(x | z) is an integral over network weights)
or to VAE-DGP with hidden GP layers (their outputs are sampled, so log p(x, z) is not a
function of z); those raise ``ValueError``.
"""
import sys
import time
import weakref
from typing import NamedTuple

import numpy as np
import tensorflow as tf

from tfiw import distributions as dists
from tfiw.progress import Progress

INITIALS = ("q", "prior")


class AISResult(NamedTuple):
  log_likelihood: np.ndarray  # [N] log (1/C) Σ_c w_c (nats); upper bound for direction=-1
  chain_stderr: np.ndarray    # [N] standard error of log p̂ from the spread of the w_c
  acceptance: np.ndarray      # [N] mean HMC acceptance rate over chains and steps
  log_weights: np.ndarray     # [C, N] per-chain log-weights


def sigmoid_schedule(num_steps, sharpness=4.0):
  """β_0..β_T, [T + 1] float64: a sigmoid in t rescaled to run exactly from 0 to 1 (denser
  near both ends, where the path changes fastest; Grosse et al. 2015)."""
  if int(num_steps) < 1:
    raise ValueError(f"num_steps must be >= 1, got {num_steps}")
  s = 1.0 / (1.0 + np.exp(-sharpness * np.linspace(-1.0, 1.0, int(num_steps) + 1)))
  return (s - s[0]) / (s[-1] - s[0])


def check_model(model):
  """Raise ``ValueError`` (saying why) for models AIS does not apply to."""
  if not model.latents.reparameterizable:
    raise ValueError(f"AIS with HMC needs continuous latents; {type(model).__name__} has "
                     "discrete ones (sigmoid belief net): use the IWAE estimate instead")
  if model.family == "random_weights":
    raise ValueError("AIS does not apply to IWAE-R: its p(x | z) is an integral over the "
                     "network weights, so log p(x, z) cannot be evaluated exactly")
  if model.family == "gp" and model.gp_hidden:
    raise ValueError("AIS needs a deterministic log p(x, z); VAE-DGP's hidden GP layers "
                     "are sampled, so it applies to gp_hidden=[] (one GP layer) only")


def _split(model, z):
  return tuple(tf.split(z, model.latent_dims, axis=-1))


def _initial(model, initial):
  """(sample(x, C, seed) -> z [C, B, ΣZ], log_density(x, z) -> [C, B]) of f_0."""
  if initial == "q":
    def sample(x, c, seed):
      return tf.concat(model.log_weights(x, c, seed).zs, -1)

    def log_density(x, z):
      return model.log_recognition(x, _split(model, z))
  elif initial == "prior":
    def sample(x, c, seed):
      zs = model.dream(c * tf.shape(x)[0], seed)[1]
      return tf.reshape(tf.concat(zs, -1), [c, tf.shape(x)[0], sum(model.latent_dims)])

    def log_density(x, z):
      return model.log_prior(_split(model, z))
  else:
    raise ValueError(f"initial must be one of {INITIALS}, got {initial!r}")
  return sample, log_density


def _anneal(model, x, z, betas, step_sizes, seed, log_f0, leapfrog_steps, adapt,
            target_accept):
  """Run the annealing chain(s) from z [C, B, Z] along ``betas`` [T+1].

  ``step_sizes`` [T, B]: per-step HMC step sizes (used as given, or as the start values
  when ``adapt``). Returns (log_w [C, B], acceptance [B], step_sizes [T, B]); with
  ``adapt`` the returned step sizes are the adapted schedule.
  """
  log_joint = lambda z: model.log_joint(x, _split(model, z))
  num_steps = tf.shape(betas)[0] - 1

  def energy_and_grad(z, beta):
    with tf.GradientTape() as tape:
      tape.watch(z)
      lp, lq = log_joint(z), log_f0(z)
      log_f = (1.0 - beta) * lq + beta * lp
    return log_f, tape.gradient(log_f, z), lp - lq

  def body(t, z, log_w, accepted, eps, schedule):
    beta_prev, beta = betas[t], betas[t + 1]
    # One pass gives both the weight increment at z (g = log p - log f_0) and f_t's
    # gradient at z for the transition that follows.
    log_f, grad, g = energy_and_grad(z, beta)
    log_w += tf.cast(beta - beta_prev, log_w.dtype) * tf.cast(g, log_w.dtype)
    step = eps if adapt else schedule[t]
    e = step[None, :, None]
    s_m, s_u = tf.unstack(tf.random.experimental.stateless_split(
        tf.random.experimental.stateless_fold_in(seed, t), 2))
    p0 = dists.normal_noise(tf.shape(z), s_m, z.dtype)
    # Leapfrog: half momentum step, L position/momentum steps, the last one a half step.
    # (An inner while_loop, not unrolled: the graph, and XLA's compile time, stay small.)
    def leapfrog(i, zn, p, log_fn, grad_n):
      zn = zn + e * p
      log_fn, grad_n, _ = energy_and_grad(zn, beta)
      p = p + tf.where(i < leapfrog_steps - 1, 1.0, 0.5) * e * grad_n
      return i + 1, zn, p, log_fn, grad_n

    _, zn, p, log_fn, _ = tf.while_loop(
        lambda i, *_: i < leapfrog_steps, leapfrog,
        (tf.constant(0), z, p0 + 0.5 * e * grad, log_f, grad))
    log_ratio = (log_fn - 0.5 * tf.reduce_sum(tf.square(p), -1)) - (
        log_f - 0.5 * tf.reduce_sum(tf.square(p0), -1))
    log_ratio = tf.where(tf.math.is_finite(log_ratio), log_ratio, -np.inf)
    u = dists.uniform_noise(tf.shape(log_ratio), s_u, log_ratio.dtype)
    accept = tf.math.log(u) < log_ratio                                   # [C, B]
    z = tf.where(accept[..., None], zn, z)
    rate = tf.reduce_mean(tf.cast(accept, z.dtype), 0)                  # [B]
    schedule = tf.tensor_scatter_nd_update(schedule, [[t]], step[None])
    if adapt:  # multiplicative step toward the target rate (pilot run only)
      eps = eps * tf.exp(rate - target_accept)
    return t + 1, z, log_w, accepted + rate, eps, schedule

  batch = tf.shape(x)[0]
  log_w0 = tf.zeros(tf.shape(z)[:2], tf.float64)
  _, z, log_w, accepted, _, schedule = tf.while_loop(
      lambda t, *_: t < num_steps, body,
      (tf.constant(0), z, log_w0, tf.zeros([batch], z.dtype), step_sizes[0], step_sizes))
  return log_w, accepted / tf.cast(num_steps, z.dtype), schedule


_FNS = weakref.WeakKeyDictionary()  # model -> {settings: compiled block function}


def _block_fn(model, initial, leapfrog_steps, target_accept, jit_compile):
  key = (initial, leapfrog_steps, float(target_accept), bool(jit_compile))
  cache = _FNS.setdefault(model, {})
  if key not in cache:
    cache[key] = _make_block_fn(model, *key)
  return cache[key]


def _make_block_fn(model, initial, leapfrog_steps, target_accept, jit_compile):
  sample_f0, log_density = _initial(model, initial)

  def run(x, z_start, betas, init_step, seed, pilot_chains, num_chains):
    """Pilot (adapting) then the real chains; returns (log_w, acceptance, schedule)."""
    log_f0 = lambda z: log_density(x, z)
    pilot_seed, main_seed, s0, s1 = tf.unstack(
        tf.random.experimental.stateless_split(seed, 4))
    num_steps = tf.shape(betas)[0] - 1
    start = tf.fill(tf.stack([num_steps, tf.shape(x)[0]]), init_step)
    if z_start is None:
      z_pilot, z_main = sample_f0(x, pilot_chains, s0), sample_f0(x, num_chains, s1)
    else:  # BDMC's reverse chains start at given exact posterior samples
      z_pilot, z_main = z_start[:pilot_chains], z_start
    _, _, schedule = _anneal(model, x, z_pilot, betas, start, pilot_seed, log_f0,
                             leapfrog_steps, True, target_accept)
    log_w, acceptance, _ = _anneal(model, x, z_main, betas, schedule, main_seed, log_f0,
                                   leapfrog_steps, False, target_accept)
    return log_w, acceptance, schedule

  return tf.function(run, jit_compile=jit_compile, reduce_retracing=True, autograph=False)


def _summarise(log_w):
  """log (1/C) Σ_c w_c [N] and its standard error by the delta method, from [C, N]."""
  c = log_w.shape[0]
  top = log_w.max(0)
  w = np.exp(log_w - top)
  mean = w.mean(0)
  stderr = w.std(0, ddof=1) / np.sqrt(c) / mean if c > 1 else np.full(mean.shape, np.nan)
  return top + np.log(mean), stderr


def _run_blocks(model, x, z_start, betas, num_chains, leapfrog_steps, initial, init_step,
                pilot_chains, target_accept, batch_size, seed, jit_compile, verbose, label):
  model.build()
  fn = _block_fn(model, initial, leapfrog_steps, target_accept, jit_compile)
  n = x.shape[0]
  progress = Progress(n, label, verbose)
  outs = []
  for i, lo in enumerate(range(0, n, batch_size)):
    xb = tf.constant(x[lo:lo + batch_size])
    zb = None if z_start is None else tf.constant(z_start[:, lo:lo + batch_size])
    block_seed = tf.random.experimental.stateless_fold_in(tf.constant([seed, 0], tf.int32), i)
    log_w, acc, _ = fn(xb, zb, tf.constant(betas, tf.float32), tf.constant(init_step, tf.float32),
                       block_seed, int(pilot_chains), int(num_chains))
    outs.append((log_w.numpy(), acc.numpy()))
    progress.update(min(lo + batch_size, n))
  log_w = np.concatenate([o[0] for o in outs], 1)
  return log_w, np.concatenate([o[1] for o in outs])


def ais_log_likelihood(model, x, num_chains=16, num_steps=1000, leapfrog_steps=10,
                       initial="q", step_size=0.1, target_accept=0.65, pilot_chains=4,
                       batch_size=100, seed=0, jit_compile=True, verbose=1):
  """AIS estimate of log p(x) per example (see the module docstring).

  Args:
    model: a built tfiw model with continuous latents (``check_model``).
    x: [N, D] data (float; binary for a Bernoulli likelihood).
    num_chains: C chains per example; num_steps: T annealing steps (sigmoid schedule);
      leapfrog_steps: per HMC transition.
    initial: "q" (the recognition model, default: short paths suffice) or "prior".
    step_size: the pilot run's starting HMC step size; target_accept: its target rate.
    pilot_chains: chains per example of the pilot run that fixes the step-size schedule.
    batch_size: examples per compiled block (memory is bounded by C·B·Z).
  Returns:
    ``AISResult`` (log_likelihood, chain_stderr, acceptance [N]; log_weights [C, N]).
  """
  check_model(model)
  x = np.asarray(x, np.float32)
  if x.ndim != 2 or x.shape[1] != model.input_dim:
    raise ValueError(f"x must have shape [N, {model.input_dim}], got {x.shape}")
  if int(num_chains) < 1 or int(leapfrog_steps) < 1 or not 0 < int(pilot_chains):
    raise ValueError("num_chains, leapfrog_steps and pilot_chains must be >= 1")
  betas = sigmoid_schedule(num_steps)
  start = time.time()
  log_w, acc = _run_blocks(model, x, None, betas, num_chains, int(leapfrog_steps), initial,
                           step_size, min(int(pilot_chains), int(num_chains)), target_accept,
                           int(batch_size), int(seed), jit_compile, verbose,
                           f"AIS C={num_chains} T={num_steps}")
  ll, stderr = _summarise(log_w)
  if verbose:
    sys.stderr.write(f"AIS: {x.shape[0]} examples in {time.time() - start:.1f}s, "
                     f"mean acceptance {acc.mean():.2f}\n")
  return AISResult(ll, stderr, acc, log_w)


def bdmc(model, num_examples, num_chains=16, num_steps=1000, leapfrog_steps=10,
         initial="q", step_size=0.1, target_accept=0.65, pilot_chains=4, batch_size=100,
         seed=0, jit_compile=True, verbose=1):
  """Bidirectional Monte Carlo on ``num_examples`` data points simulated from the model.

  Returns (x [N, D], forward ``AISResult`` (lower bound), reverse ``AISResult`` whose
  ``log_likelihood`` is the stochastic upper bound -log (1/C) Σ_c w'_c). The reverse
  chains start at the exact posterior samples z of the simulated pairs (x, z).
  """
  check_model(model)
  model.build()
  x, zs = model.dream(int(num_examples), tf.constant([int(seed), 1], tf.int32))
  x = x.numpy().astype(np.float32)
  z = tf.concat(zs, -1).numpy()
  lower = ais_log_likelihood(model, x, num_chains, num_steps, leapfrog_steps, initial,
                             step_size, target_accept, pilot_chains, batch_size, seed,
                             jit_compile, verbose)
  betas = sigmoid_schedule(num_steps)[::-1].copy()  # 1 -> 0
  z_start = np.broadcast_to(z[None], (int(num_chains),) + z.shape).copy()
  log_w, acc = _run_blocks(model, x, z_start, betas, num_chains, int(leapfrog_steps),
                           initial, step_size, min(int(pilot_chains), int(num_chains)),
                           target_accept, int(batch_size), int(seed) + 1, jit_compile,
                           verbose, f"BDMC reverse C={num_chains} T={num_steps}")
  # log_w estimates log (Z_0 / Z_T) = -log p(x): negate for the upper bound.
  ll, stderr = _summarise(log_w)
  return x, lower, AISResult(-ll, stderr, acc, -log_w)
