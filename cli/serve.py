"""`mlc serve`: the trained models on loopback, gateway + local Triton (:mod:`mlc.app.serve`)."""

from __future__ import annotations

import argparse

from mlc.app.serve import serve, ServeOptions
from mlc.cli.common import EXIT_OK, progress, shown


def register(commands) -> dict:
    serve = commands.add_parser("serve", help="serve the trained models on loopback: gateway + local Triton")
    serve.add_argument("spec", metavar="SPEC")
    mode = serve.add_mutually_exclusive_group()
    mode.add_argument("--local", action="store_true",
                      help="a real Triton per shard from the nvidia-pytriton wheel (the default)")
    mode.add_argument("--embedded", action="store_true", help="ONNX Runtime inside the gateway instead of Triton")
    serve.add_argument("--output", metavar="DIR", help="the run folder of `mlc run` (default: .mlc/<name>/data beside the spec)")
    serve.add_argument("--port", type=int, default=8080, help="gateway port on 127.0.0.1 (default 8080; 0 = any free)")
    serve.add_argument("--store", metavar="URL", help="online store (default: sqlite .mlc/<name>/online.sqlite beside the spec)")
    serve.add_argument("--store-timeout", type=float, default=0.05, help="seconds per store call (default 0.05)")
    serve.add_argument("--triton-timeout", type=float, default=1.0, help="seconds per Triton call (default 1)")
    serve.add_argument("--namespace", help="online-store key namespace (default: the spec name)")
    serve.add_argument("--duration", type=float, help="stop after this many seconds (default: until Ctrl-C)")
    serve.add_argument("--exposures", metavar="FILE",
                       help="experiment exposure log, JSON lines (default: <output>/serve/exposures.jsonl)")
    serve.add_argument("--env", help="environment overlay to apply")
    return {"serve": cmd_serve}


def cmd_serve(args: argparse.Namespace) -> int:
    serve(ServeOptions(args.spec, embedded=args.embedded, output=args.output, port=args.port, store=args.store,
                       store_timeout=args.store_timeout, triton_timeout=args.triton_timeout,
                       namespace=args.namespace, duration=args.duration, exposures=args.exposures, env=args.env),
          progress=progress, diagnostics=shown)
    return EXIT_OK
