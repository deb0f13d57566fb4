"""Reading what an image (or a running system) is, offline: the disk, its ext4 file system,
the Guix system inside (provenance, manifest, store database, files).
"""
