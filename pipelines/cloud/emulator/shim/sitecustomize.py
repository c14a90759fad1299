"""Imported by Python at start in every emulated task (this folder is on its PYTHONPATH).

Does nothing unless ``CLICKFLOW_EMULATOR_SHIM`` names the emulator's settings file. Then it
registers an import hook that applies each named patch right after its module is imported
(so no process pays for imports it does not make); ``CLICKFLOW_EMULATOR_PATCHES=none``, or a
comma list of names, switches patches off/on.
"""

import os

if os.environ.get("CLICKFLOW_EMULATOR_SHIM"):
    from emulator_shim import hooks

    hooks.install()
