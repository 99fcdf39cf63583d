"""derive: a verified correction sheet for the December 2019 deep-learning exam."""

__version__ = "0.1.0"
