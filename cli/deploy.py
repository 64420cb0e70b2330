"""`mlc deploy`, `mlc status`, `mlc rollback`, `mlc stop` (docs/deploy.md; :mod:`mlc.app.deploy`):
the options, and how the status prints (the streaming job's part: :func:`mlc.cli.stream.render_stream`)."""

from __future__ import annotations

import argparse
import json
import sys

from mlc.app.deploy import deploy, DeployOptions, rollback, status, stop
from mlc.cli.common import add_registry, EXIT_OK, positive, progress, shown
from mlc.cli.stream import render_stream
from mlc.runtime.urls import redact_url


def register(commands) -> dict:
    deploy = commands.add_parser("deploy", help="ship the registry's production versions: local services or Kubernetes")
    deploy.add_argument("spec", metavar="SPEC")
    deploy.add_argument("--target", choices=("local", "k8s"), default="local")
    deploy.add_argument("--dry-run", action="store_true", help="print the plan, change nothing")
    deploy.add_argument("--wait", action="store_true", help="k8s: wait for rollouts and readiness (roll back on failure)")
    deploy.add_argument("--output", metavar="DIR", help="the run folder of `mlc run` (default: .mlc/<name>/data beside the spec)")
    deploy.add_argument("--store", metavar="URL", help="online store (default: sqlite .mlc/<name>/online.sqlite beside the spec)")
    deploy.add_argument("--port", type=int, help="local: gateway port on 127.0.0.1 (default: the port of the running "
                                                "gateway, else 8080; 0 = the running gateway's, else any free)")
    deploy.add_argument("--replicas", type=positive, metavar="N", help="local: Triton replicas per shard (default 1)")
    deploy.add_argument("--kube-context", metavar="NAME", help="k8s: kubeconfig context (default: the current one)")
    deploy.add_argument("--timeout", type=float, default=600.0, help="k8s --wait: seconds to wait (default 600)")
    add_registry(deploy)
    status = commands.add_parser("status", help="what runs: desired versions and what each replica reports")
    status.add_argument("spec", metavar="SPEC")
    status.add_argument("--format", choices=("text", "json"), default="text")
    status.add_argument("--target", choices=("local", "k8s"), default="local")
    status.add_argument("--kube-context", metavar="NAME", help="k8s: kubeconfig context (default: the current one)")
    add_registry(status)
    rollback = commands.add_parser("rollback", help="restore the previous release (or --to RELEASE)")
    rollback.add_argument("spec", metavar="SPEC")
    rollback.add_argument("--to", type=positive, metavar="RELEASE", help="release number (default: the previous one)")
    rollback.add_argument("--target", choices=("local", "k8s"), default="local")
    rollback.add_argument("--kube-context", metavar="NAME", help="k8s: kubeconfig context (default: the current one)")
    rollback.add_argument("--wait", action="store_true", help="k8s: wait for rollouts and readiness")
    add_registry(rollback)
    stop = commands.add_parser("stop", help="stop the local services `mlc deploy --target local` started")
    stop.add_argument("spec", metavar="SPEC")
    stop.add_argument("--env", help="environment overlay to apply")

    return {"deploy": cmd_deploy, "status": cmd_status, "rollback": cmd_rollback, "stop": cmd_stop}


def cmd_deploy(args: argparse.Namespace) -> int:
    return deploy(DeployOptions(args.spec, target=args.target, dry_run=args.dry_run, wait=args.wait,
                                output=args.output, store=args.store, port=args.port, replicas=args.replicas,
                                kube_context=args.kube_context, timeout=args.timeout, registry=args.registry,
                                env=args.env), progress=progress, diagnostics=shown)


def cmd_status(args: argparse.Namespace) -> int:
    found = status(args.spec, target=args.target, kube_context=args.kube_context, registry=args.registry,
                   env=args.env, progress=progress, diagnostics=shown)
    if args.target == "k8s":
        sys.stdout.write(json.dumps(found, indent=2, sort_keys=True, default=str) + "\n")
    elif args.format == "json":
        sys.stdout.write(json.dumps(found, indent=2, sort_keys=True) + "\n")
    else:
        sys.stdout.write(render_status(found))
    return EXIT_OK


def render_status(status: dict) -> str:
    gateway = status["gateway"]

    lines = [f"{status['app']}: registry {redact_url(str(status['registry']))}",
             f"gateway: {gateway.get('url') or '-'} " + ("(running)" if gateway.get("running") else "(not running)"),
             ""]
    for entry in status["models"]:
        mark = "ok" if entry["consistent"] else "INCONSISTENT: " + "; ".join(entry["problems"])
        show = lambda v: "-" if v is None else str(v)    # noqa: E731
        lines.append(f"{entry['shard']}/{entry['model']}: desired {show(entry['desired'])}, "
                     f"routed {show(entry['routed'])}  {mark}")
        for replica in entry["replicas"]:
            age = replica["heartbeat_age_s"]
            beat = f"heartbeat {age:.1f} s ago" if age is not None else "no live heartbeat"
            loaded = ",".join(map(str, replica["loaded"])) or "-"
            lines.append(f"  {replica['replica']:<12} {replica['address'] or '-':<22} loaded {loaded:<8} {beat}")
    text = "\n".join(lines) + "\n"
    if status.get("stream"):
        text += "\n" + render_stream(status["stream"])
    return text


def cmd_rollback(args: argparse.Namespace) -> int:
    return rollback(args.spec, to=args.to, target=args.target, kube_context=args.kube_context, wait=args.wait,
                    registry=args.registry, env=args.env, progress=progress, diagnostics=shown)


def cmd_stop(args: argparse.Namespace) -> int:
    stop(args.spec, progress)
    return EXIT_OK
