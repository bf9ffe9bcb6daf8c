"""After ``zoo.train`` (docs/vae_dgp.sh): test ELBO of a VAE-DGP run and a PNG of samples.

  python docs/vae_dgp_demo.py runs/vae_dgp_frey docs/vae_dgp_samples.png
"""
import json
import sys

import numpy as np
import tensorflow as tf

from tfiw import data, images
from zoo import workdir as wd

workdir, png = sys.argv[1], sys.argv[2]
cfg, model = wd.load_run(workdir)
test = data.load("frey_faces", data_dir=cfg.data.data_dir or "/work/shared/data").test
# Data-size-scaled bound per test example: mean over 10 seeds of the K=1 ELBO with
# KL(q(u)||p(u)) / N_train, as in training.
elbo = np.mean([model.compute_losses(test, tf.constant([7, s])).bound.numpy().mean()
                for s in range(10)])
mean = model.sample(30, seed=0, mean=True)
images.write_png(png, images.grid(np.concatenate([mean, test[:10]]), columns=10))
out = {"test_elbo_per_example": float(elbo)}
print(json.dumps(out))
