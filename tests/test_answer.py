"""Answer-type-aware extraction: what a question asks for, the stored entity tags, the sentence
chosen for it, the marked answer phrase, and how that phrase is scored and shown."""

from __future__ import annotations

import dataclasses
import json
import sqlite3

import pytest

from rag import sentences
from rag.answer import Answer, Citation, extract
from rag.answertype import (
    DATE,
    NAME,
    NUMBER,
    ORG,
    OTHER,
    PERSON,
    PLACE,
    REASON,
    TAGGER_VERSION,
    asked_type,
    asked_unit,
    asks_about_a_name,
    one_asked,
    tag,
    tag_article,
)
from rag.chat.render import sources_html
from rag.config import Config
from rag.errors import IndexFormatError
from rag.evaluate import Question, phrase_f1, phrase_scores, squad_normal
from rag.pipeline import index_sources
from rag.retrieve import Hit
from rag.sentences import PHRASE_FEATURES
from rag.store import Index, Passage, current_generation
from rag.store.layout import DATABASE
from rag.text import Span, split_sentences
from tests.conftest import SAMPLE


@pytest.mark.parametrize(
    ("question", "kind"),
    [
        ("Who is Bill Roggio?", PERSON),
        ("Whom did the envoy meet in Doha?", PERSON),
        ("Whose forces advanced on Lashkar Gah?", PERSON),
        ("What was the name of the king?", PERSON),
        ("Which company built the dam?", ORG),
        ("What organization does Roggio work for?", ORG),
        ("Which team won Super Bowl 50?", ORG),
        ("Where do the Taliban leaders live?", PLACE),
        ("In which city are the talks held?", PLACE),
        ("What country was attacked?", PLACE),
        ("What is the capital of France?", PLACE),
        ("When did the talks begin?", DATE),
        ("What year was the university founded?", DATE),
        ("In what century did the Normans arrive?", DATE),
        ("How many people live in Warsaw?", NUMBER),
        ("How much did the stadium cost?", NUMBER),
        ("What percentage of voters turned out?", NUMBER),
        ("How long did the negotiations last?", NUMBER),
        ("What is the population of Paris?", NUMBER),
        ("Why did the talks fail?", REASON),
        ("What caused the war?", REASON),
        ("What did Price say about diplomacy?", OTHER),
        ("Describe the situation in Afghanistan.", OTHER),
    ],
)
def test_asked_type_reads_the_wording(question, kind):
    assert asked_type(question) == kind


def _tags(text: str) -> list[tuple[str, str]]:
    return [(text[e.start : e.end], e.type) for e in tag(text)]


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (
            "The treaty was signed on March 3, 1918 at 10:30 a.m. in the 20th century.",
            [("March 3, 1918", DATE), ("10:30 a.m.", DATE), ("20th century", DATE)],
        ),
        (
            "It cost $2.5 million, about 40% of the budget, and 1,200 workers built it in 1990s.",
            [("$2.5 million", NUMBER), ("40%", NUMBER), ("1,200", NUMBER), ("1990s", DATE)],
        ),
        (
            "Bill Roggio of the Foundation for the Defense of Democracies told CNN.",
            [
                ("Bill Roggio", PERSON),
                ("Foundation for the Defense of Democracies", ORG),
                ("CNN", ORG),
            ],
        ),
        (
            "However, President Lincoln visited Warsaw and the Vistula River with Tesla.",
            [("Lincoln", PERSON), ("Warsaw", PLACE), ("Vistula River", PLACE), ("Tesla", NAME)],
        ),
        (
            "Taliban militants advanced on the United States.",
            [("Taliban", NAME), ("United States", PLACE)],
        ),
        ("Nothing here is named, and three dozen cats slept.", [("three dozen", NUMBER)]),
        (
            "The limit of 55 mph held for ten years; 182 million tons of dust fell.",
            [("55 mph", NUMBER), ("ten years", NUMBER), ("182 million tons", NUMBER)],
        ),
        # Ranges are one amount or one date, with what qualifies them.
        (
            "Within the last 5–10 million years, 90 to 95 percent of 356 ± 47 tonnes moved.",
            [
                ("5–10 million years", NUMBER),
                ("90 to 95 percent", NUMBER),
                ("356 ± 47 tonnes", NUMBER),
            ],
        ),
        (
            "Between 1500 and 1850, in the winter of 1973–74 and from 24 August – 3 October 1572.",
            [
                ("Between 1500 and 1850", DATE),
                ("winter of 1973–74", DATE),
                ("24 August – 3 October 1572", DATE),
            ],
        ),
        (
            "Nearly $40 per barrel, fewer than 10 firms, almost a million people, two-thirds of "
            "them, one in five, but one of the cats; it is 1.5 m (4 ft 11 in) tall.",
            [
                ("Nearly $40 per barrel", NUMBER),
                ("fewer than 10", NUMBER),
                ("almost a million people", NUMBER),
                ("two-thirds", NUMBER),
                ("one in five", NUMBER),
                ("1.5 m", NUMBER),
            ],
        ),
        (
            "Taliban militants advanced on Lashkar Gah, the capital of Helmand province.",
            [("Taliban", NAME), ("Lashkar Gah", PLACE), ("Helmand", PLACE)],
        ),
        (
            "New York City Mayor Bill de Blasio met Sen. Susan Collins in Portland, Oregon.",
            [
                ("New York City", PLACE),
                ("Bill de Blasio", PERSON),
                ("Susan Collins", PERSON),
                ("Portland", PLACE),
                ("Oregon", PLACE),
            ],
        ),
        # Women retire at 60 and men at 65: two amounts, not a range.
        ("so women retire at age 60 and men at 65.", [("60", NUMBER), ("65", NUMBER)]),
        (
            "Egyptian President Anwar Sadat met Muhammad Abd al-Salaam Farag and Fred Singer's "
            "aides, and William Stranahan for the Pacific Improvement Company sold Capital "
            "Cities/ABC, Inc. shares.",
            [
                ("Anwar Sadat", PERSON),
                ("Muhammad Abd al-Salaam Farag", PERSON),
                ("Fred Singer", PERSON),
                ("William Stranahan", PERSON),
                ("Pacific Improvement Company", ORG),
                ("Capital Cities/ABC, Inc", ORG),
            ],
        ),
        # An office held to or of a place or body names it, then its holder; the title names
        # neither, and where the office names no place ("of State") only the holder is a name.
        (
            "Former US Ambassador to Afghanistan P. Michael McKinley met Secretary of State Antony "
            "Blinken and US Ambassador to the United Nations Linda Thomas-Greenfield.",
            [
                ("US", PLACE),
                ("Afghanistan", PLACE),
                ("P. Michael McKinley", PERSON),
                ("Antony Blinken", PERSON),
                ("US", PLACE),
                ("United Nations", ORG),
                ("Linda Thomas-Greenfield", PERSON),
            ],
        ),
        # A department names no place: only its secretary or chief is a name. A title before a
        # name is left out of it ("House Speaker", "Senate Majority Leader").
        (
            "Secretary of State Blinken met Secretary of Defense Lloyd Austin, Chief of Staff Ron "
            "Klain and Senate Majority Leader Chuck Schumer.",
            [
                ("Blinken", PERSON),
                ("Lloyd Austin", PERSON),
                ("Ron Klain", PERSON),
                ("Senate Majority", ORG),
                ("Chuck Schumer", PERSON),
            ],
        ),
        (
            "House Speaker Nancy Pelosi and UN Secretary-General Antonio Guterres spoke.",
            [("House", NAME), ("Nancy Pelosi", PERSON), ("UN", ORG), ("Antonio Guterres", PERSON)],
        ),
        # Not an office held by someone: an office's own name.
        (
            "He was the Director of Flight Crew Operations at NASA.",
            [("Director of Flight Crew Operations", NAME), ("NASA", ORG)],
        ),
        (
            "Bill Roggio of a Washington-based think tank told CNN it was evidence-based.",
            [("Bill Roggio", PERSON), ("Washington", PLACE), ("CNN", ORG)],
        ),
    ],
)
def test_tagger_on_fixed_sentences(text, expected):
    assert _tags(text) == expected


def test_tags_do_not_overlap_and_stay_inside_the_text():
    text = "On 4 July 1776, 56 delegates of the Continental Congress met in Philadelphia."
    entities = tag(text)
    assert _tags(text) == [
        ("4 July 1776", DATE),
        ("56", NUMBER),
        ("Continental Congress", ORG),
        ("Philadelphia", PLACE),
    ]
    ends = [0] + [e.end for e in entities]
    assert all(e.start >= end for e, end in zip(entities, ends, strict=False))
    assert tag(text) == entities  # deterministic


def test_tags_are_stored_at_indexing_and_read_back(seed_index):
    index = Index.open(seed_index)
    assert index.manifest.tagger == TAGGER_VERSION
    (article,) = index.articles()
    paragraphs = index.article_paragraphs(article.id)
    tagged = tag_article([article.title, *(p.text for p in paragraphs)])[1:]
    assert paragraphs and [p.entities for p in paragraphs] == tagged
    roggio = next(p for p in paragraphs if "Bill Roggio of the" in p.text)
    assert ("Bill Roggio", PERSON) in [
        (roggio.text[e.start : e.end], e.type) for e in roggio.entities
    ]


def test_an_index_tagged_by_another_version_is_refused_then_updated_without_embedding(
    seed_copy, embedder
):
    generation = current_generation(seed_copy)
    path = generation / "manifest.json"
    path.write_text(json.dumps(json.loads(path.read_text()) | {"tagger": "rules-0"}))
    with sqlite3.connect(generation / DATABASE) as db:
        db.execute("DELETE FROM entities")
    with pytest.raises(
        IndexFormatError,
        match=r"entity tagger rules-0 .* update its tags \(nothing is embedded again\) with: "
        r"rag index \S+ --index \S+$",
    ):
        Index.open(seed_copy)

    class Counting:  # the embedder, counting what it is asked to embed
        calls = 0

        def __getattr__(self, name):
            found = getattr(embedder, name)
            if not name.startswith("encode"):
                return found

            def counted(*args, **kwargs):
                Counting.calls += len(args[0])  # paragraphs or questions embedded
                return found(*args, **kwargs)

            return counted

    report = index_sources(Config(index_dir=seed_copy), [str(SAMPLE)], embedder=Counting())
    assert "0 new paragraphs embedded" in report.summary()
    assert f"Entity tags of {report.retagged} paragraphs brought up to date." in report.summary()
    index = Index.open(seed_copy)
    assert report.retagged == index.manifest.paragraphs > 0
    assert Counting.calls == 0
    assert index.manifest.tagger == TAGGER_VERSION
    (article,) = index.articles()
    paragraphs = index.article_paragraphs(article.id)
    tagged = tag_article([article.title, *(p.text for p in paragraphs)])[1:]
    assert [p.entities for p in paragraphs] == tagged
    assert sum(len(p.entities) for p in paragraphs) > 50


def test_adding_to_an_index_of_an_older_format_is_refused(seed_copy, embedder):
    path = current_generation(seed_copy) / "manifest.json"
    data = json.loads(path.read_text())
    del data["tagger"]
    path.write_text(json.dumps(data | {"format": 1}))
    with pytest.raises(IndexFormatError, match=r"format 1 but this version .* rebuild with"):
        index_sources(Config(index_dir=seed_copy), [str(SAMPLE)], embedder=embedder)


def _passage(text: str) -> Passage:
    spans = tuple(Span(s.start, s.end) for s in split_sentences(text))
    return Passage(
        id=1,
        article_id=1,
        article_title="Talks",
        source="talks.txt",
        index=1,
        heading=None,
        text=text,
        sentences=spans,
        sentence_ids=tuple(range(len(spans))),
        entities=tag(text),
    )


TALKS = (
    "The envoys met in Doha to discuss the ceasefire. "
    "The talks on the ceasefire began on 12 September 2020 after months of delay. "
    "Ned Price leads the ceasefire talks for the State Department."
)


def _hit(text: str, scores: tuple[float, ...]) -> Hit:
    return Hit(passage=_passage(text), score=1.0, dense=0.5, sentence_scores=scores)


@pytest.mark.parametrize(
    ("question", "sentence", "phrase"),
    [
        ("When did the ceasefire talks begin?", 1, "12 September 2020"),
        ("Who leads the ceasefire talks?", 2, "Ned Price"),
        ("Where did the ceasefire envoys meet?", 0, "Doha"),
    ],
)
def test_extraction_prefers_the_sentence_with_the_asked_for_entity(question, sentence, phrase):
    # Equal similarity for every sentence: the kind of thing asked for decides.
    hit = _hit(TALKS, (0.6, 0.6, 0.6))
    answer = extract(question, [hit], 0.6, 0.44)
    first = answer.citations[0]
    spans = hit.passage.sentences
    marked = [c for c in answer.citations if c.answer_start is not None]
    assert len(marked) == 1
    citation = marked[0]
    assert citation.paragraph_text[citation.answer_start : citation.answer_end] == phrase
    assert citation.answer_phrase == phrase
    assert spans[sentence].start <= citation.answer_start < citation.answer_end
    assert citation.answer_end <= spans[sentence].end
    assert first.sentence_start <= spans[sentence].start  # the sentence is cited


def test_scores_remembered_for_a_question_are_not_reused_for_other_entity_tags():
    question = "Where did the ceasefire envoys meet?"
    hit = _hit(TALKS, (0.6, 0.6, 0.6))
    marked = [c.answer_phrase for c in extract(question, [hit], 0.6, 0.44).citations]
    assert [phrase for phrase in marked if phrase] == ["Doha"]
    # The same paragraph, scores and question, but tagged without the place: nothing to mark.
    untagged = dataclasses.replace(hit, passage=dataclasses.replace(hit.passage, entities=()))
    answer = extract(question, [untagged], 0.6, 0.44)
    assert [c.answer_phrase for c in answer.citations if c.answer_phrase] == []


def test_a_name_the_question_already_gives_is_not_its_answer():
    hit = _hit(TALKS, (0.3, 0.3, 0.9))
    answer = extract("Who is Ned Price?", [hit], 0.9, 0.44)
    # The cited sentence names Ned Price and the State Department: the answer is the latter.
    assert [c.answer_phrase for c in answer.citations] == ["State Department"]


@pytest.mark.parametrize(
    ("question", "phrase"),
    [
        # The question names Afghanistan by its adjective: the answer is the other place ...
        ("Where were the intra-Afghan talks held?", "Doha"),
        # ... where a question that does not name it gets the place nearest its words.
        ("Where were the talks held?", "Afghanistan"),
    ],
)
def test_a_place_the_question_names_by_another_form_is_not_its_answer(question, phrase):
    text = "Intra-Afghan talks about Afghanistan's future were held, after a long delay, in Doha."
    answer = extract(question, [_hit(text, (0.6,))], 0.6, 0.44)
    assert [c.answer_phrase for c in answer.citations] == [phrase]


def test_a_name_of_no_clear_kind_helps_choose_the_sentence_but_is_not_marked():
    text = "Zorvane hosted the envoys, who discussed the ceasefire. The talks went on for hours."
    hit = _hit(text, (0.6, 0.6))
    assert [(text[e.start : e.end], e.type) for e in hit.passage.entities] == [("Zorvane", NAME)]
    answer = extract("Where did the envoys discuss the ceasefire?", [hit], 0.6, 0.44)
    assert answer.citations[0].sentence.startswith("Zorvane hosted")
    assert all(c.answer_start is None and c.answer_phrase is None for c in answer.citations)
    # Typed as a place ("in Zorvane"), the same name is the answer.
    text = "The envoys met in Zorvane and discussed the ceasefire. The talks went on for hours."
    typed = _hit(text, (0.6, 0.6))
    answer = extract("Where did the envoys discuss the ceasefire?", [typed], 0.6, 0.44)
    assert [c.answer_phrase for c in answer.citations if c.answer_phrase] == ["Zorvane"]


@pytest.mark.parametrize(
    ("question", "text", "phrase"),
    [
        # The unit the question counts in is not repeated; the year of a full date is the year.
        (
            "How many miles did the dust travel?",
            "The dust travelled 1,600 miles (2,600 km).",
            "1,600",
        ),
        ("In what year was the treaty signed?", "It was signed on November 3, 1975.", "1975"),
        ("When was the treaty signed?", "It was signed on November 3, 1975.", "November 3, 1975"),
        (
            "How much did the ship weigh?",
            "It weighed nearly 51,300 pounds.",
            "nearly 51,300 pounds",
        ),
        # A list is the answer to "who", a place is qualified by its state ...
        (
            "Who founded the studio?",
            "The studio was founded by William Hanna and Joseph Barbera.",
            "William Hanna and Joseph Barbera",
        ),
        (
            "Where is the company based?",
            "It is based in Redwood City, California.",
            "Redwood City, California",
        ),
        # ... but "which country" asks for one, and a list of another kind is not joined.
        ("Which country was hit by the embargo?", "The embargo hit the UK and France.", "UK"),
        ("Where were the talks held?", "The talks were held in Kiev, Ukraine.", "Kiev, Ukraine"),
        ("Which city held the talks?", "The talks were held in Kiev, Ukraine.", "Kiev, Ukraine"),
        ("Which country held the talks?", "The talks were held in Kiev, Ukraine.", "Ukraine"),
        ("Who defeated the army?", "At Quebec, James Wolfe defeated the army.", "James Wolfe"),
    ],
)
def test_the_marked_phrase_is_what_the_question_counts_or_lists(question, text, phrase):
    answer = extract(question, [_hit(text, (0.6,))], 0.6, 0.44)
    assert [c.answer_phrase for c in answer.citations] == [phrase]


def test_what_a_question_counts_in_and_whether_it_asks_for_one():
    assert asked_unit("In which year did it end?") == "year"
    assert asked_unit("How many more people came?") == "people"
    assert asked_unit("Who came?") is None
    assert one_asked("Which country is most dependent on oil?") == "country"
    assert one_asked("What German ruler invited them?") == "ruler"
    assert one_asked("Which countries were hit?") is None
    assert one_asked("Who played the Doctor?") is None


def test_no_phrase_is_marked_when_the_question_asks_for_no_kind_of_thing():
    answer = extract("What happened to the ceasefire?", [_hit(TALKS, (0.6, 0.7, 0.6))], 0.7, 0.44)
    assert not answer.abstained
    assert all(c.answer_start is None and c.answer_end is None for c in answer.citations)
    assert all(c.to_dict()["answer_phrase"] is None for c in answer.citations)


def test_the_sample_article_marks_the_person_asked_for(seed_pipeline):
    answer = seed_pipeline.ask(
        "Who is the US special representative for reconciliation in Afghanistan?"
    )
    assert not answer.abstained
    assert [c.answer_phrase for c in answer.citations if c.answer_phrase] == ["Zalmay Khalilzad"]
    data = answer.to_dict()["citations"][0]
    assert data["paragraph_text"][data["answer_start"] : data["answer_end"]] == "Zalmay Khalilzad"


def test_a_surname_alone_names_a_person_the_article_names_in_full():
    texts = [
        "Envoy Zalmay Khalilzad arrives in Doha",  # the title
        "The talks were negotiated by Khalilzad and Mercer.",
        "Khalilzad met Mercer in Doha.",
    ]
    # Alone, neither paragraph says what kind of name "Khalilzad" or "Mercer" is.
    assert [e.type for e in tag(texts[1])] == [NAME, NAME]
    tagged = tag_article(texts)
    assert [(texts[1][e.start : e.end], e.type) for e in tagged[1]] == [
        ("Khalilzad", PERSON),
        ("Mercer", NAME),  # named in full nowhere: still of no clear kind
    ]
    assert [(texts[2][e.start : e.end], e.type) for e in tagged[2]] == [
        ("Khalilzad", PERSON),
        ("Mercer", NAME),
        ("Doha", PLACE),
    ]
    # A text naming no such surname keeps its own tags.
    assert tag_article(["Zalmay Khalilzad spoke.", "Mercer met them in Doha."])[1] == tag(
        "Mercer met them in Doha."
    )
    # A full name that only its shape calls a person ("Denver Broncos") lends no surname.
    texts = ["The Denver Broncos won the final.", "The Broncos beat the Panthers."]
    assert [e.type for e in tag(texts[0])] == [PERSON]
    assert tag_article(texts)[1] == tag(texts[1])


def test_the_sample_article_marks_a_person_it_names_by_surname(seed_pipeline):
    answer = seed_pipeline.ask("Who negotiated the talks?")
    assert not answer.abstained
    # "... the talks, which were negotiated by Khalilzad under the Trump administration, ...
    # spokesman Ned Price said": Zalmay Khalilzad is named in full paragraphs earlier.
    assert [c.answer_phrase for c in answer.citations if c.answer_phrase] == ["Khalilzad"]


@pytest.mark.parametrize(
    ("question", "phrase"),
    [
        ("Who is the former US ambassador to Afghanistan?", "Ronald Neumann"),
        ("Who said the talks and the military offensive are interconnected?", "Ronald Neumann"),
        (
            "Which former ambassador said the Taliban are not negotiating in good faith?",
            "P. Michael McKinley",
        ),
        ("Where is the Foundation for the Defense of Democracies based?", "Washington"),
    ],
)
def test_the_sample_article_marks_office_holders_and_bases(seed_pipeline, question, phrase):
    answer = seed_pipeline.ask(question)
    assert not answer.abstained
    assert [c.answer_phrase for c in answer.citations if c.answer_phrase] == [phrase]


def test_another_person_is_no_answer_to_who_a_named_person_is(seed_pipeline):
    answer = seed_pipeline.ask("Who is Ned Price?")
    assert not answer.abstained
    assert answer.citations[0].sentence.startswith("The State Department has acknowledged")
    assert [c.answer_phrase for c in answer.citations if c.answer_phrase] == []
    assert asks_about_a_name("Who is Ned Price?")
    assert asks_about_a_name("What was the Long War Journal?")
    assert not asks_about_a_name("Who is the president of the American Academy of Diplomacy?")
    assert asks_about_a_name("Who was the Super Bowl 50 MVP?")
    assert not asks_about_a_name("Who was the Super Bowl 50 MVP?", bare=True)
    assert asks_about_a_name("Who is Ned Price?", bare=True)


@pytest.mark.parametrize(
    ("question", "phrase"),
    [
        ("What is the capital of Helmand province?", "Lashkar Gah"),
        ("Which provincial capitals did the Taliban advance on?", "Herat and Kandahar"),
        ("When was Pforzheimer deputy chief of mission in Kabul?", "2017 to 2018"),
    ],
)
def test_the_sample_article_marks_places_lists_and_spans(seed_pipeline, question, phrase):
    answer = seed_pipeline.ask(question)
    assert not answer.abstained
    assert [c.answer_phrase for c in answer.citations if c.answer_phrase] == [phrase]


def test_a_phrase_is_marked_only_where_the_phrase_model_finds_it_likely():
    question = "When did the ceasefire talks begin?"
    hit = _hit(TALKS, (0.1, 0.9, 0.1))
    rows = []

    def keep(row):
        rows.append(row)
        return True

    marked = extract(question, [hit], 0.8, 0.44, mark=keep)
    assert [c.answer_phrase for c in marked.citations if c.answer_phrase] == ["12 September 2020"]
    (row,) = rows
    assert row.shape == (len(PHRASE_FEATURES),)
    column = dict(zip(PHRASE_FEATURES, row.tolist(), strict=True))
    found, _, scores = sentences.scored(question, [hit])
    best = max(scores)
    here = scores[[i for _, i, _ in found].index(1)]
    assert column["sentence_score"] == pytest.approx(here)
    assert column["sentence_gap"] == pytest.approx(here - best)
    assert column["confidence"] == pytest.approx(0.8)
    # Not marked: the same sentences are cited, with no phrase.
    unmarked = extract(question, [hit], 0.8, 0.44, mark=lambda row: False)
    assert [c.sentence for c in unmarked.citations] == [c.sentence for c in marked.citations]
    assert all(c.answer_start is None and c.answer_phrase is None for c in unmarked.citations)


@pytest.mark.parametrize(
    "question",
    [
        # "... the negotiations to achieve their goals, ... said Wednesday": the day it was said.
        "When was the Taliban founded?",
        # "... deputy chief of mission at the US embassy in Kabul from 2017 to 2018": her post.
        "When did the Taliban take Kabul?",
    ],
)
def test_the_sample_article_marks_no_date_the_cited_sentence_does_not_answer(
    seed_pipeline, question
):
    answer = seed_pipeline.ask(question)
    assert [c.answer_phrase for c in answer.citations if c.answer_phrase] == []


def test_the_phrase_is_shown_in_bold_inside_the_highlighted_sentence():
    answer = extract(
        "When did the ceasefire talks begin?", [_hit(TALKS, (0.1, 0.9, 0.1))], 0.9, 0.44
    )
    html = sources_html(Answer.from_dict(answer.to_dict()))
    assert (
        '<mark>The talks on the ceasefire began on <strong class="rag-answer">12 September 2020'
        in html
    )
    assert "</strong> after months of delay.</mark>" in html


def test_a_marked_weekday_comes_with_the_day_it_names():
    text = "The State Department confirmed the talks on Wednesday. The envoys met in Doha."
    dated = dataclasses.replace(_passage(text), published="2021-07-30")
    hit = Hit(passage=dated, score=1.0, dense=0.5, sentence_scores=(0.9, 0.1))
    answer = extract(
        "When did the State Department confirm the talks?", [hit], 0.9, 0.44, mark=lambda row: True
    )
    (citation,) = [c for c in answer.citations if c.answer_phrase]
    assert citation.answer_phrase == "Wednesday"
    assert citation.answer_day == "2021-07-28"
    assert Answer.from_dict(answer.to_dict()).citations[0].answer_day == "2021-07-28"
    html = sources_html(answer)
    assert (
        '<strong class="rag-answer">Wednesday</strong><span class="rag-day"> (28 Jul 2021)' in html
    )
    # Undated, the weekday is marked alone.
    undated = dataclasses.replace(hit, passage=_passage(text))
    answer = extract(
        "When did the State Department confirm the talks?",
        [undated],
        0.9,
        0.44,
        mark=lambda row: True,
    )
    assert [c.answer_day for c in answer.citations if c.answer_phrase] == [None]
    assert "rag-day" not in sources_html(answer)


def test_squad_normalisation_and_token_f1():
    assert squad_normal("The Broncos!") == "broncos"
    assert squad_normal("an  apple, a pear") == "apple pear"
    assert phrase_f1("Denver Broncos", "the Denver Broncos") == 1.0
    assert phrase_f1("in 1066 AD", "1066") == pytest.approx(0.5)
    assert phrase_f1("Paris", "London") == 0.0


def _answer_with_phrase(phrase: str | None, abstained: bool = False) -> Answer:
    text = "The talks began on 12 September 2020."
    start = None if phrase is None else text.index(phrase)
    citation = Citation(
        1,
        "T",
        "t.txt",
        1,
        1,
        None,
        text,
        0,
        len(text),
        1.0,
        answer_start=start,
        answer_end=None if phrase is None else start + len(phrase),
    )
    return Answer("q", text, abstained, (citation,), 0.9)


def test_phrase_scores_count_only_questions_with_a_marked_phrase():
    question = Question("1", "When?", {"a": 1}, answers=("12 September 2020", "September 2020"))
    pairs = [
        (question, _answer_with_phrase("12 September 2020")),  # exact
        (question, _answer_with_phrase("September 2020")),  # exact against the second answer
        (question, _answer_with_phrase("talks")),  # wrong
        (question, _answer_with_phrase(None)),  # nothing marked: not scored
        (question, _answer_with_phrase("12 September 2020", abstained=True)),  # abstained
    ]
    scores = phrase_scores(pairs)
    assert scores["phrase_marked"] == pytest.approx(3 / 5)
    assert scores["phrase_exact"] == pytest.approx(2 / 3)
    assert scores["phrase_f1"] == pytest.approx(2 / 3)
