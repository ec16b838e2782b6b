"""Quality: row rules and quarantine of rejected rows (:mod:`.validation`, bounded-memory
:mod:`.bucketed_validation`), and the per-partition checks as plain data (:mod:`.checks`). The canonical
contracts themselves live in :mod:`retina_assets.model.contracts`."""
