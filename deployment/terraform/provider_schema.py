"""The pinned google provider's schema, for the resource types this configuration uses.

No Terraform provider installs offline, but the npm package ``@cdktf/provider-google`` is
generated from the provider's schema: one ``lib/<resource>/index.d.ts`` per resource, whose
config interfaces list every argument and block (with its Terraform name in the doc link) and
mark the required ones. ``extract()`` reads those into ``provider_schema.json`` (committed, a few
KB), and ``problems()`` checks the ``.tf`` files against it: unknown arguments or blocks
(a typo, or one the pinned version does not have) and missing required arguments.

Regenerate after changing the provider pin or using a new resource type:

    npm pack @cdktf/provider-google@<the version whose cdktf.provider.version is the pin>
    tar xzf cdktf-provider-google-*.tgz
    .venv/bin/python -m deployment.terraform.provider_schema package
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from pathlib import Path
from typing import Any

from deployment.terraform import check

SCHEMA_FILE = check.TF_DIR / "provider_schema.json"
META_ARGUMENTS = {"for_each", "count", "depends_on", "lifecycle", "provider"}
_INTERFACE_RE = re.compile(r"export interface (\w+)(?: extends [\w.]+)? \{(.*?)\n\}", re.S)
# The doc link names the Terraform argument; the readonly line after it says if it is optional.
_ARGUMENT_RE = re.compile(r"#(\w+) \w+#\w+\}(?:(?!\*/).)*\*/\s*readonly \w+(\??):", re.S)


def _pascal(name: str) -> str:
    return "".join(part[:1].upper() + part[1:] for part in name.split("_"))


def _block(interfaces: dict[str, dict[str, bool]], name: str) -> dict[str, Any]:
    """{"arguments": {name: required}, "blocks": {name: <block>}} of interface ``name``."""
    arguments, blocks = {}, {}
    for argument, required in interfaces[name].items():
        child = name.removesuffix("Config") + _pascal(argument)
        if child in interfaces:
            blocks[argument] = _block(interfaces, child)
        else:
            arguments[argument] = required
    return {"arguments": arguments, "blocks": blocks}


def extract(package: Path, kinds: set[str]) -> dict[str, Any]:
    """The schema of resource types ``kinds`` from an unpacked @cdktf/provider-google."""
    meta = json.loads((package / "package.json").read_text())
    resources = {}
    for kind in sorted(kinds):
        text = (package / "lib" / kind.removeprefix("google_").replace("_", "-") /
                "index.d.ts").read_text()
        interfaces = {m[1]: {a[1]: not a[2] for a in _ARGUMENT_RE.finditer(m[2])}
                      for m in _INTERFACE_RE.finditer(text)}
        resources[kind] = _block(interfaces, _pascal(kind.removeprefix("google_")) + "Config")
    return {"provider": meta["cdktf"]["provider"]["name"],
            "version": meta["cdktf"]["provider"]["version"],
            "source": f"{meta['name']}@{meta['version']}", "resources": resources}


def load() -> dict[str, Any]:
    return json.loads(SCHEMA_FILE.read_text())


def _problems(body: dict[str, Any], schema: dict[str, Any], path: str) -> list[str]:
    out = []
    for key, value in body.items():
        if key in META_ARGUMENTS:
            continue
        if key in schema["blocks"]:
            for block in value if isinstance(value, list) else [value]:
                out += _problems(block, schema["blocks"][key], f"{path}.{key}")
        elif key not in schema["arguments"]:
            out.append(f"{path}: {key!r} is no argument or block of the pinned provider")
    out += [f"{path}: required argument {key!r} is missing"
            for key, required in schema["arguments"].items() if required and key not in body]
    return out


def problems(tf: check.Terraform, schema: dict[str, Any]) -> list[str]:
    out = []
    for (kind, name), body in sorted(tf.resources.items()):
        if kind not in schema["resources"]:
            out.append(f"{kind}: not in {SCHEMA_FILE.name}; regenerate it (see this module)")
            continue
        out += _problems(body, schema["resources"][kind], f"{kind}.{name}")
    return out


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description="Write provider_schema.json from an unpacked "
                                                 "@cdktf/provider-google npm package.")
    parser.add_argument("package", type=Path, help="the unpacked package folder ('package')")
    args = parser.parse_args(argv)
    tf = check.load()
    schema = extract(args.package, {kind for kind, _ in tf.resources})
    SCHEMA_FILE.write_text(json.dumps(schema, indent=1, sort_keys=True) + "\n")
    print(f"wrote {SCHEMA_FILE} (google {schema['version']}, {len(schema['resources'])} types)")
    found = problems(tf, schema)
    print("\n".join(found) or "the configuration matches it")
    return 1 if found else 0


if __name__ == "__main__":
    sys.exit(main())
