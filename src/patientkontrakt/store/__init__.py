"""Storage: tables, engines, the versioned resource repository. The only package that talks SQL."""
