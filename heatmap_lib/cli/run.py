"""`heatmap run`: a papermill batch run of a notebook per segment, from a run spec (`reports.batch`)."""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from heatmap_lib.core.exceptions import HeatmapError, SpecError
from heatmap_lib.reports.batch import RunInterrupted, load_spec, resume_command, run


def add_run_command(subparsers: Any) -> argparse.ArgumentParser:
    """Add `heatmap run SPEC [--workers N] [--output DIR] [--segments a,b] [--resume RUN]` to a CLI's subparsers."""
    p = subparsers.add_parser(
        "run",
        help="run a batch spec: one HTML report per segment, an index and a manifest",
        description="Execute the spec's notebook once per segment with papermill and convert each to an offline "
        "HTML report, written with index.html and manifest.json to <output>/<run id>/. With --resume, finish an "
        "earlier run of the same spec instead.",
    )
    p.add_argument("spec", type=Path, help="batch spec (YAML), e.g. params/by_region.yaml")
    p.add_argument("--workers", type=int, default=None, help="segments run in parallel (default: the spec's)")
    p.add_argument("--output", type=Path, default=None, help="output folder (default: the spec's)")
    p.add_argument(
        "--segments", default=None, help="comma-separated segment values to run (default: the spec's segments)"
    )
    p.add_argument(
        "--resume",
        metavar="RUN",
        default=None,
        help="finish the run RUN (a run id in the output folder, or 'latest': the latest run of this spec) in its "
        "own folder: run again only its segments that failed, timed out, were interrupted or whose files are "
        "missing or damaged, keep the others, and write its index and manifest again. The spec, notebook and "
        "data must be the run's (--workers and the spec's timeout may change)",
    )
    p.add_argument(
        "--fresh-kernels",
        action="store_true",
        help="start a new kernel for every segment (slower; by default each worker reuses its kernel, "
        "clearing its names between segments)",
    )
    p.add_argument(
        "--no-progress",
        action="store_true",
        help="no progress output (default: a bar on a terminal, a line per segment in a log)",
    )
    p.set_defaults(handler=cmd_run)
    return p


def cmd_run(args: argparse.Namespace) -> int:
    """Run (or resume) a batch spec from the command line; print the index path; 1 when a segment failed.

    When segments did not finish, or the run was interrupted, the last message says how to resume it.
    """
    spec = load_spec(args.spec)
    changes: dict[str, Any] = {}
    if args.workers is not None:
        if args.workers < 1:
            raise SpecError(f"--workers must be at least 1, not {args.workers}")
        changes["workers"] = args.workers
    if args.output is not None:
        changes["output"] = args.output.resolve()
    resume = getattr(args, "resume", None)
    if args.segments:
        if resume is not None:
            raise SpecError("--resume runs again what the run left undone; it takes no --segments")
        changes["segments"] = tuple(dict.fromkeys(s.strip() for s in args.segments.split(",") if s.strip()))
    spec = spec.replace(**changes)
    try:
        result = run(spec, progress=not args.no_progress, fresh_kernels=args.fresh_kernels, resume=resume)
    except RunInterrupted as exc:
        print(
            f"heatmap: run {exc.run_id} interrupted; finish it with: "
            f"{resume_command(args.spec, exc.run_id, args.output)}",
            file=sys.stderr,
        )
        raise
    if resume is not None:
        again = ", ".join(map(repr, result.resumed)) or "none: every segment was ok"
        print(f"heatmap: resumed run {result.run_id}; segments run again: {again}", file=sys.stderr)
    for seg in result.failed:
        err = seg.error or {}
        print(
            f"heatmap: segment {seg.value!r} failed: {err.get('type', '')}: {err.get('message', '')}",
            file=sys.stderr,
        )
    ok = len(result.segments) - len(result.failed)
    print(f"{ok} of {len(result.segments)} segment reports written; manifest: {result.manifest}", file=sys.stderr)
    unsegmented = json.loads(result.manifest.read_text(encoding="utf-8")).get("data", {}).get("without_segment")
    if unsegmented:
        print(
            f"heatmap: warning: {unsegmented:,} account{'s' * (unsegmented != 1)} with no {spec.segment_by} "
            "value are in no segment's report (manifest: data.without_segment)",
            file=sys.stderr,
        )
    if result.failed:
        n = len(result.failed)
        print(
            f"heatmap: {n} segment{'s' * (n != 1)} without a report; once the cause is fixed, run "
            f"{'them' if n != 1 else 'it'} again (the others are kept) with: "
            f"{resume_command(args.spec, result.run_id, args.output)}",
            file=sys.stderr,
        )
    print(result.index)
    return result.exit_status


def main(argv: Sequence[str] | None = None) -> int:
    """`python -m heatmap_lib.reports.batch SPEC ...`: the run command on its own (until the CLI wires it)."""
    parser = argparse.ArgumentParser(prog="heatmap")
    add_run_command(parser.add_subparsers(dest="command", required=True))
    args = parser.parse_args(["run", *(argv if argv is not None else sys.argv[1:])])
    try:
        return args.handler(args)
    except HeatmapError as exc:
        print(f"heatmap: error: {str(exc).splitlines()[0]}", file=sys.stderr)
        return 2
    except KeyboardInterrupt:
        print("heatmap: interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
