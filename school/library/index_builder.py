"""Building a whole Whoosh index in one pass (``school search rebuild``, a missing or
unreadable index, the end of a bulk import).

Whoosh's ``SegmentWriter`` is made for adding a few documents to an existing index: every
posting goes through an external merge sort (pickled runs on disk once the pool passes
``limitmb``, then a heap merge), each posting's field length is looked up again in the
column file while writing, and each posting is checked and appended one call at a time.
When the index is built from nothing, postings arrive in document order, so:

* ``TermGroupedPool`` groups them per field and term in memory; only the distinct terms
  are sorted at the end, and each term's postings are already in document order;
* ``BulkWriter.add_document`` takes each field's ``(term, frequency, weight, value)``
  straight from its format into the pool, in one loop, and remembers the field lengths;
* ``BulkWriter`` writes every term's postings a block at a time (the block layout of
  Whoosh's W3 codec, which reads them back unchanged);
* postings blocks are compressed with zlib level 1 instead of 3, and blocks of fewer than
  ``MIN_COMPRESSED_BLOCK`` postings not at all (a few per cent larger, faster to write and
  to read).

Filling the block buffers relies on the W3 codec's internals (hence the ``<2.8`` pin on
whoosh-reloaded); ``tests/library/test_index_builder.py`` checks that an index built this
way holds exactly the postings, lengths, stored fields and scores of one built by Whoosh's
own writer, so a change there fails a test rather than a search.
"""
from __future__ import annotations

from array import array
from collections import defaultdict

from whoosh.codec.whoosh3 import W3Codec
from whoosh.writing import NO_MERGE, SegmentWriter

BLOCK_COMPRESSION = 1
MIN_COMPRESSED_BLOCK = 8  # postings


def codec() -> W3Codec:
    return W3Codec(compression=BLOCK_COMPRESSION)


class TermGroupedPool:
    """In place of Whoosh's ``PostingPool``: postings by field, then term, in arrival order."""

    def __init__(self):
        self.fields: dict[str, dict[bytes, list]] = defaultdict(dict)

    def cleanup(self) -> None:
        self.fields.clear()


class BulkWriter(SegmentWriter):
    """A ``SegmentWriter`` that writes one new segment; use it like ``ix.writer()``.

    It holds every posting of its segment in memory (``postings`` counts them): to bound
    memory, commit and go on with a new ``BulkWriter``, which adds another segment beside
    the first. It never merges segments nor deletes documents.
    """

    def __init__(self, ix, **kwargs):
        kwargs.setdefault("codec", codec())
        super().__init__(ix, **kwargs)
        for name, field in self.schema.items():
            if field.separate_spelling() or field.vector:
                self.cancel()
                raise ValueError(f"BulkWriter does not write spelling or vectors (field {name})")
        self.pool = TermGroupedPool()
        self.postings = 0
        self._lengths: dict[str, dict[int, int]] = defaultdict(dict)

    def commit(self, **_ignored) -> None:
        # Merging earlier segments would send their postings through the pool one at a time.
        super().commit(mergetype=NO_MERGE)

    def add_document(self, **fields) -> None:
        """Whoosh's ``add_document`` without what an index built from the database never
        uses (document and field boosts, ``_stored_`` values, spelling, vectors)."""
        self._check_state()
        docnum, perdoc, schema = self.docnum, self.perdocwriter, self.schema
        perdoc.start_doc(docnum)
        try:
            for fieldname in sorted(fields):
                value = fields[fieldname]
                if value is None:
                    continue
                field = schema[fieldname]
                length = self._index_field(fieldname, field, value, docnum) if field.indexed else 0
                perdoc.add_field(fieldname, field, value if field.stored else None, length)
                if field.column_type:
                    perdoc.add_column_value(fieldname, field.column_type, field.to_column_value(value))
        except Exception:
            perdoc.cancel_doc()
            raise
        perdoc.finish_doc()
        self._added = True
        self.docnum += 1

    def _index_field(self, fieldname: str, field, value, docnum: int) -> int:
        """Add one field's postings to the pool; its length (the number of tokens) when scorable."""
        terms = self.pool.fields[fieldname]
        length = 0
        fmt = field.format
        if isinstance(value, str) and hasattr(fmt, "index_postings") and fmt.is_fast(field.analyzer):
            items = fmt.index_postings(value)  # what field.index(value) yields, as a list
        else:
            items = field.index(value)
        for tbytes, freq, weight, vbytes in items:
            self.postings += 1
            length += freq
            postings = terms.get(tbytes)
            if postings is None:
                terms[tbytes] = [(docnum, weight, vbytes)]
            else:
                postings.append((docnum, weight, vbytes))
        if not field.scorable:
            return 0
        if length:
            self._lengths[fieldname][docnum] = length
        return length

    def _flush_segment(self) -> None:
        self.perdocwriter.close()
        fieldwriter = self.fieldwriter
        for fieldname in sorted(self.pool.fields):
            terms = self.pool.fields[fieldname]
            lengths = self._lengths.get(fieldname, {})
            fieldwriter.start_field(fieldname, self.schema[fieldname])
            for tbytes in sorted(terms):
                fieldwriter.start_term(tbytes)
                _write_postings(fieldwriter._postwriter, terms[tbytes], lengths)
                fieldwriter.finish_term()
            fieldwriter.finish_field()
        fieldwriter.close()


def _write_postings(postwriter, postings: list, lengths: dict[int, int]) -> None:
    """What ``W3PostingsWriter.add_posting`` does one posting at a time, a block at a time:
    fill the block buffer, write every full block, leave the last one for ``finish_postings``."""
    limit = postwriter._blocklimit
    for start in range(0, len(postings), limit):
        if start:
            postwriter._write_block()
        ids, weights, values = zip(*postings[start:start + limit])
        postwriter._ids = array("I", ids)
        postwriter._weights = array("f", weights)
        postwriter._maxweight = max(0, max(weights))
        postwriter._values = [v for v in values if v]
        block_lengths = [n for n in map(lengths.get, ids) if n]
        postwriter._minlength = min(block_lengths) if block_lengths else None
        postwriter._maxlength = max(block_lengths) if block_lengths else 0
        # Each block records its own compression; a short one gains a few bytes from zlib at
        # the cost of a call to compress it now and another to decompress it at every search.
        postwriter._compression = BLOCK_COMPRESSION if len(ids) >= MIN_COMPRESSED_BLOCK else 0
