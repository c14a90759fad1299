"""Imported by Python at start in every emulated task (this folder is on its PYTHONPATH).

Does nothing unless ``CLICKFLOW_EMULATOR_SHIM`` names the emulator's settings file. Then it
registers an import hook that applies each named patch right after its module is imported
(so no process pays for imports it does not make); ``CLICKFLOW_EMULATOR_PATCHES=none``, or a
comma list of names, switches patches off/on.
"""

import os
import sys

# Packages of this machine's venv (our dev tools) that the pipeline image does not install and
# that a library imports when it finds them: kubernetes' dynamic client (imported by the kfp
# client the entrypoint loads) tries kubernetes_validate, whose schemas take ~3 s to import in
# every task. Absent here, as in the image.
IMAGE_LACKS = ("kubernetes_validate",)

if os.environ.get("CLICKFLOW_EMULATOR_SHIM"):
    for _name in IMAGE_LACKS:
        sys.modules.setdefault(_name, None)  # `import` raises ImportError, as in the image

    from emulator_shim import hooks

    hooks.install()
