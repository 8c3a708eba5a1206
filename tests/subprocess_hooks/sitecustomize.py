"""Test support, loaded at startup by every Python process the tests start (this folder is on PYTHONPATH).

NETGUARD_LOG=FILE: refuse and record non-loopback network use (``netguard``).
FAULT_KILL_AT=module:Class.method:N[:after]: SIGKILL this process at the Nth call (``killpoint``).
"""

import os

if os.environ.get("NETGUARD_LOG"):
    import netguard

    netguard.install()

if os.environ.get("FAULT_KILL_AT"):
    import killpoint

    killpoint.install(os.environ["FAULT_KILL_AT"])
