"""The fleet: a declared set of VMs (``fleet.toml``, kept in git next to the configs), its
recorded history, and ``plan``/``apply`` that bring the hosts to it.

- file: reading and validating a fleet file (TOML), with line-precise errors;
- history: the fleet file's versions imported from git, and ``--fleet @DATE|@N|@COMMIT``;
- plan: desired state against the registry and libvirt on every host (create, replace,
  start, keep, remove, finish); a plan has a fingerprint so a saved one is refused once stale;
- apply: executes a plan with the deploy package (builds once, places once per host,
  parallel replacements with health checks, rollback on failure, one audit id per apply).
"""
