"""Digital baselines for the generative experiments: a Gaussian model and a DDPM."""
