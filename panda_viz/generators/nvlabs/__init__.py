"""NVlabs' StyleGAN2 and StyleGAN3: the networks, their configurations and their network pickles."""
