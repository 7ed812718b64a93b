"""Validation of writes: base R4 structure now, profiles later."""
