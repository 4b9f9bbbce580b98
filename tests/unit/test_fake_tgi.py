"""The TGI fake speaks TGI's wire protocol: routes, SSE framing, limits and error bodies, as raw HTTP shows them."""

from __future__ import annotations

import json
from collections.abc import Iterator

import pytest
import requests

from tests.fakes.tgi import FakeTgi

SOURCES = "<sources>\n[1] Leave\nStaff get 25 days. They carry over five.\n</sources>\n\nQuestion: leave?"
CHAT = {"model": "tgi", "messages": [{"role": "user", "content": SOURCES}], "max_tokens": 50}


@pytest.fixture
def tgi() -> Iterator[FakeTgi]:
    with FakeTgi(max_input_tokens=200, max_total_tokens=300) as server:
        yield server


def test_info_health_and_models_look_like_tgis(tgi: FakeTgi) -> None:
    info = requests.get(f"{tgi.url}/info", timeout=5).json()
    assert info["router"] == "text-generation-router" and info["max_input_tokens"] == 200
    assert {"model_id", "max_total_tokens", "version", "max_concurrent_requests"} <= set(info)
    assert requests.get(f"{tgi.url}/health", timeout=5).status_code == 200
    tgi.healthy = False
    sick = requests.get(f"{tgi.url}/health", timeout=5)
    assert sick.status_code == 503 and sick.json() == {"error": "unhealthy", "error_type": "healthcheck"}
    models = requests.get(f"{tgi.url}/v1/models", timeout=5).json()
    assert [m["id"] for m in models["data"]] == [info["model_id"]]


def test_a_completion_and_its_stream_carry_the_same_text(tgi: FakeTgi) -> None:
    whole = requests.post(f"{tgi.url}/v1/chat/completions", json=CHAT, timeout=5).json()
    assert whole["object"] == "chat.completion" and whole["choices"][0]["finish_reason"] == "stop"
    assert whole["choices"][0]["message"] == {"role": "assistant", "content": "Staff get 25 days. [1]"}
    streamed = requests.post(
        f"{tgi.url}/v1/chat/completions",
        json={**CHAT, "stream": True, "stream_options": {"include_usage": True}},
        timeout=5,
        stream=True,
    )
    assert streamed.headers["Content-Type"] == "text/event-stream"
    events = [line for line in streamed.iter_lines(decode_unicode=True) if line]
    assert all(line.startswith("data: ") for line in events) and events[-1] == "data: [DONE]"
    chunks = [json.loads(line.removeprefix("data: ")) for line in events[:-1]]
    assert "".join(c["choices"][0]["delta"]["content"] for c in chunks) == "Staff get 25 days. [1]"
    assert chunks[-1]["usage"]["completion_tokens"] == len(chunks) and chunks[0]["usage"] is None


def test_limits_and_failures_answer_with_tgis_error_bodies(tgi: FakeTgi) -> None:
    too_long = {**CHAT, "messages": [{"role": "user", "content": "word " * 300}]}
    rejected = requests.post(f"{tgi.url}/v1/chat/completions", json=too_long, timeout=5)
    assert rejected.status_code == 422 and rejected.json()["error_type"] == "validation"
    assert rejected.json()["error"].startswith("Input validation error: `inputs` must have less than 200 tokens")
    too_much = requests.post(f"{tgi.url}/v1/chat/completions", json={**CHAT, "max_tokens": 280}, timeout=5)
    assert too_much.status_code == 422 and "must be <= 300" in too_much.json()["error"]
    tgi.fail_next(429)
    busy = requests.post(f"{tgi.url}/v1/chat/completions", json=CHAT, timeout=5)
    assert busy.status_code == 429 and busy.json() == {"error": "Model is overloaded", "error_type": "overloaded"}
    assert requests.post(f"{tgi.url}/v1/chat/completions", json=CHAT, timeout=5).status_code == 200
