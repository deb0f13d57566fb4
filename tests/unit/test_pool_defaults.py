"""One default for a remote host's storage pool and its directory, wherever it is filled in."""

from vmfleet.deploy import hosts, placement


def test_a_remote_host_without_pool_settings_gets_the_one_default():
    host = hosts.Host("hv1", "qemu+ssh://root@hv1/system", True, None, None, None)
    place = placement.for_host(None, host, conn=None)
    assert (place.pool, place.pool_dir) == (hosts.DEFAULT_POOL, hosts.DEFAULT_POOL_DIR)
    assert hosts.DEFAULT_POOL_DIR == "/var/lib/vmfleet/pool"  # as docs/reference.md says


def test_hosts_listing_fills_in_the_same_default(reg):
    hosts.add(reg, "hv1", "qemu+ssh://root@hv1/system", verify=False)
    hv1 = next(h for h in hosts.list_hosts(reg) if h.name == "hv1")
    assert (hv1.pool, hv1.pool_dir) == (hosts.DEFAULT_POOL, hosts.DEFAULT_POOL_DIR)
