"""Data room: read the event tables of the data contract, validate, quarantine bad rows."""
