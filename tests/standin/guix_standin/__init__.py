"""vmfleet's stand-in for the ``guix`` command (see tests/standin/README.md).

Guix cannot run on the machines vmfleet is developed and tested on, so this package keeps
the contract of the real command line for what vmfleet uses (argv, stdout, stderr, exit
status; see docs/guix-facts.md) and makes real, bootable qcow2 images with a Guix
image's layout. Product code never special-cases it: it only finds a ``guix`` on PATH.
"""
