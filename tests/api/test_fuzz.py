"""Fuzz every operation of the OpenAPI schema (schemathesis, valid and invalid inputs) on a
hub of its own: whatever comes in, the answer is a JSON error of a documented status or a
success — never a 500. Bounded to a few examples per operation, so it runs in seconds.

The hub runs a copy of the demo space with its automation files, so that the editor's
`PUT` / `DELETE /api/automations/…` meet real files; afterwards every file still loads."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from hypothesis.errors import Unsatisfiable
from schemathesis import GenerationMode
from tests.helpers.api_hub import Hub, copy_demo_space, folder_hub

from hyperhub.automation import load_automations
from hyperhub.space import load_space

EXAMPLES = 12  # per operation and mode
DOCUMENTED = {200, 201, 400, 401, 403, 404, 405, 409, 412, 413, 415, 422, 428, 429, 503}
SKIPPED = {("POST", "/api/auth/logout")}  # it would revoke the fuzzer's own token


@pytest.fixture(scope="module")
def fuzz_hub(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Hub]:
    folder = copy_demo_space(tmp_path_factory.mktemp("fuzz-space"))
    with folder_hub(folder, tmp_path_factory.mktemp("fuzz")) as running:
        yield running
    # whatever the fuzzer sent, the files still load
    load_automations(load_space(folder / "space.yaml"))


@pytest.mark.parametrize("mode", [GenerationMode.POSITIVE, GenerationMode.NEGATIVE])
def test_fuzzed_requests_never_get_a_server_error(fuzz_hub: Hub, mode: GenerationMode):
    token = fuzz_hub.token("read", "control", "control:risky", "admin", name="fuzzer")
    schema = schemathesis.openapi.from_url(f"{fuzz_hub.url}/openapi.json")
    headers = {"Authorization": f"Bearer {token}"}
    seen: dict[int, int] = {}
    operations = [r.ok() for r in schema.get_all_operations()]
    assert len(operations) >= 15
    for operation in operations:
        if (operation.method.upper(), operation.path) in SKIPPED:
            continue

        @given(case=operation.as_strategy(generation_mode=mode))
        @settings(
            max_examples=EXAMPLES,
            deadline=None,
            database=None,
            derandomize=True,
            phases=[Phase.explicit, Phase.generate],
            suppress_health_check=list(HealthCheck),
        )
        def check(case: schemathesis.Case) -> None:
            response = case.call(base_url=fuzz_hub.url, headers=headers, timeout=15)
            label = f"{case.method} {case.formatted_path} -> {response.status_code}"
            seen[response.status_code] = seen.get(response.status_code, 0) + 1
            assert response.status_code in DOCUMENTED, f"{label}: {response.text[:300]}"
            if response.status_code >= 400:
                error = response.json()["error"]
                assert error["status"] == response.status_code and error["message"], label
            if response.status_code == 503:  # only a device that did not answer, never a bug
                assert error["code"] in ("device_unavailable", "device_timeout"), label

        try:
            check()
        except Unsatisfiable:  # nothing to make invalid (no parameters, no body)
            assert mode == GenerationMode.NEGATIVE, operation.label
    assert 500 not in seen and seen.get(200, 0) > 0, seen
