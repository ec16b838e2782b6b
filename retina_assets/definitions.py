"""The code location: ``retina_assets.definitions:defs`` (see :mod:`retina_assets.defs.definitions`)."""

from retina_assets.defs.definitions import SpecErrorWarning, build_definitions, defs

__all__ = ["SpecErrorWarning", "build_definitions", "defs"]
