from app.agent.tokens import count_tokens, truncate_to_tokens


def test_each_chinese_character_counts_as_a_token():
    assert count_tokens("长江是中国第一长河") == 9
    assert count_tokens("长江，黄河。") == 6  # full-width punctuation too


def test_latin_text_counts_about_one_token_per_three_chars():
    assert count_tokens("retrieval") == 3
    assert count_tokens("GPT-4 模型") == 2 + 2


def test_chinese_is_counted_four_times_higher_than_the_old_guess():
    text = "长江流域也是中国经济最发达的地区之一" * 10
    assert count_tokens(text) >= 3.5 * (len(text) / 4)


def test_truncate_fits_the_budget():
    text = "长江流域也是中国经济最发达的地区之一。" * 20
    cut = truncate_to_tokens(text, 50)
    assert count_tokens(cut) <= 50 and text.startswith(cut) and len(cut) >= 49
