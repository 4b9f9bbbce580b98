from ragbot.ingestion.chunk import Chunker, approx_tokens
from ragbot.language.sentences import split_sentences
from tests.unit.builders import document

HANDBOOK_PAGE = """# Travel policy

Intro paragraph about travel.

## Booking

Book flights through Navan at least 14 days ahead.

- Economy for flights under 10 hours.
- Business class above 10 hours, with VP approval.

## Per diems

| City | Daily limit |
| --- | --- |
| Lisbon | 60 EUR |
| Singapore | 90 SGD |

### Receipts

Keep every receipt.
"""


def test_headings_become_the_heading_path_and_the_title_is_not_repeated() -> None:
    chunks = Chunker().chunk(document("travel.md", HANDBOOK_PAGE, title="Travel policy"))

    paths = [c.heading_path for c in chunks]
    assert paths == ["", "Booking", "Per diems", "Per diems › Receipts"]
    assert [c.chunk_id for c in chunks] == [f"travel.md#{i}" for i in range(4)]
    assert chunks[1].embedding_text().startswith("Travel policy › Booking\n")


def test_lists_and_tables_that_fit_stay_whole() -> None:
    chunks = Chunker().chunk(document("travel.md", HANDBOOK_PAGE, title="Travel policy"))

    booking = chunks[1].text
    assert "- Economy for flights under 10 hours.\n- Business class above 10 hours" in booking
    assert chunks[2].text.splitlines() == [
        "| City | Daily limit |",
        "| --- | --- |",
        "| Lisbon | 60 EUR |",
        "| Singapore | 90 SGD |",
    ]


def test_char_spans_point_at_the_chunk_in_the_document() -> None:
    doc = document("travel.md", HANDBOOK_PAGE, title="Travel policy")
    for chunk in Chunker().chunk(doc):
        span = doc.text[chunk.char_start : chunk.char_end]
        assert chunk.text.split()[0] in span
        assert chunk.text.split()[-1] in span


def test_a_long_table_is_split_between_rows_and_repeats_its_header() -> None:
    rows = "\n".join(f"| Band {i} | {40000 + i * 1000} EUR | {60000 + i * 1000} EUR |" for i in range(80))
    text = f"## Salary bands\n\n| Band | Minimum | Maximum |\n| --- | --- | --- |\n{rows}\n"
    chunks = Chunker(target_tokens=128, overlap_tokens=16).chunk(document("bands.md", text))

    assert len(chunks) > 2
    for chunk in chunks:
        assert chunk.text.startswith("| Band | Minimum | Maximum |\n| --- | --- | --- |\n")
        assert approx_tokens(chunk.text) <= 128
    body_rows = [line for c in chunks for line in c.text.splitlines()[2:]]
    assert body_rows == rows.splitlines()  # every row exactly once, in order


def test_long_prose_is_split_between_sentences_with_overlap() -> None:
    sentences = [f"Sentence number {i} talks about the expense policy in some detail." for i in range(60)]
    chunks = Chunker(target_tokens=100, overlap_tokens=20).chunk(document("long.md", " ".join(sentences)))

    assert len(chunks) > 3
    for chunk in chunks:
        assert approx_tokens(chunk.text) <= 100
        assert chunk.text.rstrip().endswith(".")  # never cut mid-sentence
    for previous, current in zip(chunks, chunks[1:], strict=False):
        last_sentence = split_sentences(previous.text)[-1]
        assert current.text.startswith(last_sentence)  # the overlap carries context forward


def test_a_run_on_line_without_sentence_ends_is_still_bounded() -> None:
    text = " ".join(f"word{i}" for i in range(2000))
    chunks = Chunker(target_tokens=64, overlap_tokens=8).chunk(document("blob.txt", text))

    assert all(approx_tokens(c.text) <= 64 for c in chunks)
    assert " ".join(c.text for c in chunks).split() == text.split()


def test_chunking_is_deterministic() -> None:
    doc = document("travel.md", HANDBOOK_PAGE, title="Travel policy")
    assert Chunker().chunk(doc) == Chunker().chunk(doc)


def test_overlap_must_be_less_than_half_the_target() -> None:
    import pytest

    with pytest.raises(ValueError, match="overlap"):
        Chunker(target_tokens=64, overlap_tokens=40)
