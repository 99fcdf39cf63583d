"""Exercise 1, Q7: the gradient of the KL sparsity penalty."""
