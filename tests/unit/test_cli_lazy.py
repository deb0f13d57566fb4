"""Modules the CLI imports on first use must be whole for every thread that touches them."""

import subprocess
import sys
import textwrap


def test_two_threads_see_a_lazily_imported_module_fully_loaded():
    # `vmfleet diff vm:a vm:b` reads both VMs in two threads, each reaching vmfleet.deploy
    # for the first time; a half-imported module there was an AttributeError traceback.
    script = textwrap.dedent("""
        import threading
        from vmfleet.cli import app  # registers the CLI modules and their lazy imports
        from vmfleet.cli.app import lazy
        errors = []
        def touch():
            try:
                from vmfleet.inspect import facts  # noqa: F401
                inspect_deploy = __import__("vmfleet.deploy.vm_access", fromlist=["connect_ssh"])
                inspect_deploy.connect_ssh
                lazy("vmfleet.deploy.vm_access").connect_ssh
            except Exception as e:
                errors.append(repr(e))
        threads = [threading.Thread(target=touch) for _ in range(4)]
        [t.start() for t in threads]
        [t.join() for t in threads]
        print(errors)
        raise SystemExit(1 if errors else 0)
    """)
    proc = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True)
    assert proc.returncode == 0, proc.stdout + proc.stderr
