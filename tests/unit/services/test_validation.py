from bot.services.validation import clean_text, mask_phone, parse_name, parse_phone


def test_phones():
    assert parse_phone("我电话是138 1234 5678") == "13812345678"
    assert parse_phone("１３９－０７３２－１２３４") == "13907321234"
    assert parse_phone("0731-5551234") == "0731-5551234"
    assert parse_phone("12345") is None
    assert parse_phone("23812345678") is None


def test_names():
    assert parse_name("我叫张建国") == "张建国"
    assert parse_name("李秀英。") == "李秀英"
    assert parse_name("张") is None
    assert parse_name("13812345678") is None
    assert parse_name("我不想说我的名字是什么东西") is None


def test_clean_text_and_mask():
    assert clean_text("  a \n b ") == "a b"
    assert clean_text("   ") is None
    assert len(clean_text("长" * 2000)) == 500
    assert mask_phone("13812345678") == "138****5678"
