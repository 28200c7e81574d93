"""Helpers below every layer: exceptions, the table schema, progress output, periods, file writing."""
