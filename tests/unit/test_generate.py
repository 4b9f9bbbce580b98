from ragbot.flow.generate import answer, check_citations
from ragbot.generation.extractive import ExtractiveGenerator
from ragbot.models import Answer, Question
from ragbot.settings import AnswerSettings
from ragbot.texts import REFUSAL
from tests.fakes.hash_embedder import HashEmbedder
from tests.unit.builders import passage

PASSAGES = [
    passage(1, "Every employee receives 25 days of annual leave per year. Unused days expire in March."),
    passage(2, "| Country | Public holidays |\n| --- | --- |\n| Portugal | 13 |\n| Canada | 9 |"),
    passage(3, "- Laptops are replaced every three years.\n- Monitors every five years."),
]


def question(text: str) -> Question:
    return Question(question_id="q1", text=text)


def test_check_citations_keeps_valid_markers_and_drops_the_rest() -> None:
    draft = Answer(text="You get 25 days [1] plus holidays [2] and a pony [7].", model="m")
    checked = check_citations(draft, PASSAGES)
    assert checked.text == "You get 25 days [1] plus holidays [2] and a pony."
    assert [c.n for c in checked.citations] == [1, 2]
    assert checked.citations[0].doc_id == "doc1.md"
    assert checked.usage["invalid_citations"] == 1
    assert not checked.refused


def test_an_answer_with_no_valid_citation_becomes_a_refusal_with_the_closest_sources() -> None:
    checked = check_citations(Answer(text="Probably 30 days [9].", model="m"), PASSAGES)
    assert checked.refused
    assert checked.text == REFUSAL
    assert checked.reason == "no valid citation"
    assert [c.n for c in checked.citations] == [1, 2, 3]


def test_extractive_answer_quotes_the_best_sentence_and_cites_it() -> None:
    generator = ExtractiveGenerator(embedder=HashEmbedder(), settings=AnswerSettings(min_confidence=0.2))
    reply = answer(question("How many days of annual leave does an employee get?"), PASSAGES, generator=generator)
    assert not reply.refused
    assert reply.text.startswith("Every employee receives 25 days of annual leave per year. [1]")
    assert reply.citations[0].n == 1
    assert "25 days" in reply.citations[0].snippet
    assert reply.timings_ms["generate"] >= 0


def test_table_rows_are_read_with_their_header_and_list_items_alone() -> None:
    generator = ExtractiveGenerator(
        embedder=HashEmbedder(), settings=AnswerSettings(min_confidence=0.2, max_sentences=1)
    )
    assert answer(question("public holidays in Canada"), PASSAGES, generator=generator).text == (
        "Country: Canada; Public holidays: 9 [2]"
    )
    assert answer(question("how often are laptops replaced"), PASSAGES, generator=generator).text == (
        "Laptops are replaced every three years. [3]"
    )


def test_low_confidence_is_a_refusal_that_shows_sources() -> None:
    generator = ExtractiveGenerator(embedder=HashEmbedder(), settings=AnswerSettings(min_confidence=0.95))
    reply = answer(question("What is on the cafeteria menu?"), PASSAGES, generator=generator)
    assert reply.refused and reply.reason == "low confidence"
    assert reply.text == REFUSAL
    assert len(reply.citations) == 3


def test_no_passages_is_a_refusal() -> None:
    generator = ExtractiveGenerator(embedder=HashEmbedder(), settings=AnswerSettings())
    reply = answer(question("anything"), [], generator=generator)
    assert reply.refused and reply.citations == ()
