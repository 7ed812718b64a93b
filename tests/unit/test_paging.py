"""fhir/paging.py: signed `_page` cursors and the paging key."""

from __future__ import annotations

import base64
import stat
import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest

from patientkontrakt.fhir import paging
from patientkontrakt.fhir.paging import PageSigner, load_secret
from patientkontrakt.outcomes import FhirError

QUERY = "Patient?identifier=http%3A%2F%2Felectronichealth.se%2Fidentifier%2Fpersonnummer%7C1"
POSITION = {"after": "4f1c2a9e-0000-4000-8000-000000000001"}


@pytest.fixture
def signer() -> PageSigner:
    return PageSigner(b"unit-test-secret", ttl=60)


def assert_fhir_error(caught: pytest.ExceptionInfo[FhirError], status: int, code: str) -> None:
    assert caught.value.status == status
    assert [i.code for i in caught.value.issues] == [code]


def test_round_trip(signer: PageSigner) -> None:
    token = signer.sign(QUERY, POSITION)
    assert signer.verify(QUERY, token) == POSITION


def test_round_trip_of_a_history_position(signer: PageSigner) -> None:
    token = signer.sign("_history?_count=2", {"before": 41})
    assert signer.verify("_history?_count=2", token) == {"before": 41}


def test_token_is_url_safe(signer: PageSigner) -> None:
    token = signer.sign(QUERY, {"after": "é/+?&=" * 5})
    assert set(token) <= set("ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_.")


def test_another_query_is_a_400(signer: PageSigner) -> None:
    token = signer.sign(QUERY, POSITION)
    with pytest.raises(FhirError) as caught:
        signer.verify("Patient?identifier=2", token)
    assert_fhir_error(caught, 400, "invalid")


def test_tampered_payload_is_a_400(signer: PageSigner) -> None:
    body, _, mac = signer.sign(QUERY, {"after": "a"}).partition(".")
    payload = base64.urlsafe_b64decode(body + "=" * (-len(body) % 4))
    forged = payload.replace(b'"after":"a"', b'"after":"b"')
    assert forged != payload
    forged_body = base64.urlsafe_b64encode(forged).rstrip(b"=").decode()
    with pytest.raises(FhirError) as caught:
        signer.verify(QUERY, f"{forged_body}.{mac}")
    assert_fhir_error(caught, 400, "invalid")


def test_tampered_mac_is_a_400(signer: PageSigner) -> None:
    body, _, mac = signer.sign(QUERY, POSITION).partition(".")
    flipped = ("A" if mac[0] != "A" else "B") + mac[1:]
    with pytest.raises(FhirError) as caught:
        signer.verify(QUERY, f"{body}.{flipped}")
    assert_fhir_error(caught, 400, "invalid")


def test_another_key_is_a_400(signer: PageSigner) -> None:
    token = PageSigner(b"another-secret", ttl=60).sign(QUERY, POSITION)
    with pytest.raises(FhirError) as caught:
        signer.verify(QUERY, token)
    assert_fhir_error(caught, 400, "invalid")


@pytest.mark.parametrize("token", ["", ".", "garbage", "abc.def", "!!!.???", "a.b.c"])
def test_garbage_is_a_400(signer: PageSigner, token: str) -> None:
    with pytest.raises(FhirError) as caught:
        signer.verify(QUERY, token)
    assert_fhir_error(caught, 400, "invalid")


def test_expired_link_is_a_410(signer: PageSigner, monkeypatch: pytest.MonkeyPatch) -> None:
    token = signer.sign(QUERY, POSITION)
    later = time.time() + 61
    monkeypatch.setattr(paging.time, "time", lambda: later)
    with pytest.raises(FhirError) as caught:
        signer.verify(QUERY, token)
    assert_fhir_error(caught, 410, "expired")


def test_link_is_valid_until_its_ttl(signer: PageSigner, monkeypatch: pytest.MonkeyPatch) -> None:
    token = signer.sign(QUERY, POSITION)
    later = time.time() + 55
    monkeypatch.setattr(paging.time, "time", lambda: later)
    assert signer.verify(QUERY, token) == POSITION


def test_configured_secret_wins_and_writes_no_file(tmp_path: Path) -> None:
    assert load_secret("shared-by-all-replicas", tmp_path / "data") == b"shared-by-all-replicas"
    assert not (tmp_path / "data").exists()


def test_generated_secret_is_kept_private_and_reused(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "data"
    first = load_secret(None, data_dir)
    key_file = data_dir / "paging.key"
    assert key_file.is_file()
    assert stat.S_IMODE(key_file.stat().st_mode) == 0o600
    assert len(first) >= 32
    assert load_secret(None, data_dir) == first
    # A cursor signed before a restart still verifies after it.
    token = PageSigner(first, 60).sign(QUERY, POSITION)
    assert PageSigner(load_secret(None, data_dir), 60).verify(QUERY, token) == POSITION


def test_generated_secrets_differ_between_data_dirs(tmp_path: Path) -> None:
    assert load_secret(None, tmp_path / "a") != load_secret(None, tmp_path / "b")


def test_existing_key_is_kept(tmp_path: Path) -> None:
    (tmp_path / "paging.key").write_text("kept-from-last-start\n")
    assert load_secret(None, tmp_path) == b"kept-from-last-start"
    assert [p.name for p in tmp_path.iterdir()] == ["paging.key"]


def test_workers_starting_together_share_one_key(tmp_path: Path) -> None:
    # uvicorn's workers each build the app at the same moment on a fresh data dir.
    workers = 8
    for attempt in range(20):
        data_dir = tmp_path / str(attempt)
        start = threading.Barrier(workers)

        def worker(data_dir: Path = data_dir, start: threading.Barrier = start) -> bytes:
            start.wait()
            return load_secret(None, data_dir)

        with ThreadPoolExecutor(workers) as pool:
            keys = list(pool.map(lambda _: worker(), range(workers)))
        assert len(set(keys)) == 1
        assert keys[0] == (data_dir / "paging.key").read_text().encode()
        assert [p.name for p in data_dir.iterdir()] == ["paging.key"]
