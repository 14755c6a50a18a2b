from bot.services.eligibility import MATTERS, assess, matter_from_text


def test_matter_from_button_number_and_words():
    assert matter_from_text("1").key == "wages"
    assert matter_from_text("老板欠我工钱").key == "wages"
    assert matter_from_text("被老公家暴").key == "violence"
    assert matter_from_text("儿子被抓了要请辩护").key == "criminal"
    assert matter_from_text("随便说说") is None
    assert len(MATTERS) == 9


def test_domestic_violence_needs_no_means_test():
    assert "不受经济困难条件限制" in assess(matter_from_text("violence"))


def test_means_test_and_exemptions():
    wages = matter_from_text("wages")
    assert "经济困难" in assess(wages, "月收入三千")
    assert "免予核查" in assess(wages, "我是低保户")
    assert "免予核查" in assess(wages, "进城务工，农民工")
    assert "不一定" in assess(matter_from_text("other"))
