"""The lines an agent reads about an incomplete semantic index (app/agent/textfmt.py)."""
from app.schemas import DenseCoverage
from app.agent.textfmt import COMPLETE, coverage_line, coverage_summary, guidance_for, share_of_best

QUESTION = "Which company developed Bubble Fighter?"


def test_guidance_tells_an_english_asker_of_a_chinese_corpus_how_far_the_index_is():
    starting = DenseCoverage(stage="none", target="full", chunks_with_vectors=0.0, building="running")
    line = guidance_for(QUESTION, "cjk", starting, ["公司", "开发"])
    # an unknown ETA is said as such, not as "complete in time unknown" (seen in a README walk-through)
    assert "translated terms 公司 开发" in line and "is being built" in line and "unknown" not in line
    assert "Chinese rewording" in line
    later = starting.model_copy(update={"stage": "titles", "chunks_with_vectors": 0.1, "eta_s": 600})
    assert "will be complete in about 10 min" in guidance_for(QUESTION, "cjk", later)


def test_every_line_of_a_running_build_names_its_stage_share_and_eta():
    """Measuring first, then the measured ETA; the share is the build's, not the published stage's."""
    starting = DenseCoverage(stage="none", target="full", chunks_with_vectors=0.0, building="running")
    assert coverage_line(starting) == ("Semantic index: none yet (keyword search only) (0% of passages); building "
                                       "towards full: stage starting, 0% of its embedding done, ETA measuring.")
    leads = starting.model_copy(update={"stage": "titles", "chunks_with_vectors": 0.12, "build_stage": "leads",
                                        "build_done": 0.4, "eta_s": 600})
    assert coverage_line(leads) == ("Semantic index: document titles only (12% of passages); building towards "
                                    "full: stage leads, 40% of its embedding done, ETA about 10 min.")
    queued = DenseCoverage(stage="none", target="full", chunks_with_vectors=0.0, building="queued")
    assert "queued: stage starting, 0% of its embedding done, ETA measuring" in coverage_line(queued)


def test_the_relevance_score_is_a_share_of_the_best_whatever_the_scale():
    """BM25's raw 15.89 at the keyword-only stage and the hybrid sum 1.46 both read as 1 for the best result."""
    assert share_of_best([15.89, 7.945, 0.0]) == [1.0, 0.5, 0.0]
    assert share_of_best([1.46, 0.73]) == [1.0, 0.5]
    assert share_of_best([0.04, -0.01]) == [1.0, 0.0] and share_of_best([-0.2]) == [0.0] and share_of_best([]) == []


def test_a_finished_build_says_so_and_a_deliberate_stop_says_that():
    full = DenseCoverage(stage="full", target="full", chunks_with_vectors=1.0)
    assert coverage_summary(full) == COMPLETE == "Semantic index complete."
    titles = DenseCoverage(stage="titles", target="titles", chunks_with_vectors=0.0)
    assert coverage_summary(titles).endswith("stopped at titles on purpose.") and coverage_line(titles) is None
    assert "keyword search only" in coverage_summary(DenseCoverage(stage="none", target="none",
                                                                   chunks_with_vectors=0.0))


def test_no_guidance_for_a_question_in_the_corpus_language_or_a_complete_index():
    full = DenseCoverage(stage="full", target="full", chunks_with_vectors=1.0)
    assert guidance_for("泡泡战士是哪个公司开发的？", "cjk",
                        DenseCoverage(stage="none", target="full", chunks_with_vectors=0.0, building="running")) is None
    assert guidance_for(QUESTION, "cjk", full) is None and coverage_line(full) is None
