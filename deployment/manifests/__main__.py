"""The command line: python -m deployment.manifests render|check|release (see the package doc)."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import deployment.manifests
from deployment.manifests import ManifestError
from deployment.manifests.check import KUBERNETES_VERSION, check
from deployment.manifests.release import write_release
from deployment.manifests.render import OVERLAYS, render, to_yaml


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m deployment.manifests",
                                     description=deployment.manifests.__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = parser.add_subparsers(dest="command", required=True)
    p_render = sub.add_parser("render", help="print the rendered YAML of a kustomization")
    p_render.add_argument("directory", type=Path)
    p_check = sub.add_parser("check", help="schema, policy and consistency checks")
    p_check.add_argument("directories", type=Path, nargs="*",
                         help="kustomizations to check (default: every deployment/overlays/*)")
    p_check.add_argument("--kubernetes-version", default=KUBERNETES_VERSION)
    p_release = sub.add_parser("release", help="write the overlay the CD workflow applies")
    p_release.add_argument("--overlay", type=Path, required=True)
    p_release.add_argument("--output", type=Path, required=True)
    p_release.add_argument("--dashboard-image", required=True)
    p_release.add_argument("--model-base-path", required=True)
    p_release.add_argument("--serving-gsa", required=True)
    p_release.add_argument("--server-image", help="the request-logging proxy's image "
                           "(deployment/server.Dockerfile)")
    p_release.add_argument("--jobs-image", help="the monitor and ingestion image "
                           "(deployment/jobs.Dockerfile)")
    p_release.add_argument("--cloud-config", type=Path,
                           help="cloud settings for the CronJobs (CLICKFLOW_<SETTING> variables "
                                "override it, as for kubeflow_runner.py)")
    args = parser.parse_args(argv)
    try:
        if args.command == "render":
            sys.stdout.write(to_yaml(render(args.directory)))
            return 0
        if args.command == "release":
            path = write_release(args.overlay, args.output, dashboard_image=args.dashboard_image,
                                 model_base_path=args.model_base_path,
                                 serving_gsa=args.serving_gsa, server_image=args.server_image,
                                 jobs_image=args.jobs_image, cloud_config=args.cloud_config)
            args.directories, args.kubernetes_version = [path.parent], KUBERNETES_VERSION
            print(f"wrote {path}")
        directories = args.directories or sorted(p for p in OVERLAYS.iterdir() if p.is_dir())
        failed = False
        for directory in directories:
            problems = check(directory, version=args.kubernetes_version)
            for problem in problems:
                print(f"{directory}: {problem}", file=sys.stderr)
            failed |= bool(problems)
            print(f"{directory}: {'FAILED' if problems else 'ok'}")
        return 1 if failed else 0
    except ManifestError as err:
        print(f"error: {err}", file=sys.stderr)
        return 2


if __name__ == "__main__":
    sys.exit(main())
