"""The node-pipelines object: the project's settings as constructor arguments, one function per
artefact. Each function maps its arguments to the pipeline's settings, builds the same plan
as `python -m pipelines.build` and hands it to the same stages."""

from __future__ import annotations

import dataclasses
import json
from functools import partial
from typing import Any

import anyio
import dagger
from dagger import function, object_type
from pydantic import SecretStr

from pipelines.audit import Target as AuditTarget
from pipelines.audit import audit_source, render_json
from pipelines.plan.emulation import report_emulation
from pipelines.platforms import Platform
from pipelines.registry.attestations import required_kinds
from pipelines.registry.credentials import explicit_credentials
from pipelines.registry.verify import NotVerified, verify_index
from pipelines.run.execute import check_targets, execute
from pipelines.run.graph import Clock, Images, build_graph
from pipelines.run.report import Report
from pipelines.stages.app import app_files
from pipelines.stages.image import oci_archive

from .arguments import (
    AllowMissing,
    AllowUnsupported,
    AptPackages,
    Attest,
    AuditMode,
    BaseImage,
    BindingsOutput,
    BuildAptPackages,
    BuildEnv,
    BuildScript,
    CacheNamespace,
    Emulation,
    Env,
    Exclude,
    Health,
    HealthPath,
    Image,
    Include,
    Init,
    Labels,
    NodeMajor,
    NodeOptions,
    OnePlatform,
    Password,
    Platforms,
    Port,
    ProbeEnv,
    ProbeServices,
    Reference,
    Require,
    Revision,
    RuntimePackageManager,
    Source,
    SourceUrl,
    StartCommand,
    Strict,
    TagRace,
    Tags,
    Username,
    Workspace,
)
from .plan import first_error, local_copy, planned, settings_for


@object_type
class NodePipelines:
    """Multi-platform images of Node.js services with native addons."""

    source: Source
    platforms: Platforms = ("linux/amd64", "linux/arm64")
    allow_unsupported_platforms: AllowUnsupported = False
    node_major: NodeMajor = None
    base_image: BaseImage = ""
    cache_namespace: CacheNamespace = "nodepipe"
    workspace: Workspace = None
    build_script: BuildScript = None
    start_command: StartCommand = ()
    include: Include = ()
    exclude: Exclude = ()
    apt_packages: AptPackages = ()
    build_apt_packages: BuildAptPackages = ()
    init: Init = False
    runtime_package_manager: RuntimePackageManager = False
    build_env: BuildEnv = ()
    env: Env = ()
    probe_env: ProbeEnv = ()
    probe_services: ProbeServices = ()
    port: Port = 8080
    health: Health = "auto"
    health_path: HealthPath = ""
    node_options: NodeOptions = "--max-old-space-size=2048"
    bindings_output: BindingsOutput = "build/Release"
    allow_missing: AllowMissing = ()
    strict: Strict = False
    emulation: Emulation = "warn"
    audit_mode: AuditMode = "online"
    labels: Labels = ()
    source_url: SourceUrl = ""
    revision: Revision = ""
    attest: Attest = True

    def _settings(self, **overrides: Any) -> dict[str, Any]:
        """The constructor's arguments under their settings names, with per-call overrides."""
        fields = dataclasses.fields(self)  # type: ignore[arg-type] # @object_type makes a dataclass
        values = {f.name: getattr(self, f.name) for f in fields}
        del values["source"]
        values["audit"] = values.pop("audit_mode")
        return {**values, **overrides}

    async def _images(self, **overrides: Any) -> tuple[Report, Images]:
        """The plan and its lazy graph, over the Directory the caller passed."""
        settings, plan = await planned(self.source, self._settings(**overrides))
        report_emulation(plan, settings.emulation)  # publish leaves this to execute()
        return Report(plan), build_graph(plan, self.source)

    @function
    async def build_image(self, platform: OnePlatform) -> dagger.Container:
        """The runtime image of one platform (not yet smoke-tested), ready to chain."""
        with first_error():
            _, images = await self._images(platforms=[platform])
            return images.runtimes[Platform.parse(platform)]

    @function
    async def build_output(self) -> dagger.Directory:
        """The application as the build stage leaves it: the files the image ships in /app."""
        with first_error():
            report, images = await self._images()
            return app_files(report.plan, images.app)

    @function
    async def build(self) -> dagger.File:
        """Every platform's image, checked, as one multi-platform OCI archive."""
        with first_error():
            report, images = await self._images()
            await check_targets(report.plan, images, Clock(report.durations), report)
            return oci_archive(images.variants)

    @function
    async def smoke(self, platform: OnePlatform) -> str:
        """Smoke, hygiene and health checks of one platform's image, as JSON."""
        with first_error():
            report, images = await self._images(platforms=[platform])
            await check_targets(report.plan, images, Clock(report.durations), report)
            return json.dumps(report.checks[str(Platform.parse(platform))], indent=2)

    @function
    async def publish(
        self,
        image: Image,
        tags: Tags = ("latest",),
        username: Username = "",
        password: Password = None,
        tag_race: TagRace = "warn",
    ) -> str:
        """Publish by digest, check and verify, then move the tags; returns REPO@sha256:..."""
        secret = SecretStr(await password.plaintext() if password else "")
        with first_error():
            settings, plan = await planned(self.source, self._settings(
                publish=True, image=image, tags=list(tags), tag_race=tag_race,
                registry_username=username, registry_password=secret,
            ))
            return await execute(settings, Report(plan), {}, source=self.source)

    @function
    async def audit(self) -> str:
        """Which production dependencies are native and how each platform gets them, as JSON."""
        with first_error():
            settings = settings_for(await local_copy(self.source), self._settings())
            targets = [AuditTarget.parse(str(p), settings.libc) for p in settings.platforms]
            offline = settings.audit == "offline"
            report = await anyio.to_thread.run_sync(
                partial(audit_source, settings.source, targets, offline=offline)
            )
            return render_json(report)

    @function
    async def verify(
        self,
        reference: Reference,
        platforms: Platforms = ("linux/amd64", "linux/arm64"),
        username: Username = "",
        password: Password = None,
        require: Require = (),
    ) -> str:
        """Check an image index in its registry (every platform once, real digests); JSON."""
        secret = SecretStr(await password.plaintext() if password else "")
        with first_error():
            login = explicit_credentials(username, secret)
            report = await verify_index(reference, platforms, login,
                                        require=required_kinds(require))
            if not report.ok:
                raise NotVerified(report)
            return json.dumps(report.to_json(), indent=2)
