import datetime as dt


def test_towns_and_villages(directory):
    assert len(directory.towns) == 17
    town = directory.find_town("我住花石")
    assert town.name == "花石镇"
    assert directory.find_town("北京") is None
    village = town.villages[0]
    assert directory.find_village(town, f"在{village}") == village


def test_committee_routing(directory):
    assert directory.committee_for("婚姻家庭", "花石镇").id == "county-marriage-family"
    committee = directory.committee_for("邻里纠纷", "花石镇")
    assert committee.name == "花石镇人民调解委员会" and committee.id.startswith("town-")


def test_schedule_is_weekdays_only(directory):
    starts = directory.schedule.upcoming(dt.datetime(2026, 11, 26, 10, 0))
    assert starts and all(s.weekday() < 5 for s in starts)
    assert starts[0].date() > dt.date(2026, 11, 26)


def test_unknown_contacts_stay_marked(directory):
    assert directory.contact("legal_aid_centre")["phone"] == "待填写"
    assert directory.hotline("legal_services") == "12348"
