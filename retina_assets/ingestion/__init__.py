"""Ingestion: finding drops in a landing zone, reading every drop format, typing columns."""
