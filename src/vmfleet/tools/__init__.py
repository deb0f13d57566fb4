"""One module per external tool, the only places that run it or import its library:
subprocesses (run), qemu-img, libvirt (virt), SSH (paramiko), lock files.
"""
