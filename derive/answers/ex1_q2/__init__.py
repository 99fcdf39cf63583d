"""Exercise 1, Q2: the gradient of an L5 weight through the PReLU."""
