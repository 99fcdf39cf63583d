"""Exercise 1, Q1: the gradient of an L6 weight."""
