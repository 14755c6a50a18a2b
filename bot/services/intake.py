"""The legal-aid intake use case: read-back and submission of an application."""

from __future__ import annotations

from bot.domain import Escalation, LegalAidApplication
from bot.knowledge.directory import TO_FILL, ServiceDirectory
from bot.services.eligibility import assess, matter_from_text
from bot.services.validation import mask_phone
from bot.storage.port import CaseStore
from bot.wording import (
    LEGAL_AID_CENTRE,
    LEGAL_AID_PLACE,
    LEGAL_AID_PLACE_UNKNOWN,
    LEGAL_AID_READ_BACK,
    LEGAL_AID_SUBMITTED,
    NO_DEADLINE,
    NOTE_UNKNOWN_MATTER,
)

NOT_GIVEN = "未提供"


def application(
    sender_id: str,
    matter: str,
    name: str,
    phone: str,
    town: str,
    village: str | None,
    opponent: str,
    facts: str,
    deadline: str | None,
    economic_status: str,
) -> LegalAidApplication:
    """An application from what the form collected, with its matter label and eligibility note."""
    found = matter_from_text(matter)
    note = assess(found, economic_status) if found else NOTE_UNKNOWN_MATTER
    return LegalAidApplication(
        sender_id=sender_id,
        name=name,
        phone=phone,
        town=town,
        village=village,
        matter=found.label if found else matter,
        opponent=opponent,
        facts=facts,
        deadline=deadline,
        economic_status=economic_status,
        eligibility_note=note,
    )


def read_back(application: LegalAidApplication) -> str:
    """The summary the citizen confirms before we store anything."""
    a = application
    return LEGAL_AID_READ_BACK.format(
        matter=a.matter,
        name=a.name,
        phone=mask_phone(a.phone),
        address=f"{a.town}{a.village or ''}",
        opponent=a.opponent,
        facts=a.facts,
        deadline=a.deadline or NO_DEADLINE,
        economic_status=a.economic_status,
        note=a.eligibility_note,
    )


def submit(store: CaseStore, application: LegalAidApplication) -> LegalAidApplication:
    """Store the application and queue it for staff, in one transaction."""
    return store.add_application(
        application,
        escalation=Escalation(
            sender_id=application.sender_id,
            reason="intake",
            priority=1,
            town=application.town,
            context={"kind": "legal_aid"},
        ),
    )


def confirmation_text(application: LegalAidApplication, directory: ServiceDirectory) -> str:
    centre = directory.contact("legal_aid_centre")
    where = centre.get("name", LEGAL_AID_CENTRE)
    address = centre.get("address", TO_FILL)
    documents = "\n".join(f"{i}. {d}" for i, d in enumerate(directory.config.get("legal_aid_documents", []), 1))
    place = (
        LEGAL_AID_PLACE.format(where=where, address=address)
        if address != TO_FILL
        else LEGAL_AID_PLACE_UNKNOWN.format(where=where, office=directory.town_office(application.town))
    )
    return LEGAL_AID_SUBMITTED.format(reference=application.reference, place=place, documents=documents)
