"""Property-based fuzzing of every operation in ``/openapi.json`` (schemathesis): whatever
it sends, the service answers without a 5xx, and every answer is one the document
describes (status, content type, headers, body schema), so generated clients can trust
it. Examples are bounded so this stays quick."""

from __future__ import annotations

from pathlib import Path

import httpx
import pytest
import schemathesis
from hypothesis import HealthCheck, Phase, given, settings
from ntp_helpers import codes_of, random_checkpoint
from schemathesis.checks import (
    content_type_conformance,
    not_a_server_error,
    response_headers_conformance,
    response_schema_conformance,
    status_code_conformance,
)
from service_helpers import audio_name, image_name, metric, running

from tokenizers_zoo.formats import NPY, accepted_types
from tokenizers_zoo.ntp.vocabulary import Vocabulary
from tokenizers_zoo.service.app import create_app
from tokenizers_zoo.service.routers.encode import BATCH_PATH
from tokenizers_zoo.service.routers.generate import GENERATE_PATH
from tokenizers_zoo.service.settings import ServiceSettings

EXAMPLES_PER_OPERATION = 50
BINARY_TYPES = sorted({t for modality in ("image", "audio") for t in accepted_types(modality)} | {NPY})
CHECKS = [
    not_a_server_error,
    status_code_conformance,
    content_type_conformance,
    response_headers_conformance,
    response_schema_conformance,
]


@schemathesis.serializer(*BINARY_TYPES)
def _binary(ctx: schemathesis.SerializationContext, value: object) -> bytes:
    """Media bodies are bytes; generated strings are sent as their UTF-8."""
    return value if isinstance(value, bytes) else str(value).encode()


@pytest.mark.slow
def test_no_input_gets_a_5xx_or_an_undocumented_answer(tmp_path: Path) -> None:
    names = (image_name(), audio_name())
    vocab = Vocabulary(resolutions=((2, 2),), num_classes=2, media=(codes_of("image-fsq-f8-4k"),))
    model = random_checkpoint(tmp_path / "photos", vocab, "class_conditional", 16, ["blue", "red"])
    service = ServiceSettings(
        tokenizers=names, ntp_checkpoints=(str(model),), max_body_bytes=1 << 20, max_batch_items=4
    )
    app = create_app(service)
    with running(app, ready=True) as server:
        raw = httpx.get(f"{server.url}/openapi.json").json()
        # Random names would only ever meet the 404 check: fuzz the served ones (and one unknown).
        for path in raw["paths"].values():
            for operation in path.values():
                for parameter in operation.get("parameters", []):
                    if parameter["in"] == "path" and parameter["name"] == "name":
                        choices = [*names, model.name, "no-such-tokenizer"]
                        parameter["schema"] = {"type": "string", "enum": choices}
        schema = schemathesis.openapi.from_dict(raw)
        failures: list[str] = []
        operations = [result.ok() for result in schema.get_all_operations()]
        assert len(operations) >= 8 and BATCH_PATH in {operation.path for operation in operations}

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
                try:
                    case.call_and_validate(base_url=server.url, timeout=30, checks=CHECKS)
                except (Exception, BaseExceptionGroup) as exc:  # failed checks: collect all, then report
                    failures.append(f"{case.method} {case.formatted_path}: {str(exc)[:600]}")

            fuzz()
        assert failures == [], "\n\n".join(failures[:10])
        served = httpx.get(f"{server.url}/metrics").text
        counts = [
            float(line.rsplit(" ", 1)[1])
            for line in served.splitlines()
            if line.startswith("tzoo_requests_total{")
        ]
        assert sum(counts) >= 5 * len(operations)  # the fuzzer did reach the service
        # The batch route got bodies it could parse (it answers 200 with one result per item).
        batch = metric(server.url, "tzoo_requests_total", method="POST", route=BATCH_PATH, status="200")
        assert batch >= 10, served
        generated = metric(
            server.url, "tzoo_requests_total", method="POST", route=GENERATE_PATH, status="200"
        )
        assert generated >= 1, served  # some prompts fit the model
        print("\n".join(line for line in served.splitlines() if line.startswith("tzoo_requests_total{")))
