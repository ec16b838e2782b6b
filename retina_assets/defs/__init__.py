"""The one Dagster layer: resources, the IO manager, partitions, the raw, validated and feature assets, their
checks and the gate, sensors, jobs, and the definitions of the code location (:mod:`.definitions`).

Everything here is wiring: the work is done by the Dagster-free layers below (model, storage, the stages in
``ingestion``, ``quality`` and ``features``, and ``engines``), which notebooks and command-line tools call
the same way without a Dagster instance.
"""
