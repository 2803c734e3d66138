"""Real images into a generator: the three-stage inversion."""
