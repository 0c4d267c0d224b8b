"""``costmodel calibrate [--device cpu|cuda] [--dtype fp32] [--threads N] [--output PATH] [--json]``.

Progress lines go to stderr. JSON: the profile (:meth:`costmodel.hardware.profiles.DeviceProfile.to_json`:
rates in flop/s and byte/s, ``overhead_s`` in seconds) and ``path``, the file written.
"""

from __future__ import annotations

import argparse
from typing import Any

from costmodel.cli.common import add_command, positive_int, print_json, print_table, show_quantity

EXAMPLES = ("costmodel calibrate                      # this CPU, fp32, torch's default threads",
            "costmodel calibrate --threads 1 --quiet",
            "costmodel calibrate --device cuda --dtype bf16 --json")


def register(sub: Any) -> None:
    cal = add_command(sub, "calibrate", "measure this device's achievable rates (short torch microbenchmarks)",
                      EXAMPLES, "The profile is what 'costmodel plan --device cpu' uses.")
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
    """Run the microbenchmarks, save the profile, print its rates."""
    from costmodel.hardware.calibrate import print_progress, run_calibration
    from costmodel.hardware.lookup import save_profile

    profile = run_calibration(device=args.device, dtype=args.dtype, threads=args.threads, clock=args.clock,
                              repeats=args.repeats, progress=None if args.quiet else print_progress)
    path = save_profile(profile, args.output)
    if args.json:
        print_json({**profile.to_json(), "path": str(path)})
        return 0
    print()
    print_table(f"{profile.device} ({profile.dtype}, {profile.threads} thread(s), {profile.clock} clock): "
                "achievable rates", ("kind", "direction", "compute", "bandwidth"), rate_rows(profile), align="llrr")
    print(f"per-kernel overhead {show_quantity(profile.overhead_s, 's')}")
    print(f"\nprofile written to {path}")
    return 0


def rate_rows(profile: Any) -> list[tuple[str, str, str, str]]:
    """One row per op kind and direction: FLOP/s (``-`` for memory-bound kinds) and bandwidth."""
    rows = []
    for kind, by_direction in profile.rates.items():
        for direction, rate in by_direction.items():
            flops = "-" if rate.flops == float("inf") else show_quantity(rate.flops, "flop/s")
            rows.append((kind, direction, flops, show_quantity(rate.bandwidth, "byte/s")))
    return rows


__all__ = ["register", "cmd_calibrate", "rate_rows"]
