from setuptools import find_packages, setup

setup(
    name="tfiw",
    version="0.1.0",
    description="Importance-weighted latent-variable models (VAE, IWAE, RWS, REM, ...) "
                "in TensorFlow/Keras with XLA",
    python_requires=">=3.11,<3.12",
    packages=find_packages(include=["tfiw", "tfiw.*", "zoo", "configs", "export"]),
    package_data={"tfiw": ["data_files/*.npz"]},
    install_requires=[
        "tensorflow==2.21.*",
        "keras==3.15.*",
        "tensorflow-probability==0.25.*",
        "tf-keras==2.21.*",            # tensorflow-probability 0.25 imports it on first use
        "tensorflow-datasets==4.9.10",
        "importlib_resources",         # tfds 4.9.10 needs it but does not declare it
        "absl-py",
        "ml-collections",
        "numpy",
        "tensorboard",                 # not a dependency of tensorflow 2.21 any more
        "pillow",                      # PNG sample grids
        "matplotlib",                  # zoo.diagnose SNR plots
    ],
    extras_require={"test": ["pytest", "pytest-xdist"]},
)
