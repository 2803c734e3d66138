"""BigGAN-deep through the PyPI package ``pytorch-pretrained-biggan``."""
