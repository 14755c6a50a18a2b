from bot.retrieval.lexical import Bm25, char_ngrams


def test_ngrams_drop_function_characters():
    grams = char_ngrams("老板欠我的工资")
    assert "工资" in grams and "老板" in grams and "的" not in grams


def test_bm25_prefers_the_matching_document():
    bm = Bm25(["老板拖欠工资怎么办", "离婚孩子归谁", "邻居砌墙挡了我家的路"])
    scores = bm.normalised_scores("工资被拖欠")
    assert scores.argmax() == 0
    assert 0 < scores.max() <= 1.0
    assert bm.normalised_scores("   ").max() == 0
