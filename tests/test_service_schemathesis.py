"""Property-based fuzzing of every operation in ``/openapi.json`` (schemathesis): whatever
it sends, the service answers without a 5xx. Examples are bounded so this stays quick."""

from __future__ import annotations

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from service_helpers import audio_name, image_name, running

from tokenizers_zoo.formats import NPY, accepted_types
from tokenizers_zoo.service.app import create_app
from tokenizers_zoo.service.settings import ServiceSettings

EXAMPLES_PER_OPERATION = 50
BINARY_TYPES = sorted({t for modality in ("image", "audio") for t in accepted_types(modality)} | {NPY})


@schemathesis.serializer(*BINARY_TYPES)
def _binary(ctx: schemathesis.SerializationContext, value: object) -> bytes:
    """Media bodies are bytes; generated strings are sent as their UTF-8."""
    return value if isinstance(value, bytes) else str(value).encode()


@pytest.mark.slow
def test_no_input_gets_a_5xx() -> None:
    names = (image_name(), audio_name())
    with running(create_app(ServiceSettings(tokenizers=names, max_body_bytes=1 << 20)), ready=True) as server:
        raw = httpx.get(f"{server.url}/openapi.json").json()
        # Random names would only ever meet the 404 check: fuzz the served ones (and one unknown).
        for path in raw["paths"].values():
            for operation in path.values():
                for parameter in operation.get("parameters", []):
                    if parameter["in"] == "path" and parameter["name"] == "name":
                        parameter["schema"] = {"type": "string", "enum": [*names, "no-such-tokenizer"]}
        schema = schemathesis.openapi.from_dict(raw)
        failures: list[str] = []
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 8

        for operation in operations:

            @given(case=operation.as_strategy())
            @settings(
                max_examples=EXAMPLES_PER_OPERATION,
                deadline=None,
                database=None,
                phases=[Phase.explicit, Phase.generate],
                suppress_health_check=list(HealthCheck),
            )
            def fuzz(case: schemathesis.Case) -> None:
                response = case.call(base_url=server.url, timeout=30)
                if response.status_code >= 500:
                    failures.append(
                        f"{case.method} {case.formatted_path}: {response.status_code} {response.text[:200]}"
                    )

            fuzz()
        assert failures == []
        served = httpx.get(f"{server.url}/metrics").text
        counts = [
            float(line.rsplit(" ", 1)[1])
            for line in served.splitlines()
            if line.startswith("tzoo_requests_total{")
        ]
        assert sum(counts) >= 5 * len(operations)  # the fuzzer did reach the service
        print("\n".join(line for line in served.splitlines() if line.startswith("tzoo_requests_total{")))
