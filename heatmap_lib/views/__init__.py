"""Bokeh and HTML builders and table writers: pure functions of metric tables; no metric is computed here."""
