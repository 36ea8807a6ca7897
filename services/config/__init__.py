"""Flume properties files: parsing, validation and the typed agent model."""
