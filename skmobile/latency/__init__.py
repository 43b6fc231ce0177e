"""Measured batch-N inference latency: timing, runtimes, machine records, a cache and a predictor.

``measure`` times whole models (torch or onnxruntime, cpu or cuda); ``cache`` keeps measured
latencies by full-size architecture spec; ``predictor`` sums a per-layer lookup table measured on
this machine (the approach of nn-Meter and of FBNet's latency tables). Import the submodules; this
package file imports nothing heavy.
"""
