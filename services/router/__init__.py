"""The sink-router: takes batches from a channel and hands each to one sink of its group."""
