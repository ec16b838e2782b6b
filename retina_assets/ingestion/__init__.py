"""Ingestion: finding drops in a landing zone (:mod:`.landing`), reading every drop format, typing columns,
schema drift, and the raw stage (:mod:`.raw_stage`)."""
