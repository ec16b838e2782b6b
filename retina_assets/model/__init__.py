"""The model layer, at the bottom: the client spec (:mod:`.spec`), the canonical contracts (:mod:`.contracts`)
and the names defined once (:mod:`.naming`). Imports nothing else of the package."""
