"""Plot helpers (app/quality/plots.py)."""
from app.quality.plots import TITLE_CHARS, wrap_title


def test_a_long_eval_title_is_wrapped_to_the_figure_not_clipped():
    """eval's title names every query file; on one line it ran off both sides of the figure."""
    title = ("cmrc2018_trial_corpus.json + distractors: 1000 answerable queries (cmrc2018_trial_queries.jsonl, "
             "miro_no_answer_queries.jsonl)")
    lines = wrap_title(title).split("\n")
    assert len(lines) == 2 and all(len(line) <= TITLE_CHARS for line in lines)
    assert " ".join(lines) == title
    assert wrap_title("short") == "short"
