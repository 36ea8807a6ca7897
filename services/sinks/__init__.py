"""Sink processes: each delivers the batches its router hands it to one target."""
