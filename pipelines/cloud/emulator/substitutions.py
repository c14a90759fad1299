"""What cannot run on this machine, and what stands in for it; every use is recorded.

- ``gs://BUCKET/...`` is the folder ``<workdir>/gs/BUCKET/...`` (artifact URIs, parameters,
  Beam flags);
- ``/pipeline/...`` (the image's WORKDIR) is the staged copy of the image's code;
- Dataflow is Beam's DirectRunner: the Dataflow-only flags at the end of the container args
  are dropped.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from pathlib import Path

# Flags that only mean something to Dataflow (pipelines.cloud.compile.dataflow_beam_args).
# --sdk_container_image/--sdk_location stay: the DirectRunner ignores them, and TFX reads the
# image flag as "dependencies are in the image" (no ephemeral sdist build per Beam step).
DATAFLOW_ONLY = ("--runner", "--project", "--region", "--experiments", "--machine_type",
                 "--max_num_workers", "--disk_size_gb",
                 "--autoscaling_algorithm", "--service_account_email", "--subnetwork",
                 "--no_use_public_ips", "--num_workers", "--worker_machine_type",
                 "--dataflow_service_options", "--worker_zone", "--network")
LOCAL_BEAM_FLAGS = ("--runner=DirectRunner", "--direct_num_workers=1")
_GS_RE = re.compile(r"gs://([a-z0-9][a-z0-9._-]*[a-z0-9])")


@dataclass(frozen=True)
class Substitution:
    """One thing replaced: where (task, what), the cloud value and the local one."""

    task: str
    what: str
    cloud: str
    local: str


@dataclass
class Substitutions:
    """The local stand-ins of one emulation and a record of every use."""

    gs_root: Path
    image_dir: Path
    image_workdir: str = "/pipeline"
    used: list[Substitution] = field(default_factory=list)

    def local_uri(self, uri: str) -> str:
        """A ``gs://`` URI as its local folder (any other URI is returned as it is)."""
        return _GS_RE.sub(lambda m: f"{self.gs_root}/{m.group(1)}", uri)

    def cloud_uri(self, value: str) -> str:
        """The inverse of ``local_uri``: a local gs folder path as the ``gs://`` URI it
        stands for (what the cloud would have recorded)."""
        return value.replace(f"{self.gs_root}/", "gs://")

    def text(self, task: str, what: str, value: str) -> str:
        """``value`` with gs:// and image paths replaced; records the change if any."""
        local = self.local_uri(value)
        workdir = self.image_workdir.rstrip("/")
        local = re.sub(rf"(?<![\w/.-]){re.escape(workdir)}(?=/|$|\")", str(self.image_dir),
                       local)
        if local != value:
            self.used.append(Substitution(task, what, _short(value), _short(local)))
        return local

    def beam_args(self, task: str, args: list[str]) -> list[str]:
        """Container args with the Dataflow flags replaced by the DirectRunner's."""
        kept, dropped = [], []
        for arg in args:
            name = arg.split("=", 1)[0]
            (dropped if name in DATAFLOW_ONLY else kept).append(arg)
        if not dropped:
            return [self.text(task, "beam flag", a) if a.startswith("--") else a for a in kept]
        self.used.append(Substitution(task, "beam runner", " ".join(dropped),
                                      " ".join(LOCAL_BEAM_FLAGS)))
        kept = [self.text(task, "beam flag", a) if a.startswith("--") else a for a in kept]
        return kept + list(LOCAL_BEAM_FLAGS)

    def record(self, task: str, what: str, cloud: str, local: str) -> None:
        self.used.append(Substitution(task, what, _short(cloud), _short(local)))


def _short(value: str, limit: int = 160) -> str:
    value = " ".join(value.split())
    return value if len(value) <= limit else value[: limit - 3] + "..."


def split_args(args: list[str]) -> tuple[list[str], list[str]]:
    """(the executor's own flags, the Beam flags after them) of a TFX container task: the
    runner passes everything after its known flags to Beam (kubeflow_v2_run_executor)."""
    own = ("--executor_class_path", "--json_serialized_invocation_args",
           "--json_serialized_inputs_spec_args")
    head, i = [], 0
    while i < len(args) and args[i] in own:
        head += args[i:i + 2]
        i += 2
    return head, args[i:]
