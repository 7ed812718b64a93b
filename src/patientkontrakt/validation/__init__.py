"""Validation of writes: the R4 base model, Swedish identifiers and the product's profiles."""
