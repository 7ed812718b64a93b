"""Authentication (SMART bearer tokens), authorisation (scopes, patient and care-relation policy,
spärr), audit (AuditEvent) and Provenance."""
