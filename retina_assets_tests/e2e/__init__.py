"""End-to-end tests: whole pipeline runs in-process, on object stores, from the Dagster CLI and daemon, the
example clients, readers agreeing on the feature root, and the benchmark harness."""
