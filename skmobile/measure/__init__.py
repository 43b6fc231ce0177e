"""Measurement on a low floor: the timing loop (:mod:`.timing`), robust order statistics of timing
samples (:mod:`.stats`) and the record of the machine and library versions a figure was measured
with (:mod:`.machine`). Every benchmark (kernels, whole models, latency) and every provenance
record uses these; they import nothing from skmobile but its errors.
"""
