from __future__ import annotations

import hashlib
from pathlib import Path

import pytest

from statusgate.media.store import MediaStore


def write_temp(store: MediaStore, data: bytes) -> Path:
    tmp = store.new_temp_path(".part")
    tmp.write_bytes(data)
    return tmp


def test_put_file_stores_content_under_its_sha256(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    data = b"hello status" * 1000
    tmp = write_temp(store, data)

    sha, size = store.put_file(tmp)

    assert sha == hashlib.sha256(data).hexdigest()
    assert size == len(data)
    assert store.blob_path(sha) == tmp_path / "blobs" / sha[:2] / sha
    assert store.open_blob(sha).read_bytes() == data
    assert not tmp.exists()


def test_put_file_dedups_identical_content(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    first = write_temp(store, b"same bytes")
    second = write_temp(store, b"same bytes")
    assert first != second

    sha1, _ = store.put_file(first)
    blob_inode = store.open_blob(sha1).stat().st_ino
    sha2, size2 = store.put_file(second)

    assert sha1 == sha2
    assert size2 == len(b"same bytes")
    assert not second.exists()
    # The first copy stays in place (readers holding it are undisturbed) and is the only blob.
    assert store.open_blob(sha2).stat().st_ino == blob_inode
    assert [p for p in (tmp_path / "blobs").rglob("*") if p.is_file()] == [store.blob_path(sha1)]
    assert list((tmp_path / "tmp").iterdir()) == []


def test_different_content_gets_different_blobs(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    sha1, _ = store.put_file(write_temp(store, b"one"))
    sha2, _ = store.put_file(write_temp(store, b"two"))
    assert sha1 != sha2
    assert store.open_blob(sha1).read_bytes() == b"one"
    assert store.open_blob(sha2).read_bytes() == b"two"


def test_empty_file_is_stored(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    sha, size = store.put_file(write_temp(store, b""))
    assert (sha, size) == (hashlib.sha256(b"").hexdigest(), 0)


def test_new_temp_paths_are_fresh_and_inside_the_store(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    paths = {store.new_temp_path(".jpg") for _ in range(50)}
    assert len(paths) == 50
    for path in paths:
        assert path.parent == tmp_path / "tmp"
        assert path.suffix == ".jpg"
        assert not path.exists()
    assert (tmp_path / "tmp").is_dir()


def test_open_blob_of_unknown_or_malformed_id_raises_file_not_found(tmp_path: Path) -> None:
    store = MediaStore(tmp_path)
    with pytest.raises(FileNotFoundError):
        store.open_blob("0" * 64)
    with pytest.raises(FileNotFoundError):
        store.open_blob("../../etc/passwd")


@pytest.mark.parametrize("bad", ["", "abc", "G" * 64, "A" * 64, "../" + "a" * 61, "a" * 65])
def test_blob_path_rejects_anything_but_a_digest(tmp_path: Path, bad: str) -> None:
    with pytest.raises(ValueError, match="not a SHA-256"):
        MediaStore(tmp_path).blob_path(bad)
