"""patientkontrakt: a FHIR R4 service for Swedish patient contracts."""

__version__ = "0.1.0"
