"""Variational auto-encoded deep Gaussian process (VAE-DGP; Dai, Damianou, González &
Lawrence 2016).

Generative model, top first (``gp_dims = [Q, H_1, ..., D]``):
  x ~ N(0, I_Q),  h_1 = f_1(x) + ε_1, ...,  y = f_L(h_{L-1}) + ε_L,
  f_l ~ GP(m_l, k_l) per output unit (ARD exponentiated-quadratic kernel shared by the
  layer's outputs; m_l linear for hidden layers, zero plus a learned bias at the output),
  ε_l ~ N(0, σ_l² I).
Variational posterior: the top latent q(x | y) = N(μ_φ(y), diag σ_φ²(y)) is produced
by a recognition MLP (so no variational parameters grow with N), and every layer has M
inducing points with whitened q(u_l) = N(m_l, S_l) (``tfiw.gp``). Hidden layers are
sampled from their marginals q(h_l | h_{l-1}) with the reparameterisation trick
(Salimbeni & Deisenroth 2017), the output layer's expected Gaussian log-likelihood is
closed form. Per example n and sample x_k ~ q(x | y_n):
  log w_k = E_{q(f_L | h_k)}[log p(y_n | f_L)] + log p(x_k) - log q(x_k | y_n),
and the data-size-scaled minibatch bound (nats per example) is
  ELBO = mean_n mean_k log w_k - Σ_l KL(q(u_l) || p(u_l)) / N,
with N the training-set size (``num_train``; taken from the data by ``init_from_data``
or ``fit`` on an array). N times its expectation is a lower bound on log p(Y) of the
whole training set (Salimbeni & Deisenroth 2017, eq. 10 with the latent x added).

Option ``importance_weighted=True`` replaces mean_k by log mean_k exp (the IWAE bound
over the latent x; K=1 gives the ELBO again). It is a bound only with ONE GP layer
(``gp_hidden=[]``): the output layer's expectation over q(f) is in closed form, i.e.
E_q(u)[·] sits inside the log-sum-exp, and LSE(E_u a) <= E_u LSE(a(u)) (convexity)
<= E_u log p(y_n | u) by Jensen for each u, so the sum over n minus KL(q(u)||p(u)) stays
below log p(Y). Hidden GP layers are sampled from their marginals, which draws the
global u afresh for every importance sample; then each example's term tends, as K
grows, to log E_q(u) p(y_n | u), and their sum minus the KL can exceed log p(Y). That
configuration is refused (``ValueError``). Both objectives are optimised with
``model.fit`` under XLA; θ = GP layers, φ = recognition MLP.

What ``log_prob`` estimates (``tfiw.evaluation.log_likelihood`` on ``log_weights``): the
K-sample estimate log (1/K) Σ_k w_k, a stochastic lower bound on log p_q(y) for a new y,
where p_q is the model with every GP layer's function replaced by its variational
marginal q(f_l(·)) = ∫ p(f_l(·) | u_l) q(u_l) du_l at each input (the approximate
posterior predictive density of the trained model: inducing outputs drawn from q(u),
independently per importance sample). It is not a bound on the prior-model evidence
log p(y), and it leaves out KL(q(u)||p(u)), a term of the training set's bound only.
"""

import keras
import numpy as np
import tensorflow as tf
import tensorflow_probability as tfp

from tfiw import distributions as dists, gp
from tfiw.models.base import LatentVariableModel


@keras.saving.register_keras_serializable("tfiw")
class SparseGPLayer(keras.layers.Layer):
  """One sparse variational GP layer, inputs [N, I] -> marginals (mean, var) [N, P].

  Weights: inducing inputs Z [M, I], kernel amplitude and ARD length scales (softplus),
  whitened q(u): q_mu [P, M], q_sqrt [S, M, M] (S = 1 when ``share_covariance``: the
  optimal S is shared for a Gaussian likelihood with one kernel), noise variance σ²,
  the linear mean function's matrix (hidden layers) and an output bias.
  """

  def __init__(self, units, num_inducing=50, mean_function="zero", share_covariance=True,
               q_sqrt_init=1.0, noise_init=0.1, length_scale_init=1.0, jitter=gp.DEFAULT_JITTER,
               **kwargs):
    super().__init__(**kwargs)
    if mean_function not in ("zero", "linear"):
      raise ValueError(f"mean_function must be 'zero' or 'linear', got {mean_function!r}")
    self.units, self.num_inducing = int(units), int(num_inducing)
    self.mean_function, self.share_covariance = mean_function, bool(share_covariance)
    self.q_sqrt_init, self.noise_init = float(q_sqrt_init), float(noise_init)
    self.length_scale_init, self.jitter = float(length_scale_init), float(jitter)

  def build(self, input_shape):
    if self.built:
      return
    i, m, p = int(input_shape[-1]), self.num_inducing, self.units
    self.input_units = i
    self.inducing = self.add_weight(shape=(m, i), initializer=keras.initializers.RandomNormal(
        stddev=1.0), name="inducing")
    const = keras.initializers.Constant
    self.raw_amplitude = self.add_weight(shape=(), initializer=const(dists.inverse_softplus(1.0)),
                                         name="raw_amplitude")
    self.raw_length_scales = self.add_weight(
        shape=(i,), initializer=const(dists.inverse_softplus(self.length_scale_init)),
        name="raw_length_scales")
    self.q_mu = self.add_weight(shape=(p, m), initializer="zeros", name="q_mu")
    s = 1 if self.share_covariance else p
    eye = np.tile(np.eye(m, dtype=np.float32)[None] * self.q_sqrt_init, (s, 1, 1))
    self.q_sqrt = self.add_weight(shape=(s, m, m), initializer=const(eye), name="q_sqrt")
    self.raw_noise = self.add_weight(shape=(), initializer=const(dists.inverse_softplus(
        self.noise_init)), name="raw_noise")
    self.bias = self.add_weight(shape=(p,), initializer="zeros", name="bias")
    if self.mean_function == "linear":  # identity on the first min(I, P) units
      self.mean_matrix = self.add_weight(shape=(i, p), initializer=const(
          np.eye(i, p, dtype=np.float32)), name="mean_matrix")
    self.built = True

  def kernel(self):
    return gp.ard_rbf(tf.nn.softplus(self.raw_amplitude),
                      tf.nn.softplus(self.raw_length_scales) + 1e-4)

  @property
  def noise_variance(self):
    return tf.nn.softplus(self.raw_noise) + 1e-6

  def call(self, h):
    """Marginal mean and variance of q(f(h)) per row of h [N, I] (noise not included)."""
    mean, var = gp.conditional(self.kernel(), self.inducing, h, self.q_mu, self.q_sqrt,
                               whiten=True, jitter=self.jitter)
    mean = mean + self.bias
    if self.mean_function == "linear":
      mean = mean + tf.matmul(h, self.mean_matrix)
    return mean, tf.maximum(var, 1e-8)

  def kl(self):
    return gp.kl_q_u(self.q_mu, self.q_sqrt, whiten=True)

  def get_config(self):
    return {**super().get_config(), "units": self.units, "num_inducing": self.num_inducing,
            "mean_function": self.mean_function, "share_covariance": self.share_covariance,
            "q_sqrt_init": self.q_sqrt_init, "noise_init": self.noise_init,
            "length_scale_init": self.length_scale_init, "jitter": self.jitter}


@keras.saving.register_keras_serializable("tfiw")
class VAEDGP(LatentVariableModel):
  """VAE-DGP (see the module docstring).

  Args (beyond ``LatentVariableModel``'s; ``latent_dims=[Q]`` is the top latent layer and
  ``hidden`` the recognition MLP's units):
    gp_hidden: units of the hidden GP layers between x and y, top first ([] = one GP
      layer, a GP-LVM with a recognition model).
    num_inducing: M per layer.
    num_train: N, the training-set size that scales KL(q(u)||p(u)) to per-example units.
      None (default): taken from the data by ``init_from_data`` or by ``fit`` on an array;
      training without it raises.
    importance_weighted: IWAE bound over x instead of the ELBO (one GP layer only: with
      hidden GP layers it is not a bound; see the module docstring).
    noise_init: initial σ² of every layer; q_sqrt_init: initial whitened S^{1/2} scale
      of the hidden layers (the output layer starts at 1).
  """

  family = "gp"

  def __init__(self, input_dim, latent_dims=(5,), hidden=(200,), gp_hidden=(), num_inducing=50,
               num_train=None, importance_weighted=False, noise_init=0.1, q_sqrt_init=1e-2,
               likelihood="gaussian", objective=None, **kwargs):
    if likelihood != "gaussian":
      raise ValueError(f"VAEDGP supports likelihood='gaussian' only, got {likelihood!r}")
    if len(latent_dims) != 1:
      raise ValueError(f"VAEDGP has one top latent layer; got latent_dims={latent_dims}")
    hidden = list(hidden)
    if hidden and isinstance(hidden[0], (list, tuple)):
      hidden = list(hidden[0])
    gp_hidden = [int(u) for u in gp_hidden]
    # importance_weighted=True is the convenience for objective="iwae" (default: the ELBO).
    if importance_weighted:
      if objective not in (None, "elbo", "iwae"):
        raise ValueError(f"importance_weighted=True means objective 'iwae', got {objective!r}")
      objective = "iwae"
    objective = objective or "elbo"
    if objective != "elbo" and gp_hidden:
      raise ValueError(
          f"objective {objective!r} (importance_weighted) with hidden GP layers "
          f"(gp_hidden={gp_hidden}) is not a lower bound on log p(Y): each importance sample "
          "draws the hidden layers from their q(f) marginals, i.e. its own copy of the "
          "global inducing outputs u, so the sum over examples can exceed log p(Y). Use "
          "gp_hidden=[] (one GP layer) or the ELBO (a bound for any depth).")
    if num_train is not None and int(num_train) < 1:
      raise ValueError(f"num_train must be the training-set size (>= 1), got {num_train}")
    super().__init__(input_dim, latent_dims=latent_dims, hidden=hidden, likelihood=likelihood,
                     objective=objective, **kwargs)
    self.gp_hidden = gp_hidden
    self.importance_weighted = objective != "elbo"
    self.num_inducing = int(num_inducing)
    self.num_train = None if num_train is None else int(num_train)
    self.noise_init, self.q_sqrt_init = float(noise_init), float(q_sqrt_init)
    units = self.gp_hidden + [self.input_dim]
    self.gp_layers = [
        SparseGPLayer(u, self.num_inducing, mean_function="zero" if l == len(units) - 1
                      else "linear", q_sqrt_init=1.0 if l == len(units) - 1 else q_sqrt_init,
                      noise_init=noise_init, name=f"gp_{l + 1}")
        for l, u in enumerate(units)]
    self.log_prob_estimator = (
        "VAE-DGP: log (1/K) sum_k exp(E_q(f|h_k)[log N(x | f, noise)]) p(z_k) / q(z_k | x), "
        "z_k ~ q(z | x) (recognition MLP), hidden GP layers h_k sampled from their q(f) "
        "marginals. A stochastic lower bound on log p_q(x), the density of a new x under "
        "the model whose GP functions are their variational marginals "
        "q(f(.)) = int p(f(.) | u) q(u) du (the approximate posterior predictive; u drawn "
        "from q(u) independently per importance sample). Not a bound on the prior-model "
        "evidence log p(x); KL(q(u)||p(u)) (a training-set term) is not in it")

  def build(self, input_shape=None):
    if self.built:
      return
    self.encoder_blocks[0].build((None, self.input_dim))
    shape = self.latent_dims[0]
    for layer in self.gp_layers:
      layer.build((None, shape))
      shape = layer.units
    self.built = True

  def get_config(self):
    return {**super().get_config(), "gp_hidden": self.gp_hidden,
            "num_inducing": self.num_inducing, "num_train": self.num_train,
            "noise_init": self.noise_init,
            "q_sqrt_init": self.q_sqrt_init}

  @property
  def model_variables(self):
    return [v for layer in self.gp_layers for v in layer.trainable_variables]

  def set_output_bias(self, data_mean):
    mean = np.asarray(data_mean, np.float32).reshape(-1)
    if mean.shape != (self.input_dim,):
      raise ValueError(f"data_mean has {mean.size} values, model input_dim is {self.input_dim}")
    self.build()
    self.gp_layers[-1].bias.assign(mean)

  def _make_decoder(self):
    return []  # the generative model is the GP stack (``gp_layers``)

  def init_from_array(self, x):
    """N = len(x) unless ``num_train`` was given (``init_from_data``, ``fit`` on an array)."""
    if self.num_train is None:
      self.num_train = int(np.shape(x)[0])

  def global_kl_per_example(self):
    """Σ_l KL(q(u_l) || p(u_l)) / N: the global term of the bound, per example."""
    if self.num_train is None:
      raise ValueError(
          "VAEDGP needs the training-set size N to scale KL(q(u)||p(u)) per example: pass "
          "num_train=N, call model.init_from_data(x_train), or fit on an array")
    return self.kl_u() / float(self.num_train)

  def kl_u(self):
    """Σ_l KL(q(u_l) || p(u_l)) in nats (for the whole data set)."""
    return tf.add_n([layer.kl() for layer in self.gp_layers])

  # ---- the model's math -------------------------------------------------------
  def propagate(self, top, seed):
    """Top inputs [..., Q] -> output layer marginals (mean, var) [..., D], sampling every
    hidden layer h_l = mean + sqrt(var + σ_l²) ε."""
    lead = tf.shape(top)[:-1]
    h = tf.reshape(top, [-1, top.shape[-1]])
    for l, layer in enumerate(self.gp_layers[:-1]):
      mean, var = layer(h)
      eps = dists.normal_noise(tf.shape(mean), tf.random.experimental.stateless_fold_in(
          seed, l), dtype=mean.dtype)
      h = mean + tf.sqrt(var + layer.noise_variance) * eps
    mean, var = self.gp_layers[-1](h)
    shape = tf.concat([lead, [self.input_dim]], 0)
    return tf.reshape(mean, shape), tf.reshape(var, shape)

  def conditional_bound(self, inputs, y, num_data=None, seed=(0, 0)):
    """The DGP bound with the top layer's inputs observed (recognition network off):
    (N/B) Σ_n E_q[log p(y_n | f_L)] - Σ_l KL(q(u_l)||p(u_l)), inputs [B, Q], y [B, D].
    With one GP layer this is sparse GP regression's uncollapsed bound."""
    self.build()
    y = tf.cast(y, tf.float32)
    mean, var = self.propagate(tf.cast(inputs, tf.float32), tf.constant(seed, tf.int32))
    ell = tf.reduce_sum(gp.expected_gaussian_log_lik(
        y, mean, var, self.gp_layers[-1].noise_variance))
    n = tf.cast(tf.shape(y)[0], tf.float32)
    scale = 1.0 if num_data is None else float(num_data) / n
    return scale * ell - self.kl_u()

  def _seeds(self, seed):
    z_seed, f_seed = tfp.random.split_seed(seed, 2)
    return [z_seed], [None], f_seed

  def log_likelihood(self, x, z1, seed=None):
    """E_{q(f_L | h)}[log p(x | f_L)] [K, B], hidden layers sampled with ``seed``."""
    seed = tf.constant([0, 0], tf.int32) if seed is None else seed
    mean, var = self.propagate(z1, seed)
    return gp.expected_gaussian_log_lik(x, mean, var, self.gp_layers[-1].noise_variance)

  def likelihood_dist(self, z1, seed=None):
    seed = tf.constant([0, 0], tf.int32) if seed is None else seed
    mean, var = self.propagate(z1, seed)
    return dists.diag_gaussian(mean, tf.sqrt(var + self.gp_layers[-1].noise_variance))

  def generate(self, num_examples, seed):
    """x ~ p(x), h_l and y from the layers' q(f) marginals; returns (y, E[y | h])."""
    self.build()
    s = tfp.random.split_seed(seed, 3)
    z = dists.standard_normal(self.latent_dims[0]).sample(num_examples, seed=s[0])
    p = self.likelihood_dist(z, s[1])
    return p.sample(seed=s[2]), p.mean()
