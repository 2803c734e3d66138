"""How local an edit is and how real its images look: ROIR, SWD, FID (and its Inception network), MSE maps."""
