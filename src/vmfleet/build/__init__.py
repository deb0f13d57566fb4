"""Building images: where builds run (locally or on a build host), the build cache, the
content-addressed image store.
"""
