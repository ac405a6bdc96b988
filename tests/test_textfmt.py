"""The lines an agent reads about an incomplete semantic index (app/textfmt.py)."""
from app.schemas import DenseCoverage
from app.textfmt import coverage_line, guidance_for

QUESTION = "Which company developed Bubble Fighter?"


def test_guidance_tells_an_english_asker_of_a_chinese_corpus_how_far_the_index_is():
    starting = DenseCoverage(stage="none", target="full", chunks_with_vectors=0.0, building="running")
    line = guidance_for(QUESTION, "cjk", starting, ["公司", "开发"])
    # an unknown ETA is said as such, not as "complete in time unknown" (seen in a README walk-through)
    assert "translated terms 公司 开发" in line and "is being built" in line and "unknown" not in line
    assert "Chinese rewording" in line
    later = starting.model_copy(update={"stage": "titles", "chunks_with_vectors": 0.1, "eta_s": 600})
    assert "will be complete in about 10 min" in guidance_for(QUESTION, "cjk", later)
    assert "building towards full, about 10 min left" in coverage_line(later)


def test_no_guidance_for_a_question_in_the_corpus_language_or_a_complete_index():
    full = DenseCoverage(stage="full", target="full", chunks_with_vectors=1.0)
    assert guidance_for("泡泡战士是哪个公司开发的？", "cjk",
                        DenseCoverage(stage="none", target="full", chunks_with_vectors=0.0, building="running")) is None
    assert guidance_for(QUESTION, "cjk", full) is None and coverage_line(full) is None
