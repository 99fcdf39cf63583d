"""The certificate: printed formulas evaluated on real tensors against finite differences, backprop and autograd."""
