"""docker/ read statically and checked against the code (no Docker daemon is needed).

Every ``hpsearch`` command and flag the files and docs run exists in the CLI, every HPSEARCH_*
variable they set is one hpsearch reads, every ``ray start`` flag exists, ports and service
names line up, health checks exist, published ports are on loopback only, nothing runs as root,
passwords come only from secret files, and Ray's token authentication is never turned off.
"""

from __future__ import annotations

import os
import re
import shlex
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[2]
DOCKER = ROOT / "docker"
PACKAGE = ROOT / "hpsearch"
SECRETS_DIR = "/run/secrets/"
RAY_NODES = ("ray-head", "ray-worker")


# --- readers ------------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    return yaml.safe_load((DOCKER / "compose.yaml").read_text())


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


@pytest.fixture(scope="module")
def rayjob() -> dict[str, Any]:
    return yaml.safe_load((DOCKER / "kuberay-rayjob.yaml").read_text())


def dockerfile_instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) in order, continuation lines joined, comments dropped."""
    out, buffer = [], ""
    for raw in (DOCKER / "Dockerfile").read_text().splitlines():
        line = raw.strip()
        if not buffer and (not line or line.startswith("#")):
            continue
        if line.startswith("#"):  # a comment inside a continued instruction
            continue
        if line.endswith("\\"):
            buffer += line[:-1] + " "
            continue
        buffer += line
        word, _, rest = buffer.partition(" ")
        out.append((word.upper(), rest.strip()))
        buffer = ""
    return out


def final_stage() -> list[tuple[str, str]]:
    instructions = dockerfile_instructions()
    last_from = max(i for i, (word, _) in enumerate(instructions) if word == "FROM")
    return instructions[last_from:]


def as_words(command: Any) -> list[str]:
    """A compose/Kubernetes command (list or string) or a Dockerfile exec/shell form as words."""
    if command is None:
        return []
    if isinstance(command, list):
        return [str(c) for c in command]
    text = str(command).strip()
    if text.startswith("["):
        return [str(c) for c in yaml.safe_load(text)]
    return shlex.split(text)


def flag_value(words: list[str], flag: str) -> str | None:
    for i, word in enumerate(words):
        if word == flag and i + 1 < len(words):
            return words[i + 1]
        if word.startswith(flag + "="):
            return word.split("=", 1)[1]
    return None


def shell_blocks(markdown: str) -> list[str]:
    """Commands in ```bash / ```sh blocks: continuation lines joined, comments dropped."""
    commands = []
    for block in re.findall(r"```(?:bash|sh|console|shell)\n(.*?)```", markdown, re.S):
        joined = re.sub(r"\\\n\s*", " ", block)
        for line in joined.splitlines():
            line = re.sub(r"(^|\s)#.*$", "", line).strip()
            if line:
                commands.append(line)
    return commands


def command_lines() -> list[str]:
    """Every command line the Docker files and their docs run or tell users to run."""
    lines = []
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    for svc in compose["services"].values():
        words = as_words(svc.get("entrypoint")) + as_words(svc.get("command"))
        lines.append(shlex.join(words))
    for word, args in dockerfile_instructions():
        if word in ("RUN", "CMD", "ENTRYPOINT"):
            lines.append(" ".join(as_words(args)) if args.startswith("[") else args)
    rayjob = yaml.safe_load((DOCKER / "kuberay-rayjob.yaml").read_text())
    lines.append(rayjob["spec"]["entrypoint"])
    for doc in (DOCKER / "README.md", ROOT / "README.md", DOCKER / "compose.yaml"):
        text = doc.read_text()
        if doc == ROOT / "README.md":  # its cluster section; other sections are checked elsewhere
            text = "## " + text.split("\n## Run on a Ray cluster", 1)[1].split("\n## ", 1)[0]
        if doc.suffix == ".yaml":  # the indented usage lines in compose.yaml's header comment
            usage = [ln[1:] for ln in text.splitlines() if ln.startswith("#   ")]
            text = "```bash\n" + "\n".join(usage) + "\n```"
        lines += shell_blocks(text)
    return lines


def hpsearch_invocations(line: str) -> list[list[str]]:
    """The words after each `hpsearch` that is a program name in a command line."""
    found = []
    for part in re.split(r"&&|\|\||[;|]", line):
        try:
            words = shlex.split(part)
        except ValueError:
            words = part.split()
        for i, word in enumerate(words):
            if word == "hpsearch" or word.endswith("/bin/hpsearch"):
                found.append([w for w in words[i + 1 :] if not w.startswith((">", "2>"))])
    return found


def env_names_set() -> dict[str, set[str]]:
    """Environment variable names each Docker file sets, by file."""
    names: dict[str, set[str]] = {}
    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    names["compose.yaml"] = {
        key for svc in compose["services"].values() for key in (svc.get("environment") or {})
    }
    dockerfile = set()
    for word, args in dockerfile_instructions():
        if word == "ENV":
            dockerfile |= set(re.findall(r"([A-Z_][A-Z0-9_]*)=", args))
    names["Dockerfile"] = dockerfile
    entrypoint = (DOCKER / "entrypoint.sh").read_text()
    names["entrypoint.sh"] = set(
        re.findall(r"^\s*(?:export\s+)?([A-Z_][A-Z0-9_]*)=", entrypoint, re.M)
    )
    names[".env.example"] = set(
        re.findall(r"^([A-Z_][A-Z0-9_]*)=", (DOCKER / ".env.example").read_text(), re.M)
    )
    rayjob = yaml.safe_load((DOCKER / "kuberay-rayjob.yaml").read_text())
    names["kuberay-rayjob.yaml"] = set(re.findall(r"'name': '([A-Z_][A-Z0-9_]*)'", str(rayjob)))
    return names


def package_source() -> str:
    return "\n".join(p.read_text() for p in sorted(PACKAGE.rglob("*.py")))


# --- the CLI ------------------------------------------------------------------------------------


def test_every_hpsearch_command_and_flag_exists_in_the_cli() -> None:
    import typer

    from hpsearch.cli import app

    root = typer.main.get_command(app)
    used: set[str] = set()
    for line in command_lines():
        for words in hpsearch_invocations(line):
            cmd, path = root, ["hpsearch"]
            rest = list(words)
            while hasattr(cmd, "commands") and rest and not rest[0].startswith("-"):
                name = rest.pop(0)
                assert name in cmd.commands, f"`{' '.join(path)} {name}` does not exist: {line!r}"
                cmd = cmd.commands[name]
                path.append(name)
            used.add(" ".join(path[1:]))
            known = {opt for p in cmd.params for opt in (*p.opts, *p.secondary_opts)} | {"--help"}
            for word in rest:
                if word.startswith("--"):
                    flag = word.split("=", 1)[0]
                    assert flag in known, f"`{' '.join(path)}` has no option {flag}: {line!r}"
    # the files do run searches and query them: this test is not vacuous
    assert {"run", "trials"} <= used, used


def test_every_ray_start_flag_exists(services: dict[str, Any]) -> None:
    from ray.scripts.scripts import start

    known = {opt for p in start.params for opt in p.opts}
    for name in RAY_NODES:
        words = as_words(services[name]["command"])
        assert words[:2] == ["ray", "start"], words
        assert "--block" in words, f"{name}: `ray start` must block, or the container exits"
        for word in words[2:]:
            flag = word.split("=", 1)[0]
            assert flag in known, f"{name}: `ray start` has no option {flag}"
    for key in rayjob_start_params(yaml.safe_load((DOCKER / "kuberay-rayjob.yaml").read_text())):
        assert f"--{key}" in known, f"kuberay-rayjob.yaml: `ray start` has no option --{key}"


def rayjob_start_params(rayjob: dict[str, Any]) -> set[str]:
    spec = rayjob["spec"]["rayClusterSpec"]
    keys = set(spec["headGroupSpec"]["rayStartParams"])
    for group in spec["workerGroupSpecs"]:
        keys |= set(group["rayStartParams"])
    return keys


# --- environment variables ----------------------------------------------------------------------


def test_every_hpsearch_variable_set_is_one_hpsearch_reads() -> None:
    source = package_source()
    seen = set()
    for where, names in env_names_set().items():
        for name in names:
            if name.startswith("HPSEARCH_"):
                seen.add(name)
                assert f'"{name}"' in source, f"{where} sets {name}, which hpsearch never reads"
    assert "HPSEARCH_STORAGE" in seen  # the entrypoint and the KubeRay head set the database URL


def test_entrypoint_reads_every_postgres_variable_compose_gives_it(
    services: dict[str, Any],
) -> None:
    entrypoint = (DOCKER / "entrypoint.sh").read_text()
    for name, svc in services.items():
        if name == "postgres":
            continue
        for key in svc.get("environment") or {}:
            if key.startswith("POSTGRES_"):
                assert f'"{key}"' in entrypoint, f"{name} sets {key}; the entrypoint ignores it"


def run_entrypoint(tmp_path: Path, password: str | None, **env: str) -> subprocess.CompletedProcess:
    full = {
        "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}",
        "POSTGRES_USER": "searcher",
        "POSTGRES_DB": "results",
        "POSTGRES_HOST": "postgres",
        **env,
    }
    if password is not None:
        secret = tmp_path / "postgres_password"
        secret.write_text(password)
        full["POSTGRES_PASSWORD_FILE"] = str(secret)
    show = "import os; print(os.environ.get('HPSEARCH_STORAGE', ''))"
    return subprocess.run(
        ["sh", str(DOCKER / "entrypoint.sh"), "python", "-c", show],
        env=full,
        capture_output=True,
        text=True,
        timeout=30,
    )


def test_entrypoint_builds_the_storage_url_from_the_secret(tmp_path: Path) -> None:
    from sqlalchemy.engine import make_url

    from hpsearch.storage import mask_url

    password = "p@ss:w/rd%?#1"  # characters that must be escaped inside a URL
    out = run_entrypoint(tmp_path, password + "\n")
    assert out.returncode == 0, out.stderr
    url = make_url(out.stdout.strip())
    assert url.password == password
    assert (url.username, url.host, url.port, url.database) == (
        "searcher",
        "postgres",
        5432,
        "results",
    )
    assert url.drivername == "postgresql+psycopg"
    assert password not in mask_url(url)


def test_entrypoint_keeps_a_given_url_and_fails_in_one_line(tmp_path: Path) -> None:
    given = "sqlite:////data/hpsearch.db"
    out = run_entrypoint(tmp_path, "secret", HPSEARCH_STORAGE=given)
    assert out.stdout.strip() == given
    out = run_entrypoint(tmp_path, None)  # no secret: no URL, hpsearch uses its default
    assert out.returncode == 0 and out.stdout.strip() == ""
    out = run_entrypoint(tmp_path, "")
    assert out.returncode != 0
    assert out.stderr.strip().count("\n") == 0 and "POSTGRES_PASSWORD_FILE" in out.stderr
    out = run_entrypoint(tmp_path, None, POSTGRES_PASSWORD_FILE=str(tmp_path / "missing"))
    assert out.returncode != 0 and "cannot read" in out.stderr
    assert "Traceback" not in out.stderr


# --- ports and names ----------------------------------------------------------------------------


def published(svc: dict[str, Any]) -> list[tuple[str | None, int, int]]:
    """(host ip, host port, container port) for each published port, short or long syntax."""
    out = []
    for entry in svc.get("ports") or []:
        if isinstance(entry, dict):
            out.append((entry.get("host_ip"), int(entry["published"]), int(entry["target"])))
            continue
        parts = str(entry).split("/")[0].split(":")
        if len(parts) == 3:
            out.append((parts[0], int(parts[1]), int(parts[2])))
        elif len(parts) == 2:
            out.append((None, int(parts[0]), int(parts[1])))
        else:
            out.append((None, int(parts[0]), int(parts[0])))
    return out


def test_ports_and_service_names_line_up(services: dict[str, Any]) -> None:
    head = as_words(services["ray-head"]["command"])
    worker = as_words(services["ray-worker"]["command"])
    gcs_port = flag_value(head, "--port")
    dashboard_port = int(flag_value(head, "--dashboard-port") or 8265)
    host, _, port = (flag_value(worker, "--address") or "").rpartition(":")
    assert host == "ray-head" and host in services, f"worker joins {host!r}"
    assert port == gcs_port, f"worker joins port {port}, the head listens on {gcs_port}"

    [(_, host_port, container_port)] = published(services["ray-head"])
    assert container_port == dashboard_port
    submits = [ln for ln in command_lines() if "ray job submit" in ln]
    assert submits, "the docs show no `ray job submit`"
    for line in submits:
        address = flag_value(shlex.split(line), "--address")
        assert address == f"http://127.0.0.1:{host_port}", f"{address} in {line!r}"

    for name, svc in services.items():
        env = svc.get("environment") or {}
        if "POSTGRES_HOST" in env:
            assert env["POSTGRES_HOST"] in services and env["POSTGRES_HOST"] == "postgres"
            assert str(env.get("POSTGRES_PORT", "5432")) == "5432"  # the server's default port
        for needed in svc.get("depends_on") or {}:
            assert needed in services, f"{name} depends on unknown service {needed}"


def test_secrets_are_mounted_where_the_variables_point(
    compose: dict[str, Any], services: dict[str, Any]
) -> None:
    defined = set(compose["secrets"])
    for name, svc in services.items():
        mounted = {s if isinstance(s, str) else s["source"] for s in svc.get("secrets") or []}
        assert mounted <= defined, f"{name} mounts undefined secrets {mounted - defined}"
        for key, value in (svc.get("environment") or {}).items():
            if key.endswith(("_FILE", "_TOKEN_PATH")):
                assert str(value).startswith(SECRETS_DIR), f"{name}: {key}={value}"
                assert str(value).removeprefix(SECRETS_DIR) in mounted, f"{name}: {key} unmounted"
    for secret in compose["secrets"].values():
        assert secret["file"].startswith("./secrets/")
    ignored = (DOCKER / ".gitignore").read_text().split()
    assert "secrets/" in ignored and ".env" in ignored


# --- health, exposure, privileges, secrets, auth ------------------------------------------------


def test_health_checks_exist(services: dict[str, Any]) -> None:
    pg = " ".join(as_words(services["postgres"]["healthcheck"]["test"]))
    assert "pg_isready" in pg
    head = " ".join(as_words(services["ray-head"]["healthcheck"]["test"]))
    dashboard_port = flag_value(as_words(services["ray-head"]["command"]), "--dashboard-port")
    assert f"127.0.0.1:{dashboard_port}/api/gcs_healthz" in head  # tried for real in the e2e test
    for name in RAY_NODES:
        assert services[name]["depends_on"], name
    assert services["ray-head"]["depends_on"]["postgres"]["condition"] == "service_healthy"
    assert services["ray-worker"]["depends_on"]["ray-head"]["condition"] == "service_healthy"


def test_published_ports_are_on_loopback_and_postgres_has_none(services: dict[str, Any]) -> None:
    assert "ports" not in services["postgres"]
    assert any(published(svc) for svc in services.values())
    for name, svc in services.items():
        assert svc.get("network_mode") != "host", name
        for host_ip, host_port, _ in published(svc):
            assert host_ip == "127.0.0.1", f"{name} publishes {host_port} on every interface"
    assert "ports" not in services["ray-worker"] and "container_name" not in services["ray-worker"]


def test_nothing_runs_as_root(services: dict[str, Any], rayjob: dict[str, Any]) -> None:
    stage = final_stage()
    users = [args for word, args in stage if word == "USER"]
    assert users, "the image must switch to a non-root user"
    user = users[-1].split(":")[0]
    assert user not in ("root", "0")
    creates = [args for word, args in stage if word == "RUN" and "useradd" in args]
    assert any(re.search(rf"--uid\s+(\d+).*\b{user}\b", c) for c in creates), creates
    uid = int(re.search(r"--uid\s+(\d+)", creates[0]).group(1))
    assert uid != 0
    for name, svc in services.items():
        assert str(svc.get("user", "")).split(":")[0] not in ("root", "0"), name
        assert not svc.get("privileged"), name
    pods = [rayjob["spec"]["submitterPodTemplate"]["spec"]]
    cluster = rayjob["spec"]["rayClusterSpec"]
    pods.append(cluster["headGroupSpec"]["template"]["spec"])
    pods += [g["template"]["spec"] for g in cluster["workerGroupSpecs"]]
    for pod in pods:
        assert pod["securityContext"]["runAsNonRoot"] is True
        assert pod["securityContext"]["runAsUser"] == uid
        for container in pod["containers"]:
            assert container.get("securityContext", {}).get("runAsUser", uid) != 0
            assert not container.get("securityContext", {}).get("privileged")


PASSWORD_URL = re.compile(r"postgres(?:ql)?(?:\+\w+)?://[^:/@\s]+:(?!PASSWORD@)[^@\s]+@")


def test_passwords_come_only_from_secret_files(services: dict[str, Any]) -> None:
    pg_env = services["postgres"]["environment"]
    assert pg_env["POSTGRES_PASSWORD_FILE"].startswith(SECRETS_DIR)
    assert "POSTGRES_PASSWORD" not in pg_env
    for name, svc in services.items():
        for key, value in (svc.get("environment") or {}).items():
            if re.search(r"PASSWORD|SECRET|TOKEN", key) and not key.endswith(("_FILE", "_PATH")):
                pytest.fail(f"{name} sets {key}={value!r} in plain text")
    for path in (
        DOCKER / "compose.yaml",
        DOCKER / ".env.example",
        DOCKER / "Dockerfile",
        DOCKER / "kuberay-rayjob.yaml",
    ):
        text = path.read_text()
        assert not PASSWORD_URL.search(text), f"{path.name} holds a database URL with a password"
        assert not re.search(r"^\s*[A-Z_]*PASSWORD\s*[=:]\s*\S", text, re.M), path.name
    # on Kubernetes the URL comes from a Secret, never a literal value
    head = yaml.safe_load((DOCKER / "kuberay-rayjob.yaml").read_text())
    [container] = head["spec"]["rayClusterSpec"]["headGroupSpec"]["template"]["spec"]["containers"]
    [storage] = [e for e in container["env"] if e["name"] == "HPSEARCH_STORAGE"]
    assert "value" not in storage and storage["valueFrom"]["secretKeyRef"]


def test_ray_token_auth_is_on_everywhere(services: dict[str, Any], rayjob: dict[str, Any]) -> None:
    for name in RAY_NODES:
        env = services[name]["environment"]
        assert env["RAY_AUTH_MODE"] == "token", name
        assert env["RAY_AUTH_TOKEN_PATH"].startswith(SECRETS_DIR), name
    assert rayjob["spec"]["rayClusterSpec"]["authOptions"]["mode"] == "token"
    env_lines = [args for word, args in dockerfile_instructions() if word == "ENV"]
    assert any("RAY_AUTH_MODE=token" in line for line in env_lines)
    disabled = re.compile(r"RAY_AUTH_MODE\W{0,6}disabled|mode\W{0,4}disabled", re.I)
    for path in DOCKER.iterdir():
        if path.is_file() and path.suffix != ".py":
            assert not disabled.search(path.read_text()), f"{path.name} disables Ray auth"


def test_hpsearch_code_never_disables_ray_auth() -> None:
    for path in sorted(PACKAGE.rglob("*.py")):
        for number, line in enumerate(path.read_text().splitlines(), 1):
            if "RAY_AUTH_MODE" in line or "AUTH_MODE" in line:
                assert "disabled" not in line.lower(), f"{path}:{number}: {line.strip()}"


# --- the image ----------------------------------------------------------------------------------


def test_image_base_and_dependencies_are_pinned() -> None:
    from packaging.requirements import Requirement
    from packaging.utils import canonicalize_name

    instructions = dockerfile_instructions()
    args = {
        m.group(1): m.group(2)
        for word, text in instructions
        if word == "ARG" and (m := re.match(r"(\w+)=(\S+)", text))
    }
    for word, text in instructions:
        if word == "FROM":
            image = re.sub(r"\$\{(\w+)\}", lambda m: args[m.group(1)], text.split()[0])
            assert re.fullmatch(r"python:\d+\.\d+\.\d+-slim(-\w+)?", image), image
    assert args["PYTHON_VERSION"].rsplit(".", 1)[0] == "{}.{}".format(*sys.version_info[:2])

    pins = {}
    for line in (DOCKER / "constraints.txt").read_text().splitlines():
        if line and not line.startswith("#"):
            name, _, version = line.partition("==")
            assert version, f"not an exact pin: {line}"
            pins[canonicalize_name(name)] = version
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    for text in project["dependencies"] + project["optional-dependencies"]["postgres"]:
        req = Requirement(text)
        name = canonicalize_name(req.name)
        assert name in pins, f"{req.name} is not pinned in docker/constraints.txt"
        assert req.specifier.contains(pins[name], prereleases=True), (
            f"{name}=={pins[name]} vs {req}"
        )
    assert "psycopg-binary" in pins  # the postgres extra's driver, with its binary build

    import ray

    assert pins["ray"] == ray.__version__  # the version the cluster tests ran on
    run = " ".join(text for word, text in final_stage() if word == "RUN")
    assert "--requirement /opt/hpsearch/constraints.txt" in run and "pip check" in run
    assert re.search(r"hatchling==\d", " ".join(t for w, t in instructions if w == "RUN"))

    compose = yaml.safe_load((DOCKER / "compose.yaml").read_text())
    assert re.fullmatch(r"postgres:\d+\.\d+(-\w+)?", compose["services"]["postgres"]["image"])
    rayjob = yaml.safe_load((DOCKER / "kuberay-rayjob.yaml").read_text())
    assert rayjob["spec"]["rayClusterSpec"]["rayVersion"] == ray.__version__


def test_one_image_serves_every_role(services: dict[str, Any], rayjob: dict[str, Any]) -> None:
    images = {svc["image"] for name, svc in services.items() if name != "postgres"}
    assert len(images) == 1
    cluster = rayjob["spec"]["rayClusterSpec"]
    pods = [cluster["headGroupSpec"]["template"]["spec"]]
    pods += [g["template"]["spec"] for g in cluster["workerGroupSpecs"]]
    pods.append(rayjob["spec"]["submitterPodTemplate"]["spec"])
    k8s_images = {c["image"] for pod in pods for c in pod["containers"]}
    assert k8s_images == images


def test_build_context_holds_what_the_dockerfile_copies_and_no_secrets() -> None:
    patterns = [
        ln.strip()
        for ln in (ROOT / ".dockerignore").read_text().splitlines()
        if ln.strip() and not ln.startswith("#")
    ]
    assert patterns[0] == "*", "the build context is an allow-list"
    allowed = {p[1:].rstrip("/") for p in patterns if p.startswith("!")}
    for word, text in dockerfile_instructions():
        if word != "COPY" or "--from=" in text:
            continue
        sources = [w for w in shlex.split(text) if not w.startswith("--")][:-1]
        for source in sources:
            assert source.rstrip("/") in allowed, f"COPY {source}: excluded by .dockerignore"
            assert (ROOT / source).exists(), f"COPY {source}: no such file"
    for private in ("docker/secrets", "docker/.env", ".venv", ".git", "hpsearch.db"):
        assert private not in allowed
    assert os.access(DOCKER / "entrypoint.sh", os.X_OK)


def test_env_example_covers_what_compose_interpolates() -> None:
    text = (DOCKER / "compose.yaml").read_text()
    used = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)(?::?-[^}]*)?\}", text))
    example = set(re.findall(r"^([A-Z_][A-Z0-9_]*)=", (DOCKER / ".env.example").read_text(), re.M))
    assert used, "compose.yaml interpolates nothing?"
    assert used == example, f"only in compose: {used - example}; only in example: {example - used}"
    without_default = set(re.findall(r"(?<!\$)\$\{([A-Z_][A-Z0-9_]*)\}", text))
    assert not without_default, f"no default for {without_default}: compose fails without .env"
