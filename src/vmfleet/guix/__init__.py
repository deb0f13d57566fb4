"""Guix as vmfleet meets it: reading its Scheme files (channels, operating-system
declarations, manifests, provenance), store file names, and the ``guix`` command line.
"""
