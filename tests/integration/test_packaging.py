"""
The container image recipe (conf/Containerfile, scripts/image.sh) and the
Kubernetes manifests (conf/kubernetes/*.yaml) agree with sluice and with each
other: probes reach the admin port sluice really listens on, the grace period
covers shutdown_delay + shutdown_timeout read from the ConfigMap's ini, every
Secret and ConfigMap reference resolves within its file, selectors match, and
so on. None of this needs a container engine or a cluster.

The last test builds the image and runs it against the test PostgreSQL; it is
slow and needs a container engine, so it runs only with SLUICE_TEST_IMAGE=1
and a working `docker info`.
"""

import configparser
import fnmatch
import json
import os
import re
import shutil
import subprocess
import time
import urllib.error
import urllib.parse
import urllib.request

import psycopg
import pytest
import yaml

from cluster import free_port
from pooler import ROOT, SANITIZED, SLUICE_BIN

CONTAINERFILE = os.path.join(ROOT, "conf", "Containerfile")
K8S_DIR = os.path.join(ROOT, "conf", "kubernetes")
IMAGE_SH = os.path.join(ROOT, "scripts", "image.sh")
ADMIN_PORT = 6433
MAIN_PORT = 6432
# seconds terminationGracePeriodSeconds must leave beyond sluice's own shutdown
MARGIN = 5
PLAIN_BEGIN = "# BEGIN plain-container form"
PLAIN_END = "# END plain-container form"
# keys the manifests use that come with issue 11; a binary without them is older
ISSUE11_KEYS = ("log_format", "config_watch", "shutdown_delay", "shutdown_timeout")
# the defaults of sluice settings the checks below fall back to
DEFAULTS = {
    "listen_addr": "127.0.0.1",
    "listen_port": "6432",
    "admin_port": "6433",
    "admin_listen_addr": "",
    "unix_socket_dir": "/tmp",
    "pidfile": "",
    "logfile": "",
    "shutdown_delay": "0",
    "shutdown_timeout": "0",
}


# ---------------------------------------------------------------- helpers


def read(path):
    with open(path) as f:
        return f.read()


def meson_version():
    m = re.search(r"project\([^)]*?version\s*:\s*'([^']+)'", read(os.path.join(ROOT, "meson.build")), re.S)
    assert m, "no version in meson.build's project()"
    return m.group(1)


def meson_executable():
    m = re.search(r"executable\(\s*'([^']+)'\s*,\s*'src/main\.c'", read(os.path.join(ROOT, "meson.build")))
    assert m, "no executable built from src/main.c in meson.build"
    return m.group(1)


def plain_form_text():
    """The commented-out plain-container Deployment at the end of sidecar.yaml, uncommented."""
    lines = read(os.path.join(K8S_DIR, "sidecar.yaml")).splitlines()
    assert PLAIN_BEGIN in lines and PLAIN_END in lines, "sidecar.yaml lost its plain-container form"
    block = lines[lines.index(PLAIN_BEGIN) + 1 : lines.index(PLAIN_END)]
    out = []
    for line in block:
        assert line == "#" or line.startswith("# "), f"not a commented line in the plain form: {line!r}"
        out.append(line[2:])
    return "\n".join(out) + "\n"


def manifests(form):
    """The objects of one deployable form: 'sidecar', 'sidecar-plain' (the
    sidecar file with its commented Deployment instead), 'standalone'."""
    if form == "standalone":
        return [d for d in yaml.safe_load_all(read(os.path.join(K8S_DIR, "standalone.yaml"))) if d]
    docs = [d for d in yaml.safe_load_all(read(os.path.join(K8S_DIR, "sidecar.yaml"))) if d]
    if form == "sidecar-plain":
        plain = [d for d in yaml.safe_load_all(plain_form_text()) if d]
        assert [d["kind"] for d in plain] == ["Deployment"]
        docs = [d for d in docs if d["kind"] != "Deployment"] + plain
    return docs


FORMS = ["sidecar", "sidecar-plain", "standalone"]


def of_kind(docs, kind):
    return {d["metadata"]["name"]: d for d in docs if d["kind"] == kind}


def deployments(docs):
    deps = of_kind(docs, "Deployment")
    assert deps, "no Deployment"
    return deps


def is_sluice_image(image):
    return re.search(r"(^|/)sluice:[^/]+$", image or "") is not None


def sluice_containers(spec):
    """(container, is_init) for every sluice container of a pod spec."""
    found = [(c, False) for c in spec.get("containers", []) if is_sluice_image(c.get("image"))]
    found += [(c, True) for c in spec.get("initContainers", []) if is_sluice_image(c.get("image"))]
    assert found, "no sluice container in the pod template"
    return found


def secret_data(secret):
    data = dict(secret.get("stringData") or {})
    data.update({k: v for k, v in (secret.get("data") or {}).items()})
    return data


def mounted_source(docs, spec, container, path):
    """What a file path inside the container comes from: ('configMap'|'secret',
    object, key) or ('emptyDir', None, None); None when no volume holds it."""
    volumes = {v["name"]: v for v in spec.get("volumes", [])}
    best = None
    for m in container.get("volumeMounts", []):
        mp = m["mountPath"].rstrip("/")
        if path == mp or path.startswith(mp + "/"):
            if best is None or len(mp) > len(best[0]["mountPath"].rstrip("/")):
                best = (m, path[len(mp) + 1 :])
    if best is None:
        return None
    mount, rel = best
    vol = volumes[mount["name"]]
    if "emptyDir" in vol:
        return ("emptyDir", None, None)
    for kind, ref, objkind in (("configMap", "name", "ConfigMap"), ("secret", "secretName", "Secret")):
        if kind in vol:
            obj = of_kind(docs, objkind)[vol[kind][ref]]
            if mount.get("subPath"):
                rel = mount["subPath"]
            items = vol[kind].get("items")
            key = rel
            if items:
                by_path = {i["path"]: i["key"] for i in items}
                assert rel in by_path, f"{path}: not among the items of volume {mount['name']}"
                key = by_path[rel]
            return (kind, obj, key)
    raise AssertionError(f"volume {mount['name']}: unexpected type {sorted(vol)}")


def config_of(docs, spec, container):
    """(ini text, parsed ini) of the sluice container: its config path comes
    from args, its text from the ConfigMap mounted there."""
    args = list(container.get("command", [])[1:]) + list(container.get("args", []))
    paths = [a for a in args if not a.startswith("-")]
    assert len(paths) == 1, f"sluice's args should name one config file: {args}"
    src = mounted_source(docs, spec, container, paths[0])
    assert src and src[0] == "configMap", f"{paths[0]} is not mounted from a ConfigMap"
    _, cm, key = src
    assert key in cm.get("data", {}), f"ConfigMap {cm['metadata']['name']} has no key {key}"
    text = cm["data"][key]
    ini = configparser.ConfigParser(
        delimiters=("=",), comment_prefixes=(";", "#"), inline_comment_prefixes=None, interpolation=None
    )
    ini.read_string(text)
    assert ini.has_section("databases"), "the ini has no [databases]"
    assert ini.has_section("sluice") or ini.has_section("pgbouncer"), "the ini has no [sluice] section"
    return text, ini


def setting(container, ini, key):
    """sluice's effective value of a global key: SLUICE_<KEY> in the
    container's environment, else the ini, else the default."""
    for e in container.get("env", []):
        if e["name"] == "SLUICE_" + key.upper():
            assert "value" in e, f"{e['name']} from a reference: cannot check it"
            return str(e["value"])
    section = "sluice" if ini.has_section("sluice") else "pgbouncer"
    if ini.has_option(section, key):
        return ini.get(section, key).strip()
    return DEFAULTS[key]


UNITS = {"ms": 0.001, "s": 1, "min": 60, "h": 3600, "d": 86400, "": 1}


def seconds(value):
    m = re.fullmatch(r"\s*([0-9]+(?:\.[0-9]+)?)\s*(ms|s|min|h|d|)\s*", value)
    assert m, f"not a duration: {value!r}"
    return float(m.group(1)) * UNITS[m.group(2)]


def port_number(container, port):
    """A probe's or Service's port (number or name) as a number of the container."""
    if isinstance(port, int):
        return port
    named = {p.get("name"): p["containerPort"] for p in container.get("ports", [])}
    assert port in named, f"port {port!r} is not a named port of container {container['name']}"
    return named[port]


def prestop_sleep(container):
    """Seconds a preStop hook delays SIGTERM: `sleep N` or the sleep action."""
    pre = (container.get("lifecycle") or {}).get("preStop")
    if not pre:
        return 0
    if "sleep" in pre:
        return int(pre["sleep"]["seconds"])
    cmd = pre.get("exec", {}).get("command", [])
    if cmd and os.path.basename(cmd[0]) == "sleep":
        return seconds(cmd[1])
    if cmd[:2] in (["sh", "-c"], ["/bin/sh", "-c"]):
        m = re.fullmatch(r"\s*sleep\s+(\S+)\s*", cmd[2])
        if m:
            return seconds(m.group(1))
    raise AssertionError(f"preStop hook of {container['name']} is not a sleep: {pre}")


def pod_specs(form):
    docs = manifests(form)
    for name, dep in deployments(docs).items():
        yield docs, dep, dep["spec"]["template"]["spec"]


def labels_match(selector, labels):
    return all(labels.get(k) == v for k, v in selector.items())


# ---------------------------------------------------------------- the Containerfile


def containerfile_instructions():
    """(INSTRUCTION, arguments) with continuation lines joined and comments dropped."""
    out, cur = [], ""
    for line in read(CONTAINERFILE).splitlines():
        if not cur and (not line.strip() or line.lstrip().startswith("#")):
            continue
        if line.rstrip().endswith("\\"):
            cur += line.rstrip()[:-1] + " "
            continue
        cur += line
        word, _, rest = cur.strip().partition(" ")
        out.append((word.upper(), rest.strip()))
        cur = ""
    return out


def stages():
    """The instructions of each FROM stage: [(from_args, [(instr, args), ...])]."""
    result = []
    for instr, args in containerfile_instructions():
        if instr == "FROM":
            result.append((args, []))
        elif result:
            result[-1][1].append((instr, args))
    return result


def apt_packages(stage_instructions):
    pkgs = []
    for instr, args in stage_instructions:
        if instr == "RUN" and "apt-get install" in args:
            for chunk in args.split("&&"):
                if "apt-get install" in chunk:
                    pkgs += [w for w in chunk.split("apt-get install", 1)[1].split() if not w.startswith("-")]
    return pkgs


def test_containerfile_two_stages_on_the_local_base():
    st = stages()
    assert len(st) == 2, f"expected a build and a runtime stage, got {len(st)} FROM lines"
    args = dict(
        a.split("=", 1) for i, a in containerfile_instructions() if i == "ARG" and "=" in a
    )
    assert args.get("BASE") == "sluice-base:bookworm"
    assert st[0][0].split()[0] == "${BASE}" and st[0][0].split()[-1] == "build"
    assert st[1][0].split()[0] == "${BASE}", "the runtime stage should use the same base"
    build_pkgs = apt_packages(st[0][1])
    for p in ("build-essential", "meson", "ninja-build", "pkg-config", "libevent-dev", "libssl-dev",
              "libinih-dev", "libpq-dev"):
        assert p in build_pkgs, f"build stage does not install {p}"
    runtime_pkgs = apt_packages(st[1][1])
    assert runtime_pkgs, "runtime stage installs nothing"
    assert not [p for p in runtime_pkgs if p.endswith("-dev") or p in ("build-essential", "meson")], runtime_pkgs


def test_containerfile_meson_options_exist():
    """Every -Dname= of the build is a meson built-in or in meson_options.txt."""
    builtins = {"werror", "buildtype", "optimization", "debug", "strip", "warning_level", "prefix",
                "default_library", "c_std", "c_args", "c_link_args", "b_ndebug", "b_lto", "b_pie",
                "b_sanitize", "b_lundef"}
    own = set(re.findall(r"option\(\s*'([^']+)'", read(os.path.join(ROOT, "meson_options.txt"))))
    build_run = " ".join(a for i, a in stages()[0][1] if i == "RUN" and "meson setup" in a)
    assert "meson setup build" in build_run and "--buildtype=release" in build_run
    assert "-Dwerror=true" in build_run
    for name in re.findall(r"-D([A-Za-z_]+)=", build_run):
        assert name in builtins or name in own, f"-D{name}: no such meson option"


def test_containerfile_runtime_stage():
    runtime = stages()[1][1]
    exe = meson_executable()
    copies = [a for i, a in runtime if i == "COPY" and a.startswith("--from=build")]
    assert any(a.split()[1:] == [f"/src/build/{exe}", "/usr/local/bin/sluice"] for a in copies), copies
    users = [a for i, a in runtime if i == "USER"]
    assert users, "no USER: the image would run as root"
    assert users[-1].split(":")[0] == "10001", f"USER {users[-1]}: should be the numeric uid 10001"
    assert any(re.search(r"useradd\b.*--uid 10001\b", a) for i, a in runtime if i == "RUN")
    entry = [a for i, a in runtime if i == "ENTRYPOINT"]
    assert entry and json.loads(entry[-1]) == ["/usr/local/bin/sluice"]
    exposed = " ".join(a for i, a in runtime if i == "EXPOSE").split()
    assert str(MAIN_PORT) in exposed and str(ADMIN_PORT) in exposed
    # baking SLUICE_UNIX_SOCKET_DIR in would silently override a mounted ini
    assert not [a for i, a in runtime if i == "ENV" and "SLUICE_" in a]


@pytest.mark.sluice_only
def test_runtime_stage_has_every_library_sluice_links():
    """The shared libraries build/sluice needs come from the runtime stage's
    packages (Debian 12 here and in the image) or libc6."""
    if shutil.which("objdump") is None or shutil.which("dpkg-query") is None:
        pytest.skip("needs objdump and dpkg")
    out = subprocess.run(["objdump", "-p", SLUICE_BIN], capture_output=True, text=True, check=True).stdout
    needed = re.findall(r"^\s*NEEDED\s+(\S+)", out, re.M)
    assert needed
    runtime_pkgs = set(apt_packages(stages()[1][1])) | {"libc6"}
    for soname in needed:
        if SANITIZED and re.match(r"lib(asan|ubsan)", soname):
            continue
        p = subprocess.run(["dpkg-query", "-S", f"*/{soname}"], capture_output=True, text=True)
        assert p.returncode == 0, f"{soname}: no Debian package has it"
        owners = {line.split(":")[0] for line in p.stdout.splitlines() if line.strip()}
        assert owners & runtime_pkgs, f"{soname} comes from {owners}, which the runtime stage does not install"


def test_dockerignore_keeps_builds_and_git_out():
    patterns = [
        p.strip() for p in read(os.path.join(ROOT, ".dockerignore")).splitlines()
        if p.strip() and not p.startswith("#")
    ]
    for path in (".git", "build", "build-asan", "build-fuzz"):
        assert any(fnmatch.fnmatch(path, p) for p in patterns), f"{path} would be in the build context"
    for path in ("src", "include", "meson.build", "conf", "tests"):
        assert not any(fnmatch.fnmatch(path, p) for p in patterns), f"{path} would be left out"


# ---------------------------------------------------------------- scripts/image.sh


def run_image_sh(*args, env=None):
    return subprocess.run(["bash", IMAGE_SH, *args], capture_output=True, text=True, timeout=60,
                          env=dict(os.environ, **(env or {})))


def test_image_tag_is_the_meson_version_and_the_manifests_use_it():
    p = run_image_sh("--print-tag")
    assert p.returncode == 0, p.stderr
    tag = p.stdout.strip()
    assert tag == f"sluice:{meson_version()}"
    for form in FORMS:
        for docs, dep, spec in pod_specs(form):
            for c, _ in sluice_containers(spec):
                assert c["image"].endswith("/" + tag) or c["image"] == tag, (form, c["image"], tag)


def test_image_sh_without_an_engine_exits_2(tmp_path):
    stub = tmp_path / "docker"
    stub.write_text("#!/bin/sh\necho 'Cannot connect to the Docker daemon' >&2\nexit 1\n")
    stub.chmod(0o755)
    p = run_image_sh(env={"PATH": f"{tmp_path}:{os.environ['PATH']}", "CONTAINER_ENGINE": "docker"})
    assert p.returncode == 2, (p.returncode, p.stdout, p.stderr)
    assert "no container engine" in p.stderr and "docker info" in p.stderr


def test_image_sh_finds_the_debian_mirror(tmp_path):
    d = tmp_path / "apt"
    (d / "sources.list.d").mkdir(parents=True)
    (d / "sources.list.d" / "other.sources").write_text(
        "Types: deb\nURIs: http://disabled.example/debian\nSuites: bookworm\nComponents: main\nEnabled: no\n\n"
        "Types: deb-src\nURIs: http://src.example/debian\nSuites: bookworm\nComponents: main\n\n"
        "# comment\nTypes: deb\nURIs: http://mirror.example/debian http://second.example/debian\n"
        "Suites: bookworm bookworm-updates\nComponents: main\n"
    )
    assert run_image_sh("--print-mirror", env={"SLUICE_APT_DIR": str(d)}).stdout.strip() == \
        "http://mirror.example/debian"
    (d / "sources.list.d" / "other.sources").unlink()
    (d / "sources.list").write_text(
        "# deb http://commented.example/debian bookworm main\n"
        "deb http://security.example/debian-security bookworm-security main\n"
        "deb [arch=amd64 signed-by=/usr/share/keyrings/k.gpg] http://one.example/debian bookworm main\n"
    )
    assert run_image_sh("--print-mirror", env={"SLUICE_APT_DIR": str(d)}).stdout.strip() == \
        "http://one.example/debian"
    p = run_image_sh("--print-mirror", env={"SLUICE_APT_DIR": str(tmp_path / "none")})
    assert p.returncode != 0 and "SLUICE_MIRROR" in p.stderr
    p = run_image_sh("--print-mirror", env={"SLUICE_APT_DIR": str(tmp_path / "none"),
                                            "SLUICE_MIRROR": "http://given.example/debian"})
    assert p.stdout.strip() == "http://given.example/debian"


# ---------------------------------------------------------------- the manifests


@pytest.mark.parametrize("form", FORMS)
def test_references_resolve_within_the_file(form):
    """Every secretKeyRef, configMapKeyRef, envFrom and volume names an object
    (and a key) defined in the same file; every volumeMount a volume."""
    docs = manifests(form)
    secrets, cms = of_kind(docs, "Secret"), of_kind(docs, "ConfigMap")

    def check(kind, name, key=None):
        objs, data = (secrets, secret_data) if kind == "secret" else (cms, lambda o: o.get("data", {}))
        assert name in objs, f"{form}: {kind} {name} is not defined in the file"
        if key is not None:
            assert key in data(objs[name]), f"{form}: {kind} {name} has no key {key}"

    for _, dep, spec in pod_specs(form):
        vols = {v["name"]: v for v in spec.get("volumes", [])}
        for c in spec.get("containers", []) + spec.get("initContainers", []):
            for e in c.get("env", []):
                ref = e.get("valueFrom", {})
                if "secretKeyRef" in ref:
                    check("secret", ref["secretKeyRef"]["name"], ref["secretKeyRef"]["key"])
                if "configMapKeyRef" in ref:
                    check("configMap", ref["configMapKeyRef"]["name"], ref["configMapKeyRef"]["key"])
            for e in c.get("envFrom", []):
                if "secretRef" in e:
                    check("secret", e["secretRef"]["name"])
                if "configMapRef" in e:
                    check("configMap", e["configMapRef"]["name"])
            for m in c.get("volumeMounts", []):
                assert m["name"] in vols, f"{form}: {c['name']} mounts undefined volume {m['name']}"
        for v in vols.values():
            if "secret" in v:
                check("secret", v["secret"]["secretName"])
                for item in v["secret"].get("items", []):
                    check("secret", v["secret"]["secretName"], item["key"])
            if "configMap" in v:
                check("configMap", v["configMap"]["name"])
                for item in v["configMap"].get("items", []):
                    check("configMap", v["configMap"]["name"], item["key"])


@pytest.mark.parametrize("form", FORMS)
def test_probes_hit_the_admin_port(form):
    for docs, dep, spec in pod_specs(form):
        for c, _ in sluice_containers(spec):
            _, ini = config_of(docs, spec, c)
            admin_port = int(setting(c, ini, "admin_port"))
            assert admin_port == ADMIN_PORT
            # the kubelet probes the pod's IP, not its loopback
            admin_addr = setting(c, ini, "admin_listen_addr") or setting(c, ini, "listen_addr")
            assert any(a.strip() in ("0.0.0.0", "*", "::") for a in admin_addr.split(",")), admin_addr
            assert ADMIN_PORT in [p["containerPort"] for p in c.get("ports", [])]
            expected = {"readinessProbe": "/readyz", "startupProbe": "/readyz", "livenessProbe": "/healthz"}
            for probe, path in expected.items():
                if probe not in c:
                    assert probe == "startupProbe", f"{form}: {c['name']} has no {probe}"
                    continue
                get = c[probe].get("httpGet")
                assert get, f"{form}: {probe} is not an httpGet"
                assert get["path"] == path, (form, probe, get)
                assert port_number(c, get["port"]) == admin_port, (form, probe, get)
                assert get.get("scheme", "HTTP") == "HTTP"


@pytest.mark.parametrize("form", FORMS)
def test_grace_period_covers_the_drain(form):
    """terminationGracePeriodSeconds >= preStop sleep + shutdown_delay +
    shutdown_timeout (from the ConfigMap's ini) + a margin, and the drain is
    bounded (shutdown_timeout 0 would leave the limit to SIGKILL)."""
    for docs, dep, spec in pod_specs(form):
        grace = spec.get("terminationGracePeriodSeconds", 30)
        for c, _ in sluice_containers(spec):
            _, ini = config_of(docs, spec, c)
            delay = seconds(setting(c, ini, "shutdown_delay"))
            timeout = seconds(setting(c, ini, "shutdown_timeout"))
            assert timeout > 0, f"{form}: shutdown_timeout is 0 (no limit)"
            need = prestop_sleep(c) + delay + timeout + MARGIN
            assert grace >= need, f"{form}: terminationGracePeriodSeconds {grace} < {need}"


@pytest.mark.parametrize("form", FORMS)
def test_config_is_watched_and_logs_are_json(form):
    for docs, dep, spec in pod_specs(form):
        for c, _ in sluice_containers(spec):
            _, ini = config_of(docs, spec, c)
            sec = "sluice" if ini.has_section("sluice") else "pgbouncer"
            assert ini.get(sec, "config_watch", fallback="0") == "1"
            assert ini.get(sec, "log_format", fallback="text") == "json"
            # a subPath mount is never updated by the kubelet: config_watch would see nothing
            for m in c.get("volumeMounts", []):
                vol = next(v for v in spec["volumes"] if v["name"] == m["name"])
                if "configMap" in vol:
                    assert "subPath" not in m, f"{form}: ConfigMap mounted with subPath"


@pytest.mark.parametrize("form", FORMS)
def test_locked_down_and_read_only(form):
    for docs, dep, spec in pod_specs(form):
        pod_sc = spec.get("securityContext", {})
        for c, _ in sluice_containers(spec):
            sc = c.get("securityContext", {})
            assert sc.get("readOnlyRootFilesystem") is True
            assert sc.get("runAsNonRoot", pod_sc.get("runAsNonRoot")) is True
            assert sc.get("runAsUser", pod_sc.get("runAsUser", 10001)) != 0
            assert sc.get("allowPrivilegeEscalation") is False
            assert sc.get("capabilities", {}).get("drop") == ["ALL"]
            assert not sc.get("capabilities", {}).get("add")
            res = c.get("resources", {})
            assert res.get("requests", {}).get("cpu") and res.get("requests", {}).get("memory")
            assert res.get("limits", {}).get("memory")
            # what sluice writes must be writable: nothing, or a mounted emptyDir
            _, ini = config_of(docs, spec, c)
            for key in ("unix_socket_dir", "pidfile", "logfile"):
                path = setting(c, ini, key)
                if path:
                    src = mounted_source(docs, spec, c, path.rstrip("/"))
                    assert src and src[0] == "emptyDir", f"{form}: {key} = {path} on a read-only root"


@pytest.mark.parametrize("form", FORMS)
def test_auth_file_comes_from_the_secret(form):
    for docs, dep, spec in pod_specs(form):
        for c, _ in sluice_containers(spec):
            _, ini = config_of(docs, spec, c)
            sec = "sluice" if ini.has_section("sluice") else "pgbouncer"
            path = ini.get(sec, "auth_file")
            src = mounted_source(docs, spec, c, path)
            assert src and src[0] == "secret", f"{form}: auth_file {path} is not mounted from a Secret"
            lines = [ln for ln in secret_data(src[1])[src[2]].splitlines() if ln.strip()]
            assert lines and all(re.fullmatch(r'"[^"]+" "[^"]*"', ln) for ln in lines), lines


@pytest.mark.parametrize("form", ["sidecar", "sidecar-plain"])
def test_sidecar(form):
    docs = manifests(form)
    secrets = of_kind(docs, "Secret")
    for _, dep, spec in pod_specs(form):
        [(sl, is_init)] = sluice_containers(spec)
        _, ini = config_of(docs, spec, sl)
        if form == "sidecar":
            # a native sidecar: started before, stopped after the application
            assert is_init and sl.get("restartPolicy") == "Always"
            assert "startupProbe" in sl
            assert prestop_sleep(sl) == 0, "a native sidecar needs no preStop sleep"
        else:
            assert not is_init and prestop_sleep(sl) > 0, "the plain form needs a preStop sleep"
        # only the pod reaches the main port
        assert setting(sl, ini, "listen_addr") in ("127.0.0.1", "localhost")
        apps = [c for c in spec["containers"] if c is not sl]
        assert apps
        for app in apps:
            env = app.get("env", [])
            names = [e["name"] for e in env]
            url = next(e["value"] for e in env if e["name"] == "DATABASE_URL")
            # $(VAR) is expanded by Kubernetes only from variables defined before it
            for var in re.findall(r"\$\((\w+)\)", url):
                assert var in names[: names.index("DATABASE_URL")], f"$({var}) is not defined before DATABASE_URL"
            pw_var = next(e for e in env if f"$({e['name']})" in url)
            ref = pw_var["valueFrom"]["secretKeyRef"]
            password = secret_data(secrets[ref["name"]])[ref["key"]]
            u = urllib.parse.urlsplit(url.replace(f"$({pw_var['name']})", password))
            assert u.scheme in ("postgresql", "postgres")
            assert u.hostname in ("127.0.0.1", "localhost")
            assert u.port == int(setting(sl, ini, "listen_port"))
            dbname = u.path.lstrip("/")
            assert ini.has_option("databases", dbname) or ini.has_option("databases", "*"), dbname
            # the application logs in with what sluice's auth_file has for that user
            src = mounted_source(docs, spec, sl, ini.get("sluice", "auth_file"))
            assert f'"{u.username}" "{u.password}"' in secret_data(src[1])[src[2]].splitlines()


def test_standalone_service_pdb_and_deployment_agree():
    docs = manifests("standalone")
    [dep] = deployments(docs).values()
    labels = dep["spec"]["template"]["metadata"]["labels"]
    assert labels_match(dep["spec"]["selector"]["matchLabels"], labels)
    assert dep["spec"]["replicas"] == 2
    spec = dep["spec"]["template"]["spec"]
    [(c, is_init)] = sluice_containers(spec)
    assert not is_init
    _, ini = config_of(docs, spec, c)
    assert setting(c, ini, "listen_addr") in ("0.0.0.0", "*")
    assert [e for e in c["env"] if e["name"] == "SLUICE_LISTEN_ADDR"], "listen_addr should come from the env"
    # relying on shutdown_delay instead of a preStop sleep: it must be there
    assert prestop_sleep(c) > 0 or seconds(setting(c, ini, "shutdown_delay")) > 0

    [svc] = of_kind(docs, "Service").values()
    assert svc["spec"]["selector"] and labels_match(svc["spec"]["selector"], labels)
    ports = {p["port"]: p for p in svc["spec"]["ports"]}
    assert set(ports) == {MAIN_PORT, ADMIN_PORT}
    assert port_number(c, ports[MAIN_PORT].get("targetPort", MAIN_PORT)) == int(setting(c, ini, "listen_port"))
    assert port_number(c, ports[ADMIN_PORT].get("targetPort", ADMIN_PORT)) == int(setting(c, ini, "admin_port"))
    ann = svc["metadata"].get("annotations", {})
    assert ann.get("prometheus.io/scrape") == "true"
    assert int(ann.get("prometheus.io/port")) == int(setting(c, ini, "admin_port"))
    assert ann.get("prometheus.io/path", "/metrics") == "/metrics"

    [pdb] = of_kind(docs, "PodDisruptionBudget").values()
    assert labels_match(pdb["spec"]["selector"]["matchLabels"], labels)
    assert pdb["spec"]["minAvailable"] == 1 < dep["spec"]["replicas"]


@pytest.mark.sluice_only
@pytest.mark.parametrize("form", ["sidecar", "standalone"])
def test_configmap_ini_passes_sluice_check(form, tmp_path):
    """`sluice --check` accepts each ConfigMap's ini (auth_file pointed at a
    copy of the Secret's file), with no unknown key."""
    docs = manifests(form)
    for _, dep, spec in pod_specs(form):
        for c, _ in sluice_containers(spec):
            text, ini = config_of(docs, spec, c)
            sec = "sluice" if ini.has_section("sluice") else "pgbouncer"
            src = mounted_source(docs, spec, c, ini.get(sec, "auth_file"))
            userlist = tmp_path / "userlist.txt"
            userlist.write_text(secret_data(src[1])[src[2]])
            text = re.sub(r"(?m)^auth_file\s*=.*$", f"auth_file = {userlist}", text)
            conf = tmp_path / "sluice.ini"
            conf.write_text(text)
            p = subprocess.run([SLUICE_BIN, "--check", str(conf)], capture_output=True, text=True, timeout=30)
            out = p.stdout + p.stderr
            assert p.returncode == 0, out
            missing = [k for k in ISSUE11_KEYS if re.search(rf"unknown key {k}\b", out)]
            if missing:
                pytest.skip(f"{SLUICE_BIN} does not know {', '.join(missing)} yet (issue 11)")
            assert "unknown key" not in out and "not supported" not in out, out


# ---------------------------------------------------------------- the image itself


def engine_works():
    return shutil.which("docker") is not None and subprocess.run(
        ["docker", "info"], capture_output=True, timeout=30
    ).returncode == 0


def http_status(port, path):
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}{path}", timeout=2) as r:
            return r.status
    except urllib.error.HTTPError as e:
        return e.code
    except OSError:
        return None


def image_test_skip_reason():
    if os.environ.get("SLUICE_TEST_IMAGE") != "1":
        return "slow (debootstrap, apt, a release build): set SLUICE_TEST_IMAGE=1 to build and run the image"
    if not engine_works():
        return "SLUICE_TEST_IMAGE=1 but `docker info` fails: no container engine here"
    return None


# decided at collection, so that a skip does not start the PostgreSQL fixture
IMAGE_SKIP = image_test_skip_reason()


@pytest.mark.sluice_only
@pytest.mark.skipif(IMAGE_SKIP is not None, reason=IMAGE_SKIP or "")
@pytest.mark.timeout(3600)
def test_image_builds_and_pools(pg):
    """scripts/image.sh, then the image with a read-only root, DATABASE_URL
    only, against the test PostgreSQL; a query through it; SIGTERM exits 0."""
    build = subprocess.run(["bash", IMAGE_SH], capture_output=True, text=True, timeout=3000)
    assert build.returncode == 0, build.stdout[-3000:] + build.stderr[-5000:]
    tag = run_image_sh("--print-tag").stdout.strip()
    user = subprocess.run(["docker", "image", "inspect", "-f", "{{.Config.User}}", tag],
                          capture_output=True, text=True, check=True).stdout.strip()
    assert user == "10001"

    port, admin = free_port(), free_port()
    name = f"sluice-test-{os.getpid()}"
    url = f"postgresql://u_plain:pw_plain@127.0.0.1:{pg.port}/testdb"
    subprocess.run(
        ["docker", "run", "-d", "--name", name, "--network", "host", "--read-only",
         "-e", f"DATABASE_URL={url}", "-e", f"SLUICE_LISTEN_PORT={port}", "-e", f"SLUICE_ADMIN_PORT={admin}",
         "-e", "SLUICE_UNIX_SOCKET_DIR=", tag],
        capture_output=True, text=True, check=True,
    )
    try:
        deadline = time.monotonic() + 30
        while http_status(admin, "/readyz") != 200:
            assert time.monotonic() < deadline, subprocess.run(["docker", "logs", name], capture_output=True,
                                                               text=True).stderr[-3000:]
            time.sleep(0.2)
        assert http_status(admin, "/healthz") == 200
        with psycopg.connect(host="127.0.0.1", port=port, user="u_plain", password="pw_plain",
                             dbname="testdb", connect_timeout=10, autocommit=True) as conn:
            assert conn.execute("SELECT current_user, current_database(), 6 * 7").fetchone() == \
                ("u_plain", "testdb", 42)
        subprocess.run(["docker", "stop", "-t", "30", name], capture_output=True, check=True, timeout=60)
        code = subprocess.run(["docker", "inspect", "-f", "{{.State.ExitCode}}", name],
                              capture_output=True, text=True, check=True).stdout.strip()
        assert code == "0", "sluice did not exit 0 on SIGTERM"
    finally:
        subprocess.run(["docker", "rm", "-f", name], capture_output=True)
