"""S3: a pointer object naming the version of the model object that is live."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any

from release_gates.deploy.calls import (
    TargetError,
    TargetNotFoundError,
)
from release_gates.deploy.targets import ClientSource, DeploymentTarget, Settle

if TYPE_CHECKING:
    from release_gates.deploy.identity import IdentitySettings, VersionIdentity


class S3PointerTarget(DeploymentTarget):
    """A pointer object ``s3://bucket/key`` whose JSON body names the serving model object version:
    ``{"key": "models/scorer/model.tar.gz", "version_id": "…"}`` (same bucket, versioning on).

    Setting a version rewrites the pointer; the pointer's own object versions are the deployment
    history that :meth:`previous_version` reads.
    """

    type = "s3_pointer"
    _HISTORY_DEPTH = 50

    def __init__(self, clients: ClientSource, *, bucket: str, key: str, **kwargs: Any) -> None:
        super().__init__(clients, **kwargs)
        self.bucket = bucket
        self.key = key
        self.client = clients("s3")
        self._model_key: str | None = None

    @property
    def description(self) -> str:
        return f"s3 pointer s3://{self.bucket}/{self.key}"

    def identity(self) -> dict[str, Any]:
        return {"type": self.type, "name": f"{self.bucket}/{self.key}"}

    def _pointer(self, pointer_version: str | None = None) -> dict[str, str]:
        params: dict[str, Any] = {"Bucket": self.bucket, "Key": self.key}
        if pointer_version:
            params["VersionId"] = pointer_version
        response = self._call(self.client, "get_object", **params)
        body = response["Body"].read(64 * 1024)
        try:
            document = json.loads(body)
            pointer = {"key": str(document["key"]), "version_id": str(document["version_id"])}
        except (ValueError, KeyError, TypeError) as exc:
            raise TargetError(
                f"{self.description}: the pointer is not JSON with 'key' and 'version_id'",
                service="s3",
                operation="GetObject",
                code="InvalidPointer",
            ) from exc
        if pointer_version is None:
            self._model_key = pointer["key"]
        return pointer

    def _model(self) -> str:
        if self._model_key is None:
            self._pointer()
        assert self._model_key is not None
        return self._model_key

    def current_version(self) -> str:
        return self._pointer()["version_id"]

    def set_version(self, version: str) -> None:
        version = self.normalize_version(version)
        model = self._model()
        # Never point at something that is not there: the pointer would serve a 404.
        self._call(self.client, "head_object", Bucket=self.bucket, Key=model, VersionId=version)
        body = json.dumps({"key": model, "version_id": version}, sort_keys=True).encode()
        self._call(
            self.client,
            "put_object",
            Bucket=self.bucket,
            Key=self.key,
            Body=body,
            ContentType="application/json",
        )
        self._desired = version

    standin_kind = "s3 drill pointer"

    def standin_name(self, drill_id: str) -> str:
        return f"{self.key}.rg-drill-{drill_id}"  # next to the live pointer, never read by the service

    def standin(self, name: str) -> DeploymentTarget:
        return self._adopt(
            S3PointerTarget(self._clients, bucket=self.bucket, key=name, **self._standin_options())
        )

    def create_standin(self, name: str, version: str) -> DeploymentTarget:
        version = self.normalize_version(version)
        body = json.dumps({"key": self._model(), "version_id": version}, sort_keys=True).encode()
        self._call(
            self.client, "put_object", Bucket=self.bucket, Key=name, Body=body, ContentType="application/json"
        )
        return self.standin(name)

    def remove_standin(self, name: str) -> bool:
        # Every object version of the drill pointer (and delete markers): nothing of it stays behind.
        found = self._call(self.client, "list_object_versions", Bucket=self.bucket, Prefix=name)
        entries = [
            entry
            for entry in [*found.get("Versions", []), *found.get("DeleteMarkers", [])]
            if entry.get("Key") == name
        ]
        if entries:
            deleted = self._call(
                self.client,
                "delete_objects",
                Bucket=self.bucket,
                Delete={"Objects": [{"Key": name, "VersionId": str(e["VersionId"])} for e in entries]},
            )
            if deleted.get("Errors"):
                first = deleted["Errors"][0]
                raise TargetError(
                    f"{self.description}: could not delete drill pointer {name}: {first.get('Message')}",
                    service="s3",
                    operation="DeleteObjects",
                    code=str(first.get("Code") or "DeleteFailed"),
                )
        return any(entry in found.get("Versions", []) for entry in entries)

    def previous_version(self) -> str | None:
        current = self.current_version()
        pointer_versions = [v for v in self._object_versions(self.key) if not v.get("IsLatest")]
        for entry in pointer_versions[: self._HISTORY_DEPTH]:
            try:
                named = self._pointer(str(entry["VersionId"]))["version_id"]
            except TargetError:
                continue  # an older pointer that is not a pointer names nothing deployable
            if named != current:
                return named
        # No pointer history: fall back to the model object's upload history.
        model_versions = [str(v["VersionId"]) for v in self._object_versions(self._model())]
        if current in model_versions:
            index = model_versions.index(current)
            if index + 1 < len(model_versions):
                return model_versions[index + 1]
        return None

    def _object_versions(self, key: str) -> list[dict[str, Any]]:
        """Versions of exactly ``key``, newest first (the order S3 lists them in)."""
        found: list[dict[str, Any]] = []
        params: dict[str, Any] = {"Bucket": self.bucket, "Prefix": key}
        while True:
            page = self._call(self.client, "list_object_versions", **params)
            found += [v for v in page.get("Versions", []) if v.get("Key") == key]
            if not page.get("IsTruncated"):
                return found
            params["KeyMarker"] = page.get("NextKeyMarker")
            params["VersionIdMarker"] = page.get("NextVersionIdMarker")

    def version_exists(self, version: str) -> bool:
        try:
            self._call(self.client, "head_object", Bucket=self.bucket, Key=self._model(), VersionId=version)
        except TargetNotFoundError:
            return False
        except TargetError as exc:
            if exc.http_status in (400, 405):  # malformed version id, or a delete marker
                return False
            raise
        return True

    def version_identity(self, version: str, settings: IdentitySettings) -> VersionIdentity:
        """The sha256 of the model object version the pointer would name: a tag or metadata the
        policy names, the version's ``ChecksumSHA256``, or its bytes. A pointer serves no image."""
        from release_gates.deploy.identity import ServingComponent, VersionIdentity, s3_model_facts

        version = self.normalize_version(version)

        def call(client: Any, method: str, **params: Any) -> dict[str, Any]:
            return self._call(client, method, **params)

        found = s3_model_facts(
            call, self.client, bucket=self.bucket, key=self._model(), version_id=version, settings=settings
        )
        facts = found.pop("facts", {})
        component = ServingComponent(
            name=f"s3://{self.bucket}/{self._model()}",
            image_note="an S3 model pointer serves no container image",
            facts=facts,
            **found,
        )
        return VersionIdentity(self.identity(), version, (component,))

    def _settle(self, version: str) -> Settle:
        named = self._pointer()["version_id"]
        if named != version:
            return Settle("pending", f"pointer names {named}")
        self._call(self.client, "head_object", Bucket=self.bucket, Key=self._model(), VersionId=version)
        return Settle("stable", "pointer and object in place", {"model_key": self._model()})

    def _platform_health(self) -> tuple[bool, str | None, str, dict[str, Any]]:
        version = self.current_version()
        try:
            head = self._call(
                self.client, "head_object", Bucket=self.bucket, Key=self._model(), VersionId=version
            )
        except TargetNotFoundError:
            return False, version, f"model object version {version} is missing", {}
        facts = {"model_key": self._model(), "content_length": head.get("ContentLength")}
        return True, version, "model object readable", facts

    def write_permissions(self) -> list[tuple[str, str]]:
        return [("s3:PutObject", f"arn:aws:s3:::{self.bucket}/{self.key}")]

    def watched_by(self, dimensions: dict[str, str]) -> bool:
        return dimensions.get("BucketName") == self.bucket
