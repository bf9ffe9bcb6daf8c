"""IWAE with random network weights (IWAE-R, IWAE-Rrec).

The decoder and/or the encoder are marginalised over a factorised Gaussian on their
weights, with Ω = {μθ, σθ², μφ, σφ²} learned:
  p(x | z) = ∫ p(x | z; θ) q(θ) dθ,        q(z | x) = ∫ q(z | x; φ) q(φ) dφ.
Each importance sample k draws its own weights, θ_k ~ q(θ), φ_k ~ q(φ),
z_k ~ q(z | x; φ_k), and gets the log-weight
  log w_k = log p(x | z_k; θ_k) + log p(z_k) - log q(z_k | x; φ_k).
E[w_k] = ∫∫∫ p(x|z;θ) p(z) q(θ) q(φ) dθ dφ dz = p(x) under the marginal decoder (q(φ) is
an auxiliary variable whose target is q(φ) itself), so log (1/K) Σ_k w_k is a lower bound
on that log p(x) that tightens with K, and the usual IWAE estimators apply unchanged.

Weights are drawn with the local reparameterisation trick (``tfiw.bayes_layers``): the
pre-activations of every row (sample k, example b) are drawn from their Gaussian, which
is the same as an independent weight draw per row at the cost of two matmuls per layer.
With random recognition weights the first encoder layer differs per importance sample,
so the encoder runs on x tiled to [K, B, D] (K times the first layer's cost).

Variants (``random_weights``): "both" (IWAE-R), "recognition" (IWAE-Rrec: random encoder,
deterministic decoder), "none" (plain IWAE; the same variables as ``tfiw.IWAE``).
Optional Bayes-by-backprop term: with ``kl_weight > 0`` the per-example loss adds
kl_weight * KL(q(weights) || N(0, prior_stddev² I)) / num_train (off by default: the
objective is the plain importance-weighted bound).

Reference setting: one hidden layer of 400 units, 40 latents, K=25; test log-likelihood
IWAE -95.18, IWAE-R -94.35, IWAE-Rrec -94.71 on MNIST (Omniglot -118.77 / -118.54 /
-118.65). See configs/iwae_r.py and docs/random_weights.md.
"""
import keras
import tensorflow as tf
import tensorflow_probability as tfp

from tfiw import distributions as dists
from tfiw.bayes_layers import SAMPLING, BayesStochasticBlock
from tfiw.models.base import LogWeights, _apply
from tfiw.models.iwae import IWAE
from tfiw.networks import frozen_call

VARIANTS = ("both", "recognition", "none")
_WEIGHT_SEED = 104729  # offset of the weight-draw seeds (fold_in), apart from z's seeds


@keras.saving.register_keras_serializable("tfiw")
class IWAER(IWAE):
  """IWAE with random weights drawn per importance sample (see the module docstring).

  Args (beyond ``tfiw.IWAE``'s):
    random_weights: "both" | "recognition" | "none".
    init_stddev: initial σ of every random weight.
    weight_sampling: "local" (LRT, training default), "per_sample", "per_batch" (for the
      variance measurement only; see ``tfiw.bayes_layers``).
    kl_weight: weight of the Bayes-by-backprop KL term (0 = off).
    prior_stddev: prior N(0, s²) on each weight for that term.
    num_train: training-set size N that scales the KL term to per-example units.
  """

  def __init__(self, *args, random_weights="both", init_stddev=1e-3, weight_sampling="local",
               kl_weight=0.0, prior_stddev=1.0, num_train=60000, **kwargs):
    if random_weights not in VARIANTS:
      raise ValueError(f"unknown random_weights {random_weights!r}; valid: {list(VARIANTS)}")
    if weight_sampling not in SAMPLING:
      raise ValueError(f"unknown weight_sampling {weight_sampling!r}; valid: {list(SAMPLING)}")
    if float(kl_weight) < 0:
      raise ValueError(f"kl_weight must be >= 0, got {kl_weight}")
    super().__init__(*args, **kwargs)
    self.random_weights, self.init_stddev = random_weights, float(init_stddev)
    self.weight_sampling, self.kl_weight = weight_sampling, float(kl_weight)
    self.prior_stddev, self.num_train = float(prior_stddev), int(num_train)
    opts = dict(init_stddev=self.init_stddev, sampling=weight_sampling)

    def bayes(block):
      return BayesStochasticBlock(block.hidden, block.size, block.kind, block.activation,
                                  name=block.name, **opts)

    # Replace the deterministic blocks the base class made (never built, so no variables),
    # untracking them so Keras does not save them.
    old = []
    if self.random_rec:
      old += self.encoder_blocks
      enc = [bayes(b) for b in self.encoder_blocks]
    if self.random_gen:
      old += self.decoder_blocks
      dec = [bayes(b) for b in self.decoder_blocks]
    if old:
      for o in old:  # in place: Keras's tracker holds this very list
        self._layers[:] = [l for l in self._layers if l is not o]
      if self.random_rec:
        self.encoder_blocks = enc
      if self.random_gen:
        self.decoder_blocks = dec
    self.log_prob_estimator = (
        f"IWAE bound log (1/K) sum_k p(x | z_k; theta_k) p(z_k) / q(z_k | x; phi_k) with "
        f"network weights sampled per importance sample (random_weights="
        f"{random_weights!r}: theta_k ~ q(theta) if random, phi_k ~ q(phi) if random, "
        f"z_k ~ q(z | x; phi_k)), local reparameterisation; lower bound on log p(x) "
        f"under the weight-marginalised decoder")

  @property
  def random_rec(self):
    return self.random_weights in ("both", "recognition")

  @property
  def random_gen(self):
    return self.random_weights == "both"

  def get_config(self):
    return {**super().get_config(), "random_weights": self.random_weights,
            "init_stddev": self.init_stddev, "weight_sampling": self.weight_sampling,
            "kl_weight": self.kl_weight, "prior_stddev": self.prior_stddev,
            "num_train": self.num_train}

  # ---- networks with optional random weights ----------------------------------
  @staticmethod
  def _run(block, h, seed, frozen=False):
    """Apply a block to h [..., I]; a random block draws its weights from ``seed``
    (``seed=None``: its mean network). ``frozen``: its weights stop-gradiented (the same
    draw: the noise is a function of ``seed``)."""
    if isinstance(block, BayesStochasticBlock):
      return frozen_call(block, h, seed=seed) if frozen else block(h, seed=seed)
    return _apply(block, h, frozen)

  def _gauss(self, block, h, seed, frozen=False):
    loc, raw = self._run(block, h, seed, frozen)
    return loc, dists.scale_from_raw(raw)

  def weight_kl(self):
    """KL(q(weights) || prior) summed over every random block (0 for "none")."""
    blocks = [b for b in self.encoder_blocks + self.decoder_blocks
              if isinstance(b, BayesStochasticBlock)]
    if not blocks:
      return tf.constant(0.0)
    return tf.add_n([b.kl(self.prior_stddev) for b in blocks])

  # ---- the model's math -------------------------------------------------------
  def log_weights(self, x, num_samples, seed):
    """K samples, each with its own weight draw; returns ``LogWeights`` ([K, B] each)."""
    self.build()
    x = tf.cast(x, tf.float32)
    n = len(self.latent_dims)
    # z-seeds exactly as the base class draws them (so σ -> 0 reproduces tfiw.IWAE's
    # log-weights); weight seeds folded off the same seed.
    seeds = tfp.random.split_seed(seed, n)
    weight_seed = lambda i: tf.random.experimental.stateless_fold_in(
        tf.cast(seed, tf.int32), _WEIGHT_SEED + i)
    if self.random_rec:  # first layer differs per sample: run on [K, B, D]
      h = tf.tile(x[None], [num_samples, 1, 1])
    else:
      h = x
    zs, log_q, log_q_stop = [], 0.0, 0.0
    for l, block in enumerate(self.encoder_blocks):
      loc, scale = self._gauss(block, h, weight_seed(l))
      q = dists.diag_gaussian(loc, scale)
      z = dists.sample_gaussian(loc, scale, num_samples if (l == 0 and not self.random_rec) else (),
                                seeds[l])
      log_q += q.log_prob(z)
      log_q_stop += dists.diag_gaussian(*self.stopped_q_params(
          l, loc, scale, lambda: self._gauss(block, h, weight_seed(l), frozen=True))
      ).log_prob(z)
      zs.append(z)
      h = z
    log_p = self.log_joint(x, zs, seed=weight_seed(n))
    return LogWeights(log_p - log_q, log_p, log_q, log_q_stop, tuple(zs))

  def _dec_seed(self, seed, l):
    return None if seed is None else tf.random.experimental.stateless_fold_in(seed, l)

  def log_prior(self, zs, seed=None):
    """log p(z_1..z_L) [K, B]; random decoder weights drawn from ``seed`` (None: means)."""
    log_p = dists.standard_normal(self.latent_dims[-1]).log_prob(zs[-1])
    for l in range(1, len(zs)):
      log_p += dists.diag_gaussian(*self._gauss(self.decoder_blocks[l], zs[l],
                                                self._dec_seed(seed, l))).log_prob(zs[l - 1])
    return log_p

  def likelihood_dist(self, z1, seed=None):
    block, s = self.decoder_blocks[0], self._dec_seed(seed, 0)
    if self.likelihood == "bernoulli":
      return dists.bernoulli(self._run(block, z1, s))
    return dists.diag_gaussian(*self._gauss(block, z1, s))

  def log_likelihood(self, x, z1, seed=None):
    """log p(x | z_1; θ) [K, B], θ drawn from ``seed`` per row (None: the mean network)."""
    if self.likelihood == "bernoulli":
      return dists.bernoulli_log_prob(self._run(self.decoder_blocks[0], z1,
                                                self._dec_seed(seed, 0)), x)
    return self.likelihood_dist(z1, seed).log_prob(x)

  def log_joint(self, x, zs, seed=None):
    return self.log_prior(zs, seed) + self.log_likelihood(x, zs[0], seed)

  def compute_losses(self, x, seed):
    losses = super().compute_losses(x, seed)
    if self.kl_weight == 0.0:
      return losses
    penalty = self.kl_weight * self.weight_kl() / float(self.num_train)
    if losses.inference_loss is losses.model_loss:
      loss = losses.model_loss + penalty
      return losses._replace(model_loss=loss, inference_loss=loss)
    return losses._replace(model_loss=losses.model_loss + penalty,
                           inference_loss=losses.inference_loss + penalty)

  def generate(self, num_samples, seed):
    """Ancestral samples with a fresh decoder-weight draw per sample; (x, E[x | z_1, θ])."""
    self.build()
    n = len(self.latent_dims)
    seeds = tfp.random.split_seed(seed, n + 2)
    z = dists.standard_normal(self.latent_dims[-1]).sample(num_samples, seed=seeds[0])
    for l in range(n - 1, 0, -1):
      z = dists.diag_gaussian(*self._gauss(self.decoder_blocks[l], z,
                                           self._dec_seed(seeds[-1], l))).sample(seed=seeds[l])
    p_x = self.likelihood_dist(z, seeds[-1])
    return p_x.sample(seed=seeds[n]), p_x.mean()
