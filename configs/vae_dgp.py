"""VAE-DGP: variational auto-encoded deep Gaussian process (Dai, Damianou, González &
Lawrence 2016) on Frey faces (28x20, Gaussian likelihood, 1565/200/200 split).

Model: top latent x ∈ R^z with a recognition MLP (one hidden layer of 200 tanh units),
GP layers z -> gp_hidden -> 560 with ARD exponentiated-quadratic kernels and M inducing
points each (whitened q(u), shared output covariance), hidden layers sampled from their
q(f) marginals; minibatch bound scaled by N = the training-set size (1565), batch 100,
Adam 1e-2 (constant), K=1 sample (ELBO) or, with ``iw`` and ``gp_hidden=0`` only, the
importance-weighted bound (with hidden GP layers it is not a bound and is refused).
Arguments (defaults first):
  z=5  gp_hidden=8 (0 = one GP layer)  m=50  k=1  iw (importance-weighted bound; gp_hidden=0)
  runlocal   seconds on CPU (2 x 5 steps, K_eval=20)
Reproduces no paper row: Dai et al. (2016) report no Frey-faces number; ours is in
docs/vae_dgp.md.

  python -m zoo.train --config=configs/vae_dgp.py --data_dir=../shared/data --workdir=runs/vae_dgp
  python -m zoo.train --config=configs/vae_dgp.py:runlocal --data_dir=../shared/data \
      --workdir=/tmp/vae_dgp   # seconds
"""
from configs import common


def get_config(arg=None):
  c = common.get_config(arg, k=1, z=5, gp_hidden=8, m=50, iw=False)
  a = c.args
  c.data.name = "frey_faces"
  c.data.batch_size = 100
  c.model.latent_dims = [a.z]
  c.model.hidden = [[200]]
  c.method = dict(name="vae_dgp", num_samples=a.k, gp_hidden=[a.gp_hidden] if a.gp_hidden else [],
                  num_inducing=a.m, importance_weighted=a.iw)  # N from the data
  c.optim.learning_rate = 1e-2
  c.optim.schedule = "constant"
  c.optim.adam_epsilon = 1e-7
  c.train.epochs = 300
  c.eval.batch_size = 100
  c.eval.chunk_size = 500
  if c.args.runlocal:
    common.runlocal(c)
  return c
