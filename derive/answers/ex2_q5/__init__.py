"""Exercise 2, Q5: standard versus normalised initialisation."""
