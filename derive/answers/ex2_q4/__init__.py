"""Exercise 2, Q4: four remedies for vanishing gradients."""
