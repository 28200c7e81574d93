"""Sources to a validated dataset: readers, validation, engines, prepared copies, mappings, demo data, plays store."""
