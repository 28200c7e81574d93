"""Reports from a dataset: HTML snapshots, X-Ray pages and papermill batch runs."""
