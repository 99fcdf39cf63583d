"""Exercise 1, Q5: the two terms of the pair loss."""
