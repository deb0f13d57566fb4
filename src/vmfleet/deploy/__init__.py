"""Deploy, redeploy, roll back, start, stop and destroy VMs; ``ps`` reconciles; the audit log.

A VM is one registry row (``vms``) plus one libvirt domain of the same name, whose disk is an
overlay of a stored image (see placement). The row is written *before* anything is created on
the host (state ``deploying``) and a per-VM lock file is held for the whole deploy, so a
vmfleet killed at any point leaves a row that ``ps`` can explain ("deploy interrupted": the
row says deploying but nobody holds its lock) and that ``destroy`` or ``start`` can finish.

Redeploy never has a moment without a working VM: the new VM (named after the old one plus
``-g<generation>``) is started and must answer SSH before the old one is shut down; the old
one is *retired*, not removed: its domain stays defined and its overlay kept, so ``rollback``
brings it back exactly as it was (same disk, same pinned host key). If the new VM does not
come up in time it is removed again and the old one keeps running.

Concurrency: everything that touches a host's shared state (uploading an image to its pool,
choosing a free SSH port, defining and starting a domain, which is when QEMU binds the port)
happens under that host's lock (``locks/host-NAME.lock``, flock). Waiting for SSH happens
outside it, so several deploys to one host boot in parallel.
"""
