"""FHIR search: parameter registry, index extraction, query parsing and SQL compilation."""
