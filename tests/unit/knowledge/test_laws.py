from bot.domain import Citation
from bot.knowledge.laws import chinese_number, find_article_reference


def test_chinese_numbers():
    assert chinese_number("一千零七十九") == 1079
    assert chinese_number("三十二") == 32
    assert chinese_number("十") == 10
    assert chinese_number("1079") == 1079


def test_valid_citation_and_quote(library):
    assert library.check(Citation("中华人民共和国民法典", 1079)) is None
    assert library.check(Citation("中华人民共和国法律援助法", 31, "因经济困难没有委托代理人的")) is None


def test_invalid_citations_are_explained(library):
    assert "no article" in library.check(Citation("中华人民共和国民法典", 5000)).message
    assert "unknown law" in library.check(Citation("中华人民共和国不存在法", 1)).message
    assert "quote" in library.check(Citation("中华人民共和国民法典", 1079, "完全编造的话")).message


def test_outdated_lawyers_law_is_never_citable(library):
    assert "outdated" in library.check(Citation("中华人民共和国律师法", 1)).message


def test_texts_not_in_force_are_kept_out_and_inserted_articles_are_their_own(library):
    from bot.knowledge.laws import LawStatus

    # 商标法: the 2019 text holds the title; the 2026 revision (in force 2027-01-01) is not loaded
    assert len([a for a in library if a.law == "中华人民共和国商标法"]) == 73
    assert library.status("法律援助条例") is LawStatus.UNCERTAIN and library.citable("法律援助条例")
    assert not library.citable("中华人民共和国律师法")
    base, inserted = library.article("中华人民共和国刑法", 133), library.article("中华人民共和国刑法", 133, "之一")
    assert base.text != inserted.text and inserted.label == "《刑法》第133条之一"
    assert find_article_reference("刑法第一百三十三条之一讲的是么子", library) == inserted
    assert library.check(Citation("中华人民共和国刑法", 133, "在道路上驾驶机动车", "之一")) is None


def test_status_follows_the_note_and_its_dates():
    import datetime as dt

    from bot.knowledge.laws import LawStatus, law_status

    until = {"title": "x", "status_note": "In force until 2026-12-31, OUTDATED from 2027-01-01"}
    assert law_status(until, dt.date(2026, 12, 1)) is LawStatus.CURRENT
    assert law_status(until, dt.date(2027, 1, 1)) is LawStatus.OUTDATED
    assert law_status({"title": "y", "status_note": "NOT YET IN FORCE: …"}) is LawStatus.NOT_IN_FORCE


def test_article_reference_in_a_message(library):
    article = find_article_reference("民法典第1079条说的什么", library)
    assert article.law == "中华人民共和国民法典" and article.number == 1079
    assert "离婚" in article.text
    assert find_article_reference("《劳动合同法》第八十二条", library).number == 82
    assert find_article_reference("老板不给工资", library) is None
