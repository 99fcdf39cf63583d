"""Exercise 2, Q3: the convolution of a CNN."""
