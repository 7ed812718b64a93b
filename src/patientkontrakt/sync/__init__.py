"""Sync with other FHIR servers: push contracts out, pull a patient's plans in.

`client` talks to the other server (timeouts, retries, paging), `oauth` gets its tokens
(client credentials), `resources` holds the rules both directions share (which identifier keys a
resource, how references are rewritten), `push` and `pull` do the work, `summary` counts what
they did, `records` audits it and `commands` is the `patientkontrakt sync` CLI.
docs/interop.md describes the behaviour.
"""
