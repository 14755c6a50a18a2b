"""The service directory: towns, offices, mediation committees and their schedule."""

from __future__ import annotations

import datetime as dt
import json
from dataclasses import dataclass
from pathlib import Path

import yaml

TO_FILL = "待填写"


@dataclass(frozen=True)
class Committee:
    id: str
    name: str
    address: str = TO_FILL


@dataclass(frozen=True)
class Schedule:
    weekdays: tuple[int, ...]
    times: tuple[dt.time, ...]
    capacity: int
    horizon_days: int
    min_lead_days: int
    offered: int
    #: The bureau confirmed these hours (services.yml ``schedule.confirmed``); else a time is a wish.
    confirmed: bool = False

    def upcoming(self, now: dt.datetime) -> list[dt.datetime]:
        """All slot start times in the booking horizon, earliest first."""
        starts: list[dt.datetime] = []
        for offset in range(self.min_lead_days, self.horizon_days + 1):
            day = now.date() + dt.timedelta(days=offset)
            if day.weekday() in self.weekdays:
                starts.extend(dt.datetime.combine(day, t) for t in self.times)
        return starts


@dataclass(frozen=True)
class Town:
    name: str
    code: str
    villages: tuple[str, ...]

    @property
    def short(self) -> str:
        for suffix in ("街道", "镇", "乡"):
            if self.name.endswith(suffix) and len(self.name) - len(suffix) >= 2:
                return self.name[: -len(suffix)]
        return self.name


class ServiceDirectory:
    def __init__(self, config: dict, towns: list[Town]) -> None:
        self.config = config
        self.towns = towns
        self._special = [
            (Committee(c["id"], c["name"], c.get("address", TO_FILL)), set(c.get("dispute_types", [])))
            for c in config.get("special_committees", [])
        ]
        s = config["schedule"]
        self.schedule = Schedule(
            tuple(s["weekdays"]),
            tuple(dt.time.fromisoformat(t) for t in s["times"]),
            int(s["capacity"]),
            int(s["horizon_days"]),
            int(s["min_lead_days"]),
            int(s["offered"]),
            bool(s.get("confirmed", False)),
        )

    @classmethod
    def load(cls, kb_dir: Path) -> ServiceDirectory:
        config = yaml.safe_load((kb_dir / "services.yml").read_text(encoding="utf-8"))
        divisions = json.loads((kb_dir / "xiangtan_county_divisions.json").read_text(encoding="utf-8"))
        towns = [
            Town(t["name"], t["code"], tuple(v["name"] for v in t.get("villages", []))) for t in divisions["towns"]
        ]
        return cls(config, towns)

    # ---- places ---------------------------------------------------------------------------
    def find_town(self, text: str) -> Town | None:
        """The town named in ``text`` (full or short name), preferring the longest match."""
        text = text.strip()
        matches = [t for t in self.towns if t.name in text or t.short in text]
        return max(matches, key=lambda t: len(t.short)) if matches else None

    def find_village(self, town: Town, text: str) -> str | None:
        for village in sorted(town.villages, key=len, reverse=True):
            short = village.removesuffix("社区").removesuffix("村")
            if village in text or (len(short) >= 2 and short in text):
                return village
        return None

    def town_office(self, town: str) -> str:
        return self.config["town_office_template"].format(town=town)

    # ---- mediation ------------------------------------------------------------------------
    def committee_for(self, dispute_type: str, town: str) -> Committee:
        """The town's committee by default; county-wide committees for their dispute types."""
        for committee, types in self._special:
            if dispute_type in types:
                return committee
        found = next((t for t in self.towns if t.name == town), None)
        code = found.code if found else "unknown"
        return Committee(f"town-{code}", self.config["town_committee_template"].format(town=town))

    def committees(self) -> dict[str, str]:
        """Every committee, id → name: the county-wide ones, then one per town."""
        names = {committee.id: committee.name for committee, _ in self._special}
        names.update((c.id, c.name) for c in (self.committee_for("", t.name) for t in self.towns))
        return names

    def office_names(self) -> tuple[str, ...]:
        """Every name (and alias) of the offices the FAQ may send citizens to."""
        return tuple(n for o in self.config.get("offices", []) for n in (o["name"], *o.get("aliases", [])))

    def hotline(self, name: str) -> str:
        return str(self.config["hotlines"][name])

    def contact(self, key: str) -> dict:
        """A local office's entry; unknown fields stay ``待填写``."""
        return dict(self.config.get(key, {}))
