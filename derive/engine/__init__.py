"""The NumPy network: layers with their backward passes, both branches, training, data, its PyTorch twin, the bench."""
