"""LatentVariableModel: a latent family composed with an objective and a gradient estimator.

Family (this class and its subclasses): a recognition model q (φ) and a generative model
p (θ), each a stack of layered conditionals walked through one interface
(``tfiw.latents``): L stochastic layers, top first in p,
  p(z_L) (N(0, I), or learned Bernoulli logits),  p(z_l | z_{l+1}),  p(x | z_1) Bernoulli
  or Gaussian;
bottom first in q: q(z_1 | x), q(z_l | z_{l-1}). ``latents="gaussian"`` gives diagonal
Gaussian layers (Burda et al. 2016: 1 layer = 784-200-200-50; 2 layers = 200-200 -> 100,
100-100 -> 50), ``latents="bernoulli"`` sigmoid belief nets (``hidden=[[]]``: linear
layers as in Mnih & Gregor 2014). Subclasses change the networks (random weights,
``tfiw.models.iwae_r``) or the generative model (a sparse-GP stack, ``tfiw.models.vae_dgp``)
through the hooks below, never the walk.

Objective (``tfiw.objectives``) and gradient estimator (``tfiw.estimators``) are chosen by
name; the estimator turns (family, objective, x) into a ``tfiw.losses.Step`` and
``tfiw.models.step.StepModel`` runs it. Named combinations are ``tfiw.registry.METHODS``.
"""
from typing import NamedTuple

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfiw import distributions as dists
from tfiw import estimators as estimators_lib
from tfiw import objectives as objectives_lib
from tfiw.latents import get_latents
from tfiw.models.step import StepModel, is_array
from tfiw.networks import StochasticBlock, frozen_call

LIKELIHOODS = ("bernoulli", "gaussian")


class LogWeights(NamedTuple):
  log_w: tf.Tensor         # [K, B] log p(x, z) - log q(z | x)
  log_p: tf.Tensor         # [K, B] log p(x, z)
  log_q: tf.Tensor         # [K, B] log q(z | x)
  log_q_stop: tf.Tensor    # [K, B] log q(z | x) with q's parameters φ stop-gradiented but
                           # its samples z live (STL, DReG): ``stopped_q_params``
  zs: tuple                # per layer, [K, B, Z_l], bottom first
  q_moments: tuple = ()    # (mean, std) of q(z_1 | x) per unit, [B, Z_1] each (metrics)


def _normalize_hidden(hidden, num_layers):
  hidden = list(hidden)
  if all(isinstance(h, (int, np.integer)) for h in hidden):
    return [[int(h) for h in hidden]] * num_layers
  if len(hidden) != num_layers:
    raise ValueError(f"hidden has {len(hidden)} per-layer lists but there are "
                     f"{num_layers} stochastic layers")
  return [[int(u) for u in h] for h in hidden]


def _apply(layer, t, frozen=False):
  """Apply ``layer`` to the last axis of ``t`` of any rank (flattened to 2-D for matmuls);
  ``frozen=True``: with the layer's weights stop-gradiented (``networks.frozen_call``)."""
  lead = tf.shape(t)[:-1]
  flat = tf.reshape(t, [-1, t.shape[-1]])
  out = frozen_call(layer, flat) if frozen else layer(flat)
  return tf.nest.map_structure(
      lambda o: tf.reshape(o, tf.concat([lead, tf.shape(o)[-1:]], 0)), out)


def _split_options(objective, estimator, options):
  """Constructor options -> (objective's, estimator's); an unknown one lists the valid."""
  obj_cls = objectives_lib.objective_class(objective)
  est_cls = estimators_lib.estimator_class(estimator)
  unknown = sorted(set(options) - set(obj_cls.OPTIONS) - set(est_cls.OPTIONS))
  if unknown:
    valid = sorted(set(obj_cls.OPTIONS) | set(est_cls.OPTIONS))
    raise ValueError(f"unknown option(s) {unknown} for objective {objective!r} with "
                     f"estimator {estimator!r}; their options: {valid}")
  return ({k: v for k, v in options.items() if k in obj_cls.OPTIONS},
          {k: v for k, v in options.items() if k in est_cls.OPTIONS})


def upgraded_config(config):
  """A model config saved before the family x objective x estimator composition, in
  today's arguments, so models trained then still load: IWAE's ``gradient`` is the
  ``estimator`` ("iwae" meaning plain reparameterised gradients), and its always-saved
  ``num_groups=1`` / ``beta=None`` are dropped where the objective takes none."""
  config = dict(config)
  if "gradient" in config:
    gradient = config.pop("gradient")
    config.setdefault("estimator", "reparameterized" if gradient == "iwae" else gradient)
  objective = objectives_lib.OBJECTIVES.get(config.get("objective", "iwae"))
  takes = getattr(objective, "OPTIONS", {})
  if config.get("num_groups") == 1 and "num_groups" not in takes:
    config.pop("num_groups")
  if "beta" in config and config["beta"] is None:
    config.pop("beta")
  return config


@keras.saving.register_keras_serializable("tfiw")
class LatentVariableModel(StepModel):
  """A latent family x objective x gradient estimator (see the module docstring).

  Args:
    input_dim: number of observed units D (any size, not only 784).
    latent_dims: latent units per stochastic layer, bottom first, e.g. ``[100, 50]``.
    hidden: deterministic units, either one list used for every stochastic layer or
      one list per layer (``[[200, 200], [100, 100]]``); the decoder mirrors it.
    activation: of the deterministic layers.
    likelihood: ``"bernoulli"`` (x in {0, 1}) or ``"gaussian"`` (real x).
    num_samples: K importance samples per example in training and ``evaluate``.
    seed: makes training draws reproducible (a counter advances it every step).
    latents: ``"gaussian"`` (scale softplus(raw) + floor), ``"gaussian_exp"`` (scale
      exp(raw), Burda et al.'s code) or ``"bernoulli"`` stochastic layers.
    objective: a name in ``tfiw.objectives.OBJECTIVES`` (elbo, iwae, miwae, ciwae, piwae,
      vr).
    estimator: a name in ``tfiw.estimators.ESTIMATORS`` (reparameterized, stl, dreg,
      dreg_rws, reinforce, nvil, vimco, rws, rem); it must support the family and the
      objective (else a ValueError lists the ones that do).
    **options: the objective's and the estimator's options (e.g. ``num_groups``, ``beta``,
      ``alpha``, ``phi_update``, ``version``, ``baseline_hidden``).
  """

  family = None  # the family's name for estimator support; None: the latents' family

  def __init__(self, input_dim, latent_dims=(50,), hidden=(200, 200), activation="tanh",
               likelihood="bernoulli", num_samples=1, seed=0, latents="gaussian",
               objective="iwae", estimator="reparameterized", name=None, **options):
    super().__init__(seed=seed, name=name)
    if likelihood not in LIKELIHOODS:
      raise ValueError(f"likelihood must be one of {LIKELIHOODS}, got {likelihood!r}")
    if isinstance(num_samples, bool) or int(num_samples) < 1:
      raise ValueError(f"num_samples must be >= 1, got {num_samples}")
    self.input_dim = int(input_dim)
    self.latent_dims = [int(z) for z in latent_dims]
    if not self.latent_dims:
      raise ValueError("latent_dims needs at least one stochastic layer")
    self.hidden = _normalize_hidden(hidden, len(self.latent_dims))
    self.activation = activation
    self.likelihood = likelihood
    self.num_samples = int(num_samples)
    self.latents = get_latents(latents)
    if self.family is None:
      self.family = self.latents.family
    obj_options, est_options = _split_options(objective, estimator, options)
    self.objective = objectives_lib.get_objective(objective, **obj_options)
    self.estimator = estimators_lib.get_estimator(estimator, **est_options)
    self.estimator.check(self)
    if self._decoder_tracked_first():
      self.decoder_blocks = self._make_decoder()
      self.encoder_blocks = self._make_encoder()
    else:
      self.encoder_blocks = self._make_encoder()
      self.decoder_blocks = self._make_decoder()
    self.estimator.create_state(self)
    self.metric_names = ("ess",) + tuple(self.estimator.metric_names)
    self._make_metric_trackers()

  # ---- networks (hooks of a family) ----------------------------------------------
  def _block(self, hidden, size, kind, name, role):
    """The network of one conditional; ``role`` "q" (recognition) or "p" (generative)."""
    return StochasticBlock(hidden, size, kind, self.activation, name=name)

  def _make_encoder(self):
    """q(z_1|x), q(z_2|z_1), ..."""
    return [self._block(self.hidden[l], self.latent_dims[l], self.latents.head, f"q_z{l + 1}",
                        "q")
            for l in range(len(self.latent_dims))]

  def _make_decoder(self):
    """p(x|z_1), p(z_1|z_2), ... (mirrored hidden sizes)."""
    out_kind = "logits" if self.likelihood == "bernoulli" else "gaussian"
    return [self._block(self.hidden[0][::-1], self.input_dim, out_kind, "p_x", "p")] + [
        self._block(self.hidden[l][::-1], self.latent_dims[l - 1], self.latents.head,
                    f"p_z{l}", "p") for l in range(1, len(self.latent_dims))]

  def _decoder_tracked_first(self):
    """Keras tracks the networks in assignment order, which orders the trainable variables
    and so the optimizer's slots in a saved model; a family whose saved models had the
    decoder first says so (so they still load)."""
    return False

  def _network(self, block, h, seed=None, frozen=False):
    """A block's outputs at inputs h [..., I]; ``seed`` draws random weights (families
    that have them); ``frozen``: its weights stop-gradiented."""
    return _apply(block, h, frozen)

  def _seeds(self, seed):
    """(per-layer sample seeds, per-layer recognition-network seeds, generative seed)."""
    n = len(self.latent_dims)
    return tfp.random.split_seed(seed, n), [None] * n, None

  def _recognition_input(self, x, num_samples):
    """What q(z_1 | x)'s network reads: x [B, D], or x tiled to [K, B, D] for a family
    whose first layer differs per importance sample."""
    return x

  @staticmethod
  def _layer_seed(seed, l):
    return None if seed is None else tf.random.experimental.stateless_fold_in(seed, l)

  # ---- Keras plumbing --------------------------------------------------------------
  def build(self, input_shape=None):
    """Create every weight; all shapes follow from the constructor's arguments.

    Called lazily (first step, first score, loading), not by ``__init__``.
    """
    if self.built:
      return
    if not self.latents.reparameterizable:  # learned prior logits of the top layer
      self.prior_logits = self.add_weight(shape=(self.latent_dims[-1],), initializer="zeros",
                                          trainable=True, name="prior_logits")
    shapes = [self.input_dim] + self.latent_dims
    for l, block in enumerate(self.encoder_blocks):
      block.build((None, shapes[l]))
    for l, block in enumerate(self.decoder_blocks):
      block.build((None, shapes[l + 1]))
    self.estimator.build_state(self)
    self.built = True

  def get_build_config(self):
    return {"input_dim": self.input_dim}  # always rebuilt on load, before weights are set

  def build_from_config(self, config):
    self.build()

  def get_config(self):
    return {"input_dim": self.input_dim, "latent_dims": self.latent_dims,
            "hidden": self.hidden, "activation": self.activation,
            "likelihood": self.likelihood, "num_samples": self.num_samples,
            "seed": self.seed, "name": self.name, "latents": self.latents.name,
            "objective": self.objective.name, "estimator": self.estimator.name,
            **self.objective.options, **self.estimator.options}

  @classmethod
  def from_config(cls, config):
    return cls(**upgraded_config(config))

  @property
  def prior_params(self):
    """Parameters of p(z_L): learned logits (Bernoulli), none (N(0, I))."""
    self.build()
    return getattr(self, "prior_logits", None)

  @property
  def inference_variables(self):
    """φ: the recognition network's trainable variables."""
    return [v for b in self.encoder_blocks for v in b.trainable_variables]

  @property
  def model_variables(self):
    """θ: the generative model's trainable variables (prior logits first)."""
    prior = [self.prior_params] if self.prior_params is not None else []
    return prior + [v for b in self.decoder_blocks for v in b.trainable_variables]

  def precision_blocks(self):
    return self.encoder_blocks + self.decoder_blocks

  def variable_groups(self):
    return {"model": self.model_variables, "inference": self.inference_variables,
            **self.estimator.variable_groups(self)}

  # ---- the step: estimator, then the family's global terms -------------------------
  def compute_losses(self, x, seed):
    """x [B, D], seed [2] -> ``tfiw.losses.Step`` (the estimator's, plus global terms)."""
    self.build()
    step = self.estimator.losses(self, tf.cast(x, tf.float32), seed)
    kl = self.global_kl_per_example()
    if kl is not None:
      step = step.plus(kl, in_bound=True)
    reg = self.regularizer()
    if reg is not None:
      step = step.plus(reg, in_bound=False)
    return step

  def losses_from_log_weights(self, lw):
    """The estimator's ``Step`` for given ``LogWeights`` (pathwise estimators, which need
    nothing but log-weights: e.g. to score another K than ``num_samples``)."""
    if not hasattr(self.estimator, "from_log_weights"):
      raise ValueError(f"estimator {self.estimator.name!r} draws its own samples; use "
                       "compute_losses")
    return self.estimator.from_log_weights(self.objective, lw)

  def global_kl_per_example(self):
    """KL of the family's global variational parameters / N, part of the bound (None)."""
    return None

  def regularizer(self):
    """A penalty added to the losses but not to the bound (None)."""
    return None

  # ---- the family's math: one walk through the layered conditionals ----------------
  def q_params(self, l, h, seed=None, frozen=False):
    """Parameters of q(z_{l+1} | h) at inputs h."""
    return self.latents.params(self._network(self.encoder_blocks[l], h, seed, frozen))

  def p_params(self, l, h, seed=None):
    """Parameters of p(z_l | z_{l+1} = h), l >= 1."""
    return self.latents.params(self._network(self.decoder_blocks[l], h,
                                             self._layer_seed(seed, l)))

  def stopped_q_params(self, l, h, params, seed=None):
    """q's parameters at layer l with φ stop-gradiented.

    Layer 0's input is x, which does not depend on φ, so stopping its outputs is the same
    and free; above it the input z_{l-1} is a function of φ (reparameterised), so q is
    re-evaluated with frozen weights and the path through z_{l-1} is kept:
    ∂log q(z_l | z_{l-1}) / ∂z_{l-1} · ∂z_{l-1} / ∂φ belongs to STL and DReG.
    """
    if l == 0:
      return self.latents.stop(params)
    return self.q_params(l, h, seed, frozen=True)

  def log_weights(self, x, num_samples, seed, reparameterize=True):
    """Draw K samples z ~ q(z|x) and score them; returns ``LogWeights``.

    ``reparameterize=False`` (score-function and EM estimators): the samples are held
    constant (no pathwise gradient); log q still depends on φ through q's parameters.
    Discrete latents are never reparameterised.
    """
    self.build()
    x = tf.cast(x, tf.float32)
    z_seeds, net_seeds, gen_seed = self._seeds(seed)
    h = self._recognition_input(x, num_samples)
    zs, log_q, log_q_stop = [], 0.0, 0.0
    for l in range(len(self.latent_dims)):
      params = self.q_params(l, h, net_seeds[l])
      if l == 0:
        moments = self.latents.moments(params)
      shape = num_samples if (l == 0 and h.shape.rank == 2) else ()
      z = self.latents.sample(params, shape, z_seeds[l], reparameterize)
      log_q += self.latents.log_prob(params, z)
      log_q_stop += self.latents.log_prob(self.stopped_q_params(l, h, params, net_seeds[l]), z)
      zs.append(z)
      h = z
    log_p = self.log_joint(x, zs, gen_seed)
    return LogWeights(log_p - log_q, log_p, log_q, log_q_stop, tuple(zs),
                      tuple(tf.stop_gradient(m) for m in moments))

  def log_prior(self, zs, seed=None):
    """log p(z_1..z_L) for samples zs[l] of shape [K, B, Z_l]; returns [K, B]."""
    log_p = self.latents.prior_log_prob(self.prior_params, self.latent_dims[-1], zs[-1])
    for l in range(1, len(zs)):  # p(z_l | z_{l+1}), l = 1..L-1
      log_p += self.latents.log_prob(self.p_params(l, zs[l], seed), zs[l - 1])
    return log_p

  def _likelihood_out(self, z1, seed=None):
    return self._network(self.decoder_blocks[0], z1, self._layer_seed(seed, 0))

  def likelihood_dist(self, z1, seed=None):
    """p(x | z_1) as a tfp distribution over [..., D]."""
    out = self._likelihood_out(z1, seed)
    if self.likelihood == "bernoulli":
      return dists.bernoulli(out)
    return dists.diag_gaussian(out[0], dists.scale_from_raw(out[1]))

  def log_likelihood(self, x, z1, seed=None):
    """log p(x | z_1) for z_1 [K, B, Z_1]; returns [K, B]."""
    if self.likelihood == "bernoulli":
      return dists.bernoulli_log_prob(self._likelihood_out(z1, seed), x)
    return self.likelihood_dist(z1, seed).log_prob(x)

  def log_joint(self, x, zs, seed=None):
    """log p(x, z_1..z_L); returns [K, B]."""
    return self.log_prior(zs, seed) + self.log_likelihood(x, zs[0], seed)

  def log_recognition(self, x, zs):
    """log q_φ(z_1..z_L | x) at given samples zs[l] [K, B, Z_l]; returns [K, B]."""
    self.build()
    h, log_q = tf.cast(x, tf.float32), 0.0
    for l, z in enumerate(zs):
      log_q += self.latents.log_prob(self.q_params(l, h), z)
      h = z
    return log_q

  def _ancestral(self, num_examples, seeds):
    """z_L -> ... -> z_1 by ancestral sampling with seeds[0..L-1]; zs bottom first."""
    n = len(self.latent_dims)
    zs = [self.latents.prior_sample(self.prior_params, self.latent_dims[-1], num_examples,
                                    seeds[0])]
    for l in range(n - 1, 0, -1):
      zs.insert(0, self.latents.ancestral(self.p_params(l, zs[0]), seeds[l]))
    return zs

  def dream(self, num_examples, seed):
    """(x, zs) ~ p(x, z) by ancestral sampling, held constant: x [N, D] and zs per layer
    [N, Z_l], bottom first (RWS's sleep phase; BDMC's simulated data)."""
    self.build()
    seeds = tfp.random.split_seed(seed, len(self.latent_dims) + 1)
    zs = self._ancestral(num_examples, seeds)
    x = self.likelihood_dist(zs[0]).sample(seed=seeds[-1])
    return tf.stop_gradient(x), tuple(tf.stop_gradient(z) for z in zs)

  def generate(self, num_examples, seed):
    """Ancestral sampling z_L -> ... -> z_1 -> x; returns (x, E[x | z_1]), [N, D] each."""
    self.build()
    seeds = tfp.random.split_seed(seed, len(self.latent_dims) + 1)
    p_x = self.likelihood_dist(self._ancestral(num_examples, seeds)[0])
    return p_x.sample(seed=seeds[-1]), p_x.mean()

  def encode(self, x):
    """Mean and standard deviation of q(z_1 | x) per unit, [B, Z_1] each (Gaussian: loc
    and scale; Bernoulli: p and sqrt(p(1-p)))."""
    self.build()
    return self.latents.moments(self.q_params(0, tf.cast(x, tf.float32)))

  def encode_top(self, x):
    """Mean and standard deviation of q at the top stochastic layer, [B, Z_L] each.

    With several stochastic layers, the lower layers are passed through at their means
    (a deterministic summary; q(z_L | x) itself is not of q's form then).
    """
    self.build()
    h = tf.cast(x, tf.float32)
    for l in range(len(self.latent_dims)):
      mean, std = self.latents.moments(self.q_params(l, h))
      h = mean
    return mean, std

  def reconstruct(self, x):
    """E[x | z_1] at z_1 = E_q[z_1 | x] (mean reconstructions for pictures)."""
    return self.likelihood_dist(self.encode(x)[0]).mean()

  # ---- user API ---------------------------------------------------------------
  def set_output_bias(self, data_mean):
    """Initialise the output bias from the training data mean (Burda et al.)."""
    mean = np.asarray(data_mean, np.float32).reshape(-1)
    if mean.shape != (self.input_dim,):
      raise ValueError(f"data_mean has {mean.size} values, model input_dim is {self.input_dim}")
    self.build()
    if self.likelihood == "bernoulli":
      p = np.clip(mean, 1e-3, 1 - 1e-3)
      mean = np.log(p) - np.log1p(-p)
    self.decoder_blocks[0].output_bias.assign(mean)

  def init_from_data(self, x):
    """Data-dependent initialisation from the training set x [N, D]: the output bias
    from its mean (Burda et al.) and the family's data-dependent settings."""
    self.set_output_bias(np.asarray(x).mean(0))
    self.init_from_array(x)

  def log_prob(self, x, num_samples=5000, seed=0, **kwargs):
    """Importance-sampled log p(x) per example (nats), [N] numpy; see ``tfiw.evaluation``."""
    from tfiw import evaluation  # evaluation works on any model: imported when used
    return evaluation.log_likelihood(self, x, num_samples=num_samples, seed=seed, **kwargs)

  def sample(self, num_examples, seed=0, mean=False):
    """``num_examples`` ancestral samples x ~ p(x); ``mean=True`` returns E[x | z_1]."""
    from tfiw import evaluation
    return evaluation.sample(self, num_examples, seed=seed, mean=mean)


__all__ = ["LatentVariableModel", "LogWeights", "is_array"]
