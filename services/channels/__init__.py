"""Channel processes: the transactional buffers between sources and sink-routers."""
