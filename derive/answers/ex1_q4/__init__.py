"""Exercise 1, Q4: how the weights of the two branches evolve."""
