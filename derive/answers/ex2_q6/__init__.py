"""Exercise 2, Q6: AlexNet's update rule."""
