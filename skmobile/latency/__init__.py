"""Batch-N inference latency: measured (``measure``, kept by ``cache``) or predicted from a per-layer
lookup table measured on this machine (``capture``, ``graph``, ``table``, ``timing``: the approach of
FBNet's latency tables and nn-Meter). Import the submodules; this file imports nothing heavy."""
