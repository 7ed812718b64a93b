"""The generic FHIR R4 layer: routes, content negotiation, bundles, capability statement."""
