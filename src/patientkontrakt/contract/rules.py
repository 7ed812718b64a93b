"""The patient contract's rules on writes, as the WriteRules the store runs.

Each rule runs in the write's transaction, after validation and before the resource is stored
(`RequestScope.check_write`), and refuses a write that breaks it with 422 (IssueType
`business-rule`), a Swedish-and-English message and the `expression` of the offending element.
The rules are frozen dataclasses, so two sets built for one canonical base compare equal.
"""

from __future__ import annotations

from patientkontrakt.contract.fixed_contacts import FixedContactsRule
from patientkontrakt.contract.plan_links import PlanActivitiesRule, PlanTargetsRule
from patientkontrakt.contract.vocabulary import Canonicals
from patientkontrakt.fhir.guard import WriteRule


def contract_rules(canonicals: Canonicals) -> tuple[WriteRule, ...]:
    """The contract's rules for the codes under `canonicals` (`PK_CANONICAL_BASE`)."""
    return (
        FixedContactsRule(canonicals),
        PlanActivitiesRule(canonicals),
        PlanTargetsRule(canonicals),
    )


CONTRACT_RULES: tuple[WriteRule, ...] = contract_rules(Canonicals())
"""The rules under the default canonical base."""
