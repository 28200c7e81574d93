"""The live JupyterLab dashboard: ipywidgets wired to the views, the play form, the export panel."""
