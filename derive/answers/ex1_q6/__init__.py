"""Exercise 1, Q6: dropout on L5, L'5, L6 and L'6."""
