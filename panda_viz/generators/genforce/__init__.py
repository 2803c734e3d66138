"""genforce's model-zoo generators: PGGAN, StyleGAN and StyleGAN2 with genforce's keys."""
