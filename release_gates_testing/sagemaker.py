"""A moto server (real HTTP) for SageMaker endpoints, with the ``UpdateEndpoint`` call moto lacks.

moto implements CreateModel, CreateEndpointConfig, CreateEndpoint, DescribeEndpoint(Config),
ListEndpointConfigs and DescribeModel; it has no UpdateEndpoint. :func:`start_sagemaker_moto` runs
moto's own server in this process (``ThreadedMotoServer``) with a handler added for it, modelled on
the real call: the endpoint moves to the new config and reports ``Updating`` for the next
``updating_polls`` DescribeEndpoint calls, then ``InService``. Every update is logged in
:attr:`SageMakerServer.updates`, so a test sees each change the code under test made.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass, field
from typing import Any

from release_gates_testing.processes import free_port


@dataclass
class SageMakerServer:
    url: str
    server: Any
    updates: list[dict[str, str]] = field(default_factory=list)
    updating_polls: int = 1

    def stop(self) -> None:
        self.server.stop()


_installed: dict[str, SageMakerServer] = {}
_lock = threading.Lock()


def _install_update_endpoint() -> None:
    """Add UpdateEndpoint to moto's SageMaker backend and its HTTP response class (once)."""
    from moto.core.responses import ActionResult
    from moto.sagemaker.exceptions import ValidationError
    from moto.sagemaker.models import FakeEndpoint, SageMakerModelBackend
    from moto.sagemaker.responses import SageMakerResponse

    if hasattr(SageMakerModelBackend, "update_endpoint"):
        return
    settling: dict[str, int] = {}

    def update_endpoint(self: SageMakerModelBackend, endpoint_name: str, config_name: str) -> FakeEndpoint:
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is None:
            arn = FakeEndpoint.arn_formatter(endpoint_name, self.account_id, self.region_name)
            raise ValidationError(message=f"Could not find endpoint '{arn}'.")
        config = self.describe_endpoint_config(config_name)  # ValidationError when it does not exist
        endpoint.endpoint_config_name = config_name
        endpoint.production_variants = endpoint._process_production_variants(config["ProductionVariants"])
        endpoint.endpoint_status = "Updating"
        server = _installed.get("server")
        settling[endpoint.arn] = server.updating_polls if server is not None else 0
        if server is not None:
            server.updates.append({"endpoint": endpoint_name, "endpoint_config": config_name})
        return endpoint

    original_describe = SageMakerModelBackend.describe_endpoint

    def describe_endpoint(self: SageMakerModelBackend, endpoint_name: str) -> dict[str, Any]:
        endpoint = self.endpoints.get(endpoint_name)
        if endpoint is not None and endpoint.endpoint_status == "Updating":
            left = settling.get(endpoint.arn, 0)
            if left <= 0:
                endpoint.endpoint_status = "InService"
            settling[endpoint.arn] = left - 1
        return original_describe(self, endpoint_name)

    def update_endpoint_response(self: SageMakerResponse) -> ActionResult:
        endpoint = self.sagemaker_backend.update_endpoint(  # type: ignore[attr-defined]
            self._get_param("EndpointName"), self._get_param("EndpointConfigName")
        )
        return ActionResult({"EndpointArn": endpoint.arn})

    SageMakerModelBackend.update_endpoint = update_endpoint  # type: ignore[attr-defined]
    SageMakerModelBackend.describe_endpoint = describe_endpoint  # type: ignore[method-assign]
    SageMakerResponse.update_endpoint = update_endpoint_response  # type: ignore[attr-defined]


def start_sagemaker_moto(*, updating_polls: int = 1) -> SageMakerServer:
    """moto's server on a free loopback port in this process, with UpdateEndpoint (see above)."""
    from moto.server import ThreadedMotoServer

    with _lock:
        _install_update_endpoint()
        port = free_port()
        server = ThreadedMotoServer(ip_address="127.0.0.1", port=port, verbose=False)
        server.start()
        handle = SageMakerServer(f"http://127.0.0.1:{port}", server, updating_polls=updating_polls)
        _installed["server"] = handle
    return handle
