"""Source processes: read input, intercept, and put batches into channels."""
