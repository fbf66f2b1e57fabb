"""Everything about the data the model learns from and the officer reads.

Nothing here imports `train` or `serve`: photos and the catalogue flow one way.
"""
