"""Storage of applications, bookings and escalations: the port, a SQL adapter and a fake."""

from bot.storage.port import CaseStore, make_reference

__all__ = ["CaseStore", "make_reference"]
