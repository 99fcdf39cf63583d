"""Process plumbing: the result cache, worker processes, BLAS kernels, threads and memory."""
