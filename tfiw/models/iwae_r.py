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
from tfiw.models.base import LatentVariableModel, _apply
from tfiw.networks import frozen_call

VARIANTS = ("both", "recognition", "none")
_WEIGHT_SEED = 104729  # offset of the weight-draw seeds (fold_in), apart from z's seeds


@keras.saving.register_keras_serializable("tfiw")
class IWAER(LatentVariableModel):
  """The random-weight family (see the module docstring); by default the IWAE objective
  with reparameterised gradients (``tfiw.registry.METHODS["iwae_r"]``).

  Args (beyond ``LatentVariableModel``'s):
    random_weights: "both" | "recognition" | "none".
    init_stddev: initial σ of every random weight.
    weight_sampling: "local" (LRT, training default), "per_sample", "per_batch" (for the
      variance measurement only; see ``tfiw.bayes_layers``).
    kl_weight: weight of the Bayes-by-backprop KL term (0 = off), a regulariser added to
      the losses, not to the reported bound.
    prior_stddev: prior N(0, s²) on each weight for that term.
    num_train: training-set size N that scales the KL term to per-example units.
  """

  family = "random_weights"

  def __init__(self, input_dim, random_weights="both", init_stddev=1e-3,
               weight_sampling="local", kl_weight=0.0, prior_stddev=1.0, num_train=60000,
               objective="iwae", **kwargs):
    if random_weights not in VARIANTS:
      raise ValueError(f"unknown random_weights {random_weights!r}; valid: {list(VARIANTS)}")
    if weight_sampling not in SAMPLING:
      raise ValueError(f"unknown weight_sampling {weight_sampling!r}; valid: {list(SAMPLING)}")
    if float(kl_weight) < 0:
      raise ValueError(f"kl_weight must be >= 0, got {kl_weight}")
    # Read by _block while the base class builds the networks.
    self.random_weights, self.init_stddev = random_weights, float(init_stddev)
    self.weight_sampling, self.kl_weight = weight_sampling, float(kl_weight)
    self.prior_stddev, self.num_train = float(prior_stddev), int(num_train)
    super().__init__(input_dim, objective=objective, **kwargs)
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

  # ---- the family's hooks: random networks, their seeds ----------------------------
  def _decoder_tracked_first(self):
    """IWAE-Rrec models saved before the composition tracked the (deterministic) decoder
    before the random encoder; keeping that order keeps them loadable."""
    return self.random_weights == "recognition"

  def _block(self, hidden, size, kind, name, role):
    if (role == "q" and self.random_rec) or (role == "p" and self.random_gen):
      return BayesStochasticBlock(hidden, size, kind, self.activation, name=name,
                                  init_stddev=self.init_stddev, sampling=self.weight_sampling)
    return super()._block(hidden, size, kind, name, role)

  def _network(self, block, h, seed=None, frozen=False):
    """A random block draws its weights from ``seed`` (None: its mean network);
    ``frozen``: its weights stop-gradiented (the same draw: the noise is a function of
    ``seed``)."""
    if isinstance(block, BayesStochasticBlock):
      return frozen_call(block, h, seed=seed) if frozen else block(h, seed=seed)
    return _apply(block, h, frozen)

  def _seeds(self, seed):
    """z-seeds exactly as the base family draws them (so σ -> 0 reproduces the plain
    family's log-weights); weight seeds folded off the same seed."""
    z_seeds, _, _ = super()._seeds(seed)
    n = len(self.latent_dims)
    weight_seed = lambda i: tf.random.experimental.stateless_fold_in(
        tf.cast(seed, tf.int32), _WEIGHT_SEED + i)
    return z_seeds, [weight_seed(l) for l in range(n)], weight_seed(n)

  def _recognition_input(self, x, num_samples):
    """With random recognition weights the first layer differs per importance sample:
    the encoder runs on x tiled to [K, B, D]."""
    return tf.tile(x[None], [num_samples, 1, 1]) if self.random_rec else x

  def weight_kl(self):
    """KL(q(weights) || prior) summed over every random block (0 for "none")."""
    blocks = [b for b in self.encoder_blocks + self.decoder_blocks
              if isinstance(b, BayesStochasticBlock)]
    if not blocks:
      return tf.constant(0.0)
    return tf.add_n([b.kl(self.prior_stddev) for b in blocks])

  def regularizer(self):
    if self.kl_weight == 0.0:
      return None
    return self.kl_weight * self.weight_kl() / float(self.num_train)

  def generate(self, num_examples, seed):
    """Ancestral samples with a fresh decoder-weight draw per sample; (x, E[x | z_1, θ])."""
    self.build()
    n = len(self.latent_dims)
    seeds = tfp.random.split_seed(seed, n + 2)
    z = dists.standard_normal(self.latent_dims[-1]).sample(num_examples, seed=seeds[0])
    for l in range(n - 1, 0, -1):
      z = self.latents.ancestral(self.p_params(l, z, seeds[-1]), seeds[l])
    p_x = self.likelihood_dist(z, seeds[-1])
    return p_x.sample(seed=seeds[n]), p_x.mean()
