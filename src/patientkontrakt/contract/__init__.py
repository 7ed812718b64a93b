"""The patient contract: vocabulary, rules, `$patient-contract`, demo county."""
