"""Exercise 1, Q3: the parameter count."""
