"""Every word the bastion says to people (SSH lines, e-mails, reports, refusal reasons)
comes from one gettext catalogue, ``bastion/translations`` (domain ``bastion``); the
console has its own (``web/translations``) and shows bastion's through this package.
English is the source language; French is the default one.

Importing this package reads nothing: the contracts engine marks its phrases with it and
stays pure. The catalogues are read by ``bastion.i18n.catalogue`` (``translator``)."""

from .marker import N_, NC_, Phrase
from .moments import moment, moment_date, zone_label

__all__ = ["NC_", "N_", "Phrase", "moment", "moment_date", "zone_label"]
