from legal_triage.domain import Citation
from legal_triage.laws import chinese_number, find_article_reference


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


def test_article_reference_in_a_message(library):
    article = find_article_reference("民法典第1079条说的什么", library)
    assert article.law == "中华人民共和国民法典" and article.number == 1079
    assert "离婚" in article.text
    assert find_article_reference("《劳动合同法》第八十二条", library).number == 82
    assert find_article_reference("老板不给工资", library) is None
