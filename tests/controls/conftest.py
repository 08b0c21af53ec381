"""The break-glass world (targets, staff with DPOs, a contract allowing break-glass) serves
the controls' database tests too."""

from tests.breakglass.conftest import any_bg_world, bg_world

__all__ = ["any_bg_world", "bg_world"]
