"""``costmodel calibrate [--device cpu|cuda] [--dtype fp32] [--threads N] [--output PATH] [--json]``."""

from __future__ import annotations

import argparse
import json
from typing import Any

from costmodel.cli.common import positive_int


def register(sub: Any) -> None:
    cal = sub.add_parser("calibrate", help="measure this device's achievable rates (short torch microbenchmarks)")
    cal.add_argument("--device", default="cpu", help="cpu (default) or cuda[:i]")
    cal.add_argument("--dtype", default="fp32", help="compute dtype: fp32, tf32, bf16, fp16")
    cal.add_argument("--threads", type=positive_int, help="CPU threads (default: torch's default)")
    cal.add_argument("--clock", choices=("wall", "cpu"),
                     help="what to time (default: process CPU time for one CPU thread, else wall time)")
    cal.add_argument("--repeats", type=positive_int, default=5, help="timed runs per benchmark (median)")
    cal.add_argument("--output", metavar="PATH", help="profile file (default: the user cache directory)")
    cal.add_argument("--json", action="store_true", help="print the profile as JSON")
    cal.add_argument("--quiet", action="store_true", help="no progress lines")
    cal.set_defaults(func=cmd_calibrate)


def cmd_calibrate(args: argparse.Namespace) -> int:
    from costmodel.calibrate import print_progress, run_calibration
    from costmodel.roofline import save_profile

    profile = run_calibration(device=args.device, dtype=args.dtype, threads=args.threads, clock=args.clock,
                              repeats=args.repeats, progress=None if args.quiet else print_progress)
    path = save_profile(profile, args.output)
    if args.json:
        print(json.dumps({**profile.to_json(), "path": str(path)}, indent=2))
        return 0
    print(f"\n{profile.device} ({profile.dtype}, {profile.threads} thread(s), {profile.clock} clock): achievable rates")
    print(f"{'kind':<20} {'direction':<9} {'FLOP/s':>14} {'bandwidth':>12}")
    for kind, by_direction in profile.rates.items():
        for direction, rate in by_direction.items():
            flops = "-" if rate.flops == float("inf") else f"{rate.flops / 1e9:.1f} GFLOP/s"
            print(f"{kind:<20} {direction:<9} {flops:>14} {rate.bandwidth / 1e9:>7.2f} GB/s")
    print(f"per-kernel overhead {profile.overhead_s * 1e6:.1f} us")
    print(f"\nprofile written to {path}")
    return 0
