"""The identity sync runs as, so that what it reads and writes is audited like any request.

Push and pull run in the CLI, without HTTP, but not unrestricted: they act as the system client
`patientkontrakt-sync` through the same SecurityGuard and contract rules as a request. A pull's
writes get their AuditEvents and Provenance in the import's own transaction (the Provenance
names the source server as its `entity`); a push records one AuditEvent per patient sent,
naming the resources disclosed and the server they went to.
"""

from __future__ import annotations

import uuid

from patientkontrakt.config import Settings
from patientkontrakt.contract.rules import contract_rules
from patientkontrakt.contract.vocabulary import Canonicals
from patientkontrakt.fhir.guard import RequestScope
from patientkontrakt.security.access import SecurityGuard
from patientkontrakt.security.audit import AuditWriter
from patientkontrakt.security.principal import Principal
from patientkontrakt.security.scopes import ScopeSet
from patientkontrakt.store.transactions import Store

CLIENT_ID = "patientkontrakt-sync"
"""The client id AuditEvents and Provenance name for sync's reads and writes."""
URI_SYSTEM = "urn:ietf:rfc:3986"


def sync_guard(
    settings: Settings, store: Store, *, scope: str, source: str | None = None
) -> SecurityGuard:
    """A guard for the sync client with `scope` (`system/*.rs` to push, `system/*.cruds` to
    pull); `source`, on a pull, is the server the data comes from."""
    principal = Principal(subject=CLIENT_ID, client_id=CLIENT_ID, scopes=ScopeSet.parse(scope))
    base = (settings.base_url or "").rstrip("/")
    header = None
    if source is not None:
        header = {
            "resourceType": "Provenance",
            "entity": [
                {
                    "role": "source",
                    "what": {
                        "identifier": {"system": URI_SYSTEM, "value": source},
                        "display": f"FHIR server {source}",
                    },
                }
            ],
        }
    return SecurityGuard(
        principal=principal,
        writer=AuditWriter(store, base_url=base),
        base=base,
        canonicals=Canonicals(settings.canonical_base),
        x_provenance=header,
        request_id=str(uuid.uuid4()),
        request_line=("POST", ""),
    )


def sync_scope(settings: Settings, guard: SecurityGuard) -> RequestScope:
    """The guard with the contract's write rules, as the app applies them to requests."""
    return RequestScope(guard, contract_rules(Canonicals(settings.canonical_base)))
