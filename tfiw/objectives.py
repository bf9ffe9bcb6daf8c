"""Objectives: pure functions of log-weights [N, B] -> [B], one axis of the composition
(family x objective x gradient estimator; docs/design.md).

``log_w`` has the sample axis first, ``log w_k = log p(x, z_k) - log q(z_k | x)``. An
objective says how many samples it draws per example, what its value is (the reported
bound, the quantity θ ascends), what φ ascends (the same except for PIWAE), and how the
pathwise φ-estimators that reweight the reparameterised gradient (DReG, DReG-RWS) weight
each sample. The gradient estimator (``tfiw.estimators``) decides how the value is
differentiated; the objective never sees a network.

Objectives built from grouped IWAE bounds (elbo, iwae, miwae, ciwae, piwae) are written as
mixtures: a term (c, g) stands for c * MIWAE(g, N/g), the mean over g groups of consecutive
N/g rows of the (N/g)-sample IWAE bound. IWAE = [(1, 1)], MIWAE(M, K) = [(1, M)], the ELBO
= [(1, N)] (groups of one sample), CIWAE(β) = [(β, N), (1 - β, 1)]; a φ-estimator for one
grouped IWAE term then applies term by term.

To add an objective: a subclass here with ``value`` (and ``dreg_surrogate`` if DReG
applies), one ``OBJECTIVES`` entry, a method in ``tfiw.registry`` and a config.
"""
import tensorflow as tf

from tfiw import bounds


def _grouped(t, groups):
  """[N, B] -> [groups, N / groups, B]; consecutive rows form a group."""
  shape = tf.shape(t)
  return tf.reshape(t, [groups, shape[0] // groups, shape[1]])


def mixture_bound(log_w, terms):
  """sum_i c_i * MIWAE(g_i, N / g_i)(log_w), shape [B]."""
  total = 0.0
  for coef, groups in terms:
    if coef:
      total += coef * bounds.miwae_bound(log_w, groups)
  return total


def grouped_surrogate(log_w, log_w_stl, weight_fn, groups=1):
  """mean over groups of Σ_k c_k log w_stl_k with c = weight_fn(w̃) per group, [B].

  ``log_w_stl`` = log p(x, z) - log q_stop(z | x): the value of log w with q's parameters
  stop-gradiented, so its φ-gradient is the pathwise part ∂log w/∂z ∂z/∂φ only; the
  coefficients c are functions of the self-normalised weights w̃ within the group and
  held constant.
  """
  w = tf.stop_gradient(tf.nn.softmax(_grouped(log_w, groups), axis=1))
  return tf.reduce_mean(tf.reduce_sum(weight_fn(w) * _grouped(log_w_stl, groups), axis=1),
                        axis=0)


def dreg_weights(w):
  """DReG (Tucker et al. 2019, eq. 5): w̃², so Σ_k w̃_k² ∂log w_k/∂z_k ∂z_k/∂φ is unbiased
  for ∇φ IWAE and zero when q is the exact posterior (w̃ = 1/K, ∂log w/∂z = 0)."""
  return tf.square(w)


def dreg_rws_weights(w):
  """DReG-RWS (Tucker et al. 2019, eq. 6): w̃ - w̃², unbiased for the RWS wake-φ direction
  E[Σ_k w̃_k ∇φ log q(z_k)] (which ascends -KL(p(z|x) || q)); not the gradient of a bound;
  zero with K = 1."""
  return w - tf.square(w)


class Objective:
  """Base: subclasses set ``name``, ``OPTIONS`` (constructor options and defaults) and
  implement ``value``."""
  name = None
  OPTIONS = {}
  decomposable = False  # value = mean_k f(log w_k): each sample has its own learning signal

  def __init__(self, **options):
    unknown = sorted(set(options) - set(self.OPTIONS))
    if unknown:
      raise ValueError(f"objective {self.name!r} takes no option(s) {unknown}; "
                       f"valid: {sorted(self.OPTIONS)}")
    self.options = {**self.OPTIONS, **options}

  def num_samples(self, k):
    """Samples drawn per example when the model's num_samples is k."""
    return k

  def value(self, log_w):
    """The objective (reported bound, θ's), [B]."""
    raise NotImplementedError

  @property
  def splits(self):
    """θ and φ ascend different objectives (PIWAE)."""
    return False

  def phi_value(self, log_w):
    """What φ ascends, [B]."""
    return self.value(log_w)

  def dreg_surrogate(self, log_w, log_w_stl):
    """[B] whose φ-gradient is DReG's estimate of ∇φ ``phi_value`` (value meaningless)."""
    raise NotImplementedError(f"objective {self.name!r} has no DReG form")

  def rws_surrogate(self, log_w, log_w_stl):
    """[B] whose φ-gradient is DReG-RWS's wake-φ direction for this objective's groups."""
    raise NotImplementedError(f"objective {self.name!r} has no DReG-RWS form")


class GroupedIWAE(Objective):
  """An objective that is a mixture of grouped IWAE bounds (see the module docstring);
  subclasses give ``terms(n)`` -> (θ-terms, φ-terms) for n samples per example."""

  def terms(self, n):
    raise NotImplementedError

  @property
  def splits(self):
    theta, phi = self.terms(1)
    return theta is not phi

  def value(self, log_w):
    return mixture_bound(log_w, self.terms(tf.shape(log_w)[0])[0])

  def phi_value(self, log_w):
    return mixture_bound(log_w, self.terms(tf.shape(log_w)[0])[1])

  def _phi_surrogate(self, log_w, log_w_stl, weight_fn):
    total = 0.0
    for coef, groups in self.terms(tf.shape(log_w)[0])[1]:
      if coef:
        total += coef * grouped_surrogate(log_w, log_w_stl, weight_fn, groups)
    return total

  def dreg_surrogate(self, log_w, log_w_stl):
    return self._phi_surrogate(log_w, log_w_stl, dreg_weights)

  def rws_surrogate(self, log_w, log_w_stl):
    return self._phi_surrogate(log_w, log_w_stl, dreg_rws_weights)


class ELBO(GroupedIWAE):
  """K-sample average ELBO (Kingma & Welling 2014): (1/K) Σ_k log w_k."""
  name = "elbo"
  decomposable = True

  def terms(self, n):
    t = [(1.0, n)]
    return t, t

  def value(self, log_w):
    return bounds.elbo(log_w)

  phi_value = value


class IWAE(GroupedIWAE):
  """Importance-weighted bound (Burda et al. 2016, eq. 8): log (1/K) Σ_k w_k."""
  name = "iwae"
  _TERMS = [(1.0, 1)]

  def terms(self, n):
    return self._TERMS, self._TERMS

  def value(self, log_w):
    return bounds.iwae_bound(log_w)

  phi_value = value


def _num_groups(options):
  m = options["num_groups"]
  if isinstance(m, bool) or int(m) != m or int(m) < 1:
    raise ValueError(f"num_groups must be an integer >= 1, got {m!r}")
  return int(m)


class MIWAE(GroupedIWAE):
  """MIWAE(M, K) (Rainforth et al. 2018, eq. 8): the mean of M K-sample IWAE bounds; draws
  M*K samples per example."""
  name = "miwae"
  OPTIONS = {"num_groups": 1}

  def __init__(self, **options):
    super().__init__(**options)
    self.options["num_groups"] = _num_groups(self.options)
    self._terms = [(1.0, self.options["num_groups"])]

  def num_samples(self, k):
    return self.options["num_groups"] * k

  def terms(self, n):
    return self._terms, self._terms


class PIWAE(MIWAE):
  """PIWAE (Rainforth et al. 2018, §5): θ ascends IWAE(M*K), φ ascends MIWAE(M, K), on
  the same M*K samples."""
  name = "piwae"

  def terms(self, n):
    return IWAE._TERMS, self._terms


class CIWAE(GroupedIWAE):
  """CIWAE(β) (Rainforth et al. 2018, eq. 9): β * ELBO + (1 - β) * IWAE."""
  name = "ciwae"
  OPTIONS = {"beta": 0.5}

  def __init__(self, **options):
    super().__init__(**options)
    beta = self.options["beta"]
    if isinstance(beta, bool) or not isinstance(beta, (int, float)) or not 0 <= beta <= 1:
      raise ValueError(f"objective 'ciwae' needs beta in [0, 1], got {beta!r}")
    self.options["beta"] = float(beta)

  def terms(self, n):
    beta = self.options["beta"]
    t = [(beta, n), (1.0 - beta, 1)]
    return t, t


class VR(Objective):
  """Rényi / VR-IWAE bound (Li & Turner 2016, eq. 12; Daudel, Benton, Shi & Doucet 2023):

    L_α = 1/(1-α) log (1/K) Σ_k w_k^(1-α),   α in [0, 1).

  α = 0 is the IWAE bound and α -> 1 the ELBO. By the power-mean inequality
  ELBO <= L_α <= IWAE <= log p(x) for every draw (in expectation for the last), so it is a
  lower bound for every α in [0, 1), decreasing in α. Its reparameterised gradient
  weights sample k by s_k = softmax((1-α) log w)_k.

  DReG form: the score-function part of ∇φ L_α is -E[Σ_k s_k ∇φ log q(z_k)]; the
  reparameterisation identity E[g(z) ∇φ log q(z)] = E[∂g/∂z ∂z/∂φ] with g = s_k,
  ∂s_k/∂log w_k = (1-α)(s_k - s_k²), turns it into -E[Σ_k (1-α)(s_k - s_k²) ∂log w_k/∂z ...],
  so ∇φ L_α = E[Σ_k (α s_k + (1-α) s_k²) ∂log w_k/∂z_k ∂z_k/∂φ] (α = 0: IWAE's DReG).
  """
  name = "vr"
  OPTIONS = {"alpha": 0.5}

  def __init__(self, **options):
    super().__init__(**options)
    alpha = self.options["alpha"]
    if isinstance(alpha, bool) or not isinstance(alpha, (int, float)) or not 0 <= alpha < 1:
      raise ValueError(f"objective 'vr' needs alpha in [0, 1) (0: IWAE; the ELBO is the "
                       f"limit alpha -> 1, objective 'elbo'), got {alpha!r}")
    self.options["alpha"] = float(alpha)

  def value(self, log_w):
    c = 1.0 - self.options["alpha"]
    return bounds.log_mean_exp(c * log_w, axis=0) / c

  def dreg_surrogate(self, log_w, log_w_stl):
    alpha = self.options["alpha"]
    s = tf.stop_gradient(tf.nn.softmax((1.0 - alpha) * log_w, axis=0))
    return tf.reduce_sum((alpha * s + (1.0 - alpha) * tf.square(s)) * log_w_stl, axis=0)


OBJECTIVES = {o.name: o for o in (ELBO, IWAE, MIWAE, CIWAE, PIWAE, VR)}


def objective_class(name):
  """The objective class registered as ``name``; an unknown name lists the valid ones."""
  if name not in OBJECTIVES:
    raise ValueError(f"unknown objective {name!r}; valid objectives: {sorted(OBJECTIVES)}")
  return OBJECTIVES[name]


def get_objective(name, **options):
  """An objective by name with its options."""
  return objective_class(name)(**options)
