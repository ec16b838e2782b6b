"""Execution engines: the one way to get a Spark session (:mod:`.spark`), the Spark variants of the stages,
and :mod:`.stages`, which runs a stage in-process or on Spark as a client (or a run) chose."""
