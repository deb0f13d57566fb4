"""vmfleet: record, build, boot and diff every generation of a fleet of GNU Guix VMs."""

__version__ = "0.1.0"
