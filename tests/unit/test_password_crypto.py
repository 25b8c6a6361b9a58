"""The cipher behind Password fields, masks, the field-type trait, and the site key file."""

from __future__ import annotations

import json
import threading

import pytest

from ristretto.meta.fieldtypes import FIELD_TYPES
from ristretto.model.passwords import EncryptionKeyError, decrypt, encrypt, is_mask, mask, new_key
from ristretto.site.site import ensure_encryption_key


def test_round_trip_and_fresh_tokens():
    key = new_key()
    for text in ("hunter2", "", "ünïcødé ✓", "x" * 5000):
        token = encrypt(text, key)
        assert text not in token or text == ""
        assert decrypt(token, key) == text
    assert encrypt("same", key) != encrypt("same", key)  # random IV: equal values do not show


def test_wrong_key_is_a_clear_error():
    token = encrypt("hunter2", new_key())
    with pytest.raises(EncryptionKeyError) as info:
        decrypt(token, new_key())
    assert info.value.http_status == 417
    assert "encryption_key" in info.value.message and "hunter2" not in info.value.message


@pytest.mark.parametrize("key", ["", "short", "not base64 at all!" * 3, "A" * 40, 12345])
def test_malformed_key_is_a_clear_error(key):
    with pytest.raises(EncryptionKeyError) as info:
        encrypt("hunter2", key)
    assert "encryption_key" in info.value.message


def test_altered_token_is_refused():
    key = new_key()
    token = encrypt("hunter2", key)
    altered = token[:20] + ("A" if token[20] != "A" else "B") + token[21:]
    for bad in (altered, "garbage", ""):
        with pytest.raises(EncryptionKeyError):
            decrypt(bad, key)


def test_masks():
    assert mask("hunter2") == "*******"
    assert is_mask("*") and is_mask("*******")
    assert not any(is_mask(v) for v in ("", None, "**a*", " ***", 7))


def test_password_is_the_only_secret_field_type():
    assert [name for name, ft in FIELD_TYPES.items() if ft.secret] == ["Password"]


def test_concurrent_first_need_agrees_on_one_key(tmp_path):
    config = tmp_path / "site_config.json"
    config.write_text(json.dumps({"db_url": "sqlite:///site.db", "other": 1}))
    config.chmod(0o600)
    keys: list[str] = []
    barrier = threading.Barrier(8)

    def worker():
        barrier.wait()
        keys.append(ensure_encryption_key(tmp_path))

    threads = [threading.Thread(target=worker) for _ in range(8)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(10)
    stored = json.loads(config.read_text())
    assert len(keys) == 8 and set(keys) == {stored["encryption_key"]}
    assert stored["other"] == 1 and stored["db_url"] == "sqlite:///site.db"
    assert config.stat().st_mode & 0o777 == 0o600
    assert ensure_encryption_key(tmp_path) == stored["encryption_key"]
