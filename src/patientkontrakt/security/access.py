"""The Guard of an authenticated request: scopes, patient context, care relation, spärr,
emergency access, and the audit and provenance records of what the request did.

Patients never learn whether another patient's resource exists: what they may not see answers
404, exactly like what does not exist. Clinicians get 403 without a care relation, unless they
declared emergency access (nödåtkomst), which is allowed and audited as such.
"""

from __future__ import annotations

import datetime as dt
import uuid
from dataclasses import dataclass, field
from typing import Any

from sqlalchemy import ColumnElement, FromClause, and_, literal, select

from patientkontrakt.contract.vocabulary import Canonicals
from patientkontrakt.fhir.conformance import READ_ONLY_TYPES
from patientkontrakt.fhir.guard import Access, Change, Interaction
from patientkontrakt.fhir.registry import SERVER_WRITTEN_TYPES
from patientkontrakt.outcomes import error, not_found
from patientkontrakt.search.indexer import index_rows
from patientkontrakt.security import relations
from patientkontrakt.security.audit import (
    AuditRecord,
    GroupWriter,
    compartment_patients,
    write_audit,
)
from patientkontrakt.security.patient_writes import patient_may_write
from patientkontrakt.security.principal import Principal
from patientkontrakt.security.provenance import provenance
from patientkontrakt.security.scopes import permission_for
from patientkontrakt.store.repository import NewResource, Repository, StoredVersion
from patientkontrakt.store.tables import RowFilter, resource

_WRITES = frozenset({"create", "update", "patch", "delete"})
_METHOD_INTERACTIONS = {"POST": "create", "PUT": "update", "PATCH": "patch", "DELETE": "delete"}
_ACTIVITY = {"create": "CREATE", "update": "UPDATE", "patch": "UPDATE", "delete": "DELETE"}


@dataclass(frozen=True)
class Clinician:
    """The PractitionerRole a user token names (`fhirUser`), with its practitioner and
    organisation as the store knows them."""

    role_id: str
    practitioner_id: str | None
    organization_id: str | None


@dataclass
class SecurityGuard:
    """The Guard of one request (see `fhir/guard.py`)."""

    principal: Principal
    writer: GroupWriter
    base: str
    canonicals: Canonicals
    clinician: Clinician | None = None
    address: str | None = None
    x_provenance: dict[str, Any] | None = None
    request_id: str | None = None
    request_line: tuple[str, str] = ("GET", "")
    """The method and the path below the base, for the record of a request that failed
    before it reached anything."""
    _recorded_any: bool = False
    _reads: list[AuditRecord] = field(default_factory=list)
    _attempts: list[AuditRecord] = field(default_factory=list)
    _committed: set[int] = field(default_factory=set)
    _view: RowFilter | None = None
    _batches: dict[Repository, _WriteRecords] = field(default_factory=dict)
    _relation_view: RowFilter | None = None

    # -- records ------------------------------------------------------------------------------

    def _record(
        self,
        interaction: str,
        resource_type: str | None,
        references: tuple[str, ...] = (),
        *,
        query: str | None = None,
        outcome: int = 200,
        operation: str | None = None,
        patients: tuple[str, ...] = (),
    ) -> AuditRecord:
        return AuditRecord(
            principal=self.principal,
            interaction=interaction,
            resource_type=resource_type,
            references=references,
            query=query,
            outcome=outcome,
            recorded=dt.datetime.now(dt.UTC),
            address=self.address,
            operation=operation,
            entry=None,
            patients=patients,
            request_id=self.request_id,
        )

    def _refuse(
        self, status: int, interaction: str, resource_type: str, reference: str | None = None
    ) -> None:
        references = (reference,) if reference else ()
        self._reads.append(self._record(interaction, resource_type, references, outcome=status))

    # -- Guard --------------------------------------------------------------------------------

    def patient_context(self) -> str | None:
        """The Patient id of a patient-context token."""
        return self.principal.patient if self.principal.context == "patient" else None

    def require(self, resource_type: str, interaction: Interaction) -> None:
        """405 for server-written and conformance types; 403 unless a scope grants it."""
        if interaction in _WRITES and resource_type in SERVER_WRITTEN_TYPES | READ_ONLY_TYPES:
            what = "skrivs bara av servern / written by the server only"
            if resource_type in READ_ONLY_TYPES:
                what = "är skrivskyddade / are read-only"
            raise error(405, "not-supported", f"{resource_type} resources {what}")
        permission = permission_for(interaction, instance=interaction in ("read", "vread"))
        if not self.principal.scopes.allows(self.principal.context, resource_type, permission):
            self._refuse(403, interaction, resource_type)
            raise error(
                403,
                "forbidden",
                f"Behörighet saknas / the token's scopes do not allow {interaction} of "
                f"{resource_type} ({self.principal.context}/{resource_type}.{permission})",
            )
        if interaction in _WRITES:
            self._attempts.append(self._record(interaction, resource_type))

    def visible(self) -> RowFilter | None:
        """Patients: their own data; clinicians: their patients' data; systems: everything;
        and of those only the types the scopes let the caller read or search, so includes,
        chains and `_has` reach nothing a direct request could not."""
        if self._view is None:
            self._view = _both(self._relation(), self._scoped_types())
        return self._view

    def _scoped_types(self) -> RowFilter | None:
        context, scopes = self.principal.context, self.principal.scopes
        readable = scopes.resource_types(context, "r")
        searchable = scopes.resource_types(context, "s")
        if readable is None or searchable is None:
            return None
        types = sorted(readable | searchable)

        def granted(rows: FromClause) -> ColumnElement[bool]:
            return rows.c.resource_type.in_(types)

        return granted

    def _relation(self) -> RowFilter | None:
        if self._relation_view is None:
            self._relation_view = self._build_relation()
        return self._relation_view

    def _build_relation(self) -> RowFilter | None:
        principal = self.principal
        if principal.context == "patient":
            assert principal.patient is not None
            return relations.patient_view(principal.patient, self.base)
        if principal.context == "user" and not principal.emergency:
            assert self.clinician is not None
            return relations.clinician_view(
                self.clinician.role_id,
                self.clinician.practitioner_id,
                self.clinician.organization_id,
                self.base,
                self.canonicals.contract_category,
            )
        return None

    async def _is_visible(
        self, repo: Repository, resource_type: str, resource_id: str, *, scoped: bool = True
    ) -> bool:
        view = self.visible() if scoped else self._relation()
        if view is None:
            return True
        rows = resource.alias("checked")
        statement = select(literal(1)).where(
            rows.c.resource_type == resource_type,
            rows.c.resource_id == resource_id,
            view(rows),
        )
        return bool(await repo.fetch(statement))

    async def check_read(self, repo: Repository, stored: StoredVersion) -> None:
        """404 for what a patient may not see; 403 for what a clinician may not see."""
        context = self.principal.context
        if context == "system":
            return
        if context == "patient":
            if stored.deleted or not await self._is_visible(
                repo, stored.resource_type, stored.resource_id
            ):
                self._refuse(404, "read", stored.resource_type, stored.reference)
                raise not_found(f"{stored.reference} is not known")
            return
        if stored.deleted or await self._is_visible(repo, stored.resource_type, stored.resource_id):
            return
        self._refuse(403, "read", stored.resource_type, stored.reference)
        raise error(
            403,
            "forbidden",
            "Ingen vårdrelation med patienten, eller informationen är spärrad; nödåtkomst kräver "
            "X-Purpose-Of-Use: ETREAT och X-Access-Reason / no care relation with the patient, "
            "or the information is blocked (spärr); emergency access needs X-Purpose-Of-Use: "
            "ETREAT and X-Access-Reason",
        )

    async def check_write(self, repo: Repository, change: Change) -> None:
        """Patients only change what is theirs; clinicians' new data records who holds it."""
        principal = self.principal
        if principal.context == "patient":
            assert principal.patient is not None
            refusal = patient_may_write(change, principal.patient)
            if refusal is not None:
                raise error(403, "forbidden", refusal)
        elif principal.context == "user" and change.after is not None:
            if not principal.emergency:
                await self._require_existing_relation(repo, change)
            self._keep_information_holder(change)

    async def _require_existing_relation(self, repo: Repository, change: Change) -> None:
        """403 unless the clinician already has a care relation with every patient the new
        content concerns. A write cannot create the relation it needs: relations start in the
        EHR (a system integration) or through audited emergency access. Registering a new
        Patient needs none."""
        if change.resource_type == "Patient" and change.before is None:
            return
        assert change.after is not None
        assert self.clinician is not None
        patients = set(compartment_patients(change.resource_type, change.after))
        if not patients:
            return
        clinician = self.clinician
        related = relations.related_patients(
            clinician.role_id, clinician.practitioner_id, clinician.organization_id, self.base
        ).subquery()
        found = await repo.fetch(
            select(related.c.target_id).where(related.c.target_id.in_(sorted(patients)))
        )
        if patients - {row[0] for row in found}:
            raise error(
                403,
                "forbidden",
                "Du kan bara skriva uppgifter om patienter du redan har en vårdrelation med / "
                "the write concerns a patient the caller has no care relation with",
            )

    def _keep_information_holder(self, change: Change) -> None:
        """New data is held by the writer's organisation; an update keeps the holder."""
        after = change.after
        assert after is not None
        if change.resource_type in relations.outside_patient_compartment():
            return
        url = self.canonicals.information_holder
        extensions = after.get("extension")
        if isinstance(extensions, list) and any(
            isinstance(e, dict) and e.get("url") == url for e in extensions
        ):
            return
        previous = [
            e
            for e in (change.before or {}).get("extension") or []
            if isinstance(e, dict) and e.get("url") == url
        ]
        holder = previous or (
            [{"url": url, "valueReference": {"reference": f"Organization/{organization}"}}]
            if (organization := self.clinician and self.clinician.organization_id)
            else []
        )
        if holder:
            after["extension"] = [*(extensions if isinstance(extensions, list) else []), *holder]

    async def written(
        self, repo: Repository, change: Change, stored: StoredVersion, interaction: Interaction
    ) -> None:
        """After the write, in its transaction: a patient must still see what he wrote (it is
        in his compartment); then the AuditEvent and the Provenance."""
        principal = self.principal
        if (
            principal.context == "patient"
            and not stored.deleted
            and not await self._is_visible(
                repo, stored.resource_type, stored.resource_id, scoped=False
            )
        ):
            raise error(
                403,
                "forbidden",
                "Du kan bara skriva i din egen plan / a patient writes only his own data",
            )
        reference = f"{stored.reference}/_history/{stored.version_id}"
        # A deleted resource has no index rows left: name its patients from its last content.
        known = compartment_patients(change.resource_type, change.before or {})
        status = 201 if interaction == "create" else 204 if stored.deleted else 200
        record = self._record(
            interaction, change.resource_type, (reference,), outcome=status, patients=tuple(known)
        )
        batch = self._batches.get(repo)
        if batch is None:
            batch = self._batches[repo] = _WriteRecords()
            repo.before_commit(self._store_records)
        batch.audit.append(record)
        self._recorded_any = True
        self._commit_attempt(change.resource_type)
        activity = _ACTIVITY.get(interaction, "UPDATE")
        batch.provenance.append(
            provenance([stored], principal, activity, record.recorded, self.x_provenance)
        )

    async def _store_records(self, repo: Repository) -> None:
        """Before the write transaction commits: the AuditEvents and Provenance of all its
        writes, a few multi-row statements for a whole transaction Bundle."""
        batch = self._batches.pop(repo)
        await write_audit(repo, batch.audit, base_url=self.base)
        await repo.create_many([_new_provenance(body) for body in batch.provenance])

    def _commit_attempt(self, resource_type: str) -> None:
        """Mark the oldest open write attempt on `resource_type` as written."""
        for index, attempt in enumerate(self._attempts):
            if index not in self._committed and attempt.resource_type == resource_type:
                self._committed.add(index)
                return

    def accessed(self, access: Access) -> None:
        """Keep a record of a read until `finish`."""
        self._reads.append(
            self._record(
                access.interaction,
                access.resource_type,
                tuple(access.references),
                query=None if access.interaction == "operation" else access.query,
                outcome=access.outcome,
                operation=access.query if access.interaction == "operation" else None,
                patients=tuple(access.patients),
            )
        )

    async def finish(self, status: int) -> None:
        """Make the request's reads, refusals and failed writes durable before answering."""
        failed = [
            _with_outcome(a, status if status >= 400 else 400)
            for i, a in enumerate(self._attempts)
            if status >= 400 or i not in self._committed
        ]
        records = self._reads + failed
        if not records and not self._recorded_any:
            # Every request leaves a record, also one refused before it reached any resource.
            method, path = self.request_line
            interaction = _METHOD_INTERACTIONS.get(method, "read")
            records = [self._record(interaction, path.split("/")[0] or None, outcome=status)]
        self._reads, self._attempts = [], []
        if records:
            await self.writer.write(records)


def _both(first: RowFilter | None, second: RowFilter | None) -> RowFilter | None:
    if first is None or second is None:
        return first or second

    def both(rows: FromClause) -> ColumnElement[bool]:
        return and_(first(rows), second(rows))

    return both


def _with_outcome(record: AuditRecord, status: int) -> AuditRecord:
    return AuditRecord(**{**record.__dict__, "outcome": status})


@dataclass
class _WriteRecords:
    """What one write transaction's writes must leave behind when it commits."""

    audit: list[AuditRecord] = field(default_factory=list)
    provenance: list[dict[str, Any]] = field(default_factory=list)


def _new_provenance(body: dict[str, Any]) -> NewResource:
    provenance_id = str(uuid.uuid4())
    return NewResource(
        "Provenance", provenance_id, body, index_rows("Provenance", provenance_id, body), "POST"
    )
