"""Library fixtures: the corpus (skipped with a reason when ../shared is absent) and documents."""
from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[2]


def corpus_dir() -> Path | None:
    candidates = [os.environ.get("SCHOOL_CORPUS_DIR", ""), str(REPO.parent / "shared" / "corpus"), "/work/shared/corpus"]
    for candidate in candidates:
        if candidate and (Path(candidate) / "laws").is_dir():
            return Path(candidate)
    return None


@pytest.fixture
def corpus():
    found = corpus_dir()
    if found is None:
        pytest.skip("需要 ../shared/corpus（或 SCHOOL_CORPUS_DIR）中的法律法规语料；本机没有，跳过")
    return found / "laws"


@pytest.fixture
def copy_corpus(corpus, tmp_path):
    """Copy named corpus files (paths relative to laws/) into a fresh folder."""
    def copy(*relative: str, folder: str = "laws") -> Path:
        root = tmp_path / folder
        for rel in relative:
            target = root / rel
            target.parent.mkdir(parents=True, exist_ok=True)
            shutil.copy(corpus / rel, target)
        return root
    return copy
