"""Scheduled runs (DESIGN.md section 7): one papermill run per segment, offline HTML reports, an index, a manifest.

`load_spec` reads and checks a batch spec (YAML) before anything runs; `run` executes the spec's notebook once per
segment through papermill's Python API in this one process (`workers` kernels at a time, each its own process),
converts each executed notebook to a self-contained HTML page (`report.notebook_to_html`) and writes
`<output>/<run id>/`:

    index.html          every segment with its headline figures (written once all segments are done)
    manifest.json       spec, data fingerprint, versions, per-segment status, timings, files, errors
    <segment>.html      one offline report per segment that succeeded
    notebooks/<segment>.ipynb   the executed notebooks, failed ones included

Every file is written atomically (a temporary file in the same folder, then `os.replace`). `manifest.json` says
`"status": "running"` from the start and `"complete"` only once the index is written, as the last write; an
interrupted run (Ctrl-C, SIGTERM) stops its kernels, writes no index and leaves `"status": "interrupted"`. A write
that fails (disk full, file too large, read-only folder) fails its segment with a `DiskFull` or `NotWritable` error
naming the file, and leaves no partial file behind.

Resuming (`run(spec, resume=RUN_ID)`, `heatmap run SPEC --resume RUN_ID|latest`) finishes an earlier run in its own
folder: the spec (all but workers, timeout and output), the notebook's bytes and the data's fingerprint must be
those of the run, else `ResumeError` says what differs. The segments that are not ok (failed, timed out,
interrupted, cancelled, never finished) or whose files are missing or damaged (each report's SHA-256 is in the
manifest) run again; the others are kept as they are; then the index and the manifest are written again, the
manifest recording each segment's attempts and each resume. A lock file in the run folder keeps two processes
from running the same folder at once.

Cost: importing pandas, Ibis and Bokeh costs a fresh kernel about three times what starting it does, and
validating the data again per segment grows with the data. So the run validates the data once, into a DuckDB file
each kernel opens read-only (`prepared.open_data`), and each worker keeps its kernel for the next segment after
clearing its names (`%reset -f`, working directory restored); a kernel whose segment failed is replaced, and
`fresh_kernels=True` (`--fresh-kernels`) gives every segment a new one. Kernels talk over Unix sockets, so
parallel kernel starts cannot race for TCP ports.

The package's modules, each one concern (they import one another by full module path, never through here):

    spec.py      the batch spec (`load_spec`, `Spec`), the notebook's parameters, the segments and their file names
    results.py   what a segment and a run produced (`SegmentResult`, `RunResult`), as the manifest records them
    kernels.py   the workers' kernels, executing and converting one segment, recording its failure
    resume.py    finishing an earlier run: finding it, its lock, what differs, which segments run again
    runner.py    the run itself (`run`): the data, the run folder, the workers, the manifest and the index
    _common.py   small helpers the others share (data names, timestamps, rounding, checksums)
"""

from heatmap_lib.reports.batch.kernels import write_failure
from heatmap_lib.reports.batch.results import RunResult, SegmentResult
from heatmap_lib.reports.batch.resume import ResumeError, resume_command, spec_differences
from heatmap_lib.reports.batch.runner import RunInterrupted, run
from heatmap_lib.reports.batch.spec import (
    BATCH_PARAMETERS,
    SPEC_KEYS,
    Spec,
    declared_parameters,
    load_spec,
    notebook_parameters,
    resolve_segments,
    segment_file_names,
    slugify,
)

__all__ = [
    "BATCH_PARAMETERS",
    "SPEC_KEYS",
    "ResumeError",
    "RunInterrupted",
    "RunResult",
    "SegmentResult",
    "Spec",
    "declared_parameters",
    "load_spec",
    "notebook_parameters",
    "resolve_segments",
    "resume_command",
    "run",
    "segment_file_names",
    "slugify",
    "spec_differences",
    "write_failure",
]
