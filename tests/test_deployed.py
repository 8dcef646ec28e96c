"""A file read as what it becomes where it is deployed: COPY/ADD, compose mounts, ConfigMaps."""

from __future__ import annotations

import json
from pathlib import Path

from portpolicy import deployed
from portpolicy.discover import Skipped
from portpolicy.model import Finding, Listener, Location, Unresolved
from portpolicy.pipeline import Report
from tests.helpers import run_cli, scan_tree, write_tree
from tests.hostile import run_bounded

NGINX_IMAGE = """\
FROM nginx:1.27-alpine
RUN chown -R nginx:nginx /var/cache/nginx /var/run /var/log/nginx
{copies}
USER nginx
"""


def scan(tmp_path: Path, files: dict[str, str], runtime: str = "docker-legacy") -> Report:
    write_tree(tmp_path, files)
    return scan_tree(tmp_path, runtime=runtime)


def where(f: Finding) -> tuple[str, str, int]:
    return f.rule, f.location.path, f.location.line


def related(f: Finding) -> list[tuple[str, int]]:
    return [(r.location.path, r.location.line) for r in f.related]


# -- Dockerfile COPY ------------------------------------------------------------------------------


def test_copy_under_another_name_is_read_as_nginx_in_the_image(tmp_path: Path) -> None:
    files = {
        "web/Dockerfile": NGINX_IMAGE.format(copies="COPY site.conf /etc/nginx/conf.d/default.conf"),
        "web/site.conf": "server {\n    listen 80;\n    location / { proxy_pass http://app:8000; }\n}\n",
    }
    legacy = scan(tmp_path, files)
    assert [where(f) for f in legacy.findings] == [("PP001", "web/site.conf", 2)]
    finding = legacy.findings[0]
    assert "non-root user 'nginx'" in finding.message
    assert related(finding) == [("web/Dockerfile", 4), ("web/Dockerfile", 3)]  # USER, then the COPY
    assert "at /etc/nginx/conf.d/default.conf" in finding.related[1].message
    assert scan_tree(tmp_path, runtime="docker").findings == []  # Docker >= 20.10 lets it bind


def test_location_blocks_and_listen_only_copied_as_a_conf_d_file(tmp_path: Path) -> None:
    files = {
        "Dockerfile": NGINX_IMAGE.format(copies="COPY app.conf /etc/nginx/conf.d/default.conf"),
        "app.conf": "listen 80;\nlocation /api/ {\n    proxy_pass http://api:9000;\n}\n",
    }
    report = scan(tmp_path, files)
    assert [where(f) for f in report.findings] == [("PP001", "app.conf", 1)]
    assert report.readers["app.conf"] == "nginx"


def test_nginx_image_template_is_read_as_the_conf_d_file_it_renders(tmp_path: Path) -> None:
    template = "server {\n    listen ${NGINX_PORT};\n    listen 443 ssl;\n}\n"
    files = {
        "proxy/Dockerfile": NGINX_IMAGE.format(
            copies="COPY default.conf.template /etc/nginx/templates/default.conf.template"
        ),
        "proxy/default.conf.template": template,
    }
    report = scan(tmp_path, files)
    assert [where(f) for f in report.findings] == [("PP001", "proxy/default.conf.template", 3)]
    assert related(report.findings[0])[0] == ("proxy/Dockerfile", 4)
    # envsubst fills ${NGINX_PORT} at start: not known here, so no verdict on it
    unresolved = [u for u in report.facts if isinstance(u, Unresolved)]
    assert [(u.location.path, u.location.line) for u in unresolved] == [("proxy/default.conf.template", 2)]


def test_template_copied_as_a_folder_is_rendered_too(tmp_path: Path) -> None:
    files = {
        "Dockerfile": NGINX_IMAGE.format(copies="COPY templates/ /etc/nginx/templates/"),
        "templates/site.conf.template": "server {\n  listen 80;\n}\n",
    }
    routes = deployed.rendered("/etc/nginx/templates/site.conf.template")
    assert routes is not None and routes[0] == "/etc/nginx/conf.d/site.conf"
    report = scan(tmp_path, files)
    assert [where(f) for f in report.findings] == [("PP001", "templates/site.conf.template", 2)]


def test_copied_to_an_app_folder_is_not_read_as_nginx(tmp_path: Path) -> None:
    """The look-alike: /app/config/ is no daemon's config location, so the COPY says nothing."""
    files = {
        "Dockerfile": "FROM python:3.12-slim\nCOPY config/ /app/config/\nUSER app\n",
        "config/routes.conf": "[routes]\nlisten = 80\nupstream = api:9000\n",
    }
    report = scan(tmp_path, files)
    assert report.findings == []
    assert report.readers.get("config/routes.conf") != "nginx"


def test_content_that_is_not_the_destinations_format_is_skipped_with_the_reason(tmp_path: Path) -> None:
    files = {
        "Dockerfile": NGINX_IMAGE.format(copies="COPY banner /etc/nginx/conf.d/banner.conf"),
        "banner": "Welcome!\nThis host is managed by ops.\n",
    }
    report = scan(tmp_path, files)
    assert report.findings == []  # never PP000 for a file the destination only names
    assert [s for s in report.skipped if s.path == "banner"] == [
        Skipped(
            "banner", "deployed to /etc/nginx/conf.d/banner.conf (an nginx config), but its content is not"
        )
    ]


# -- compose mounts -------------------------------------------------------------------------------


def test_compose_bind_mount_under_another_name(tmp_path: Path) -> None:
    files = {
        "compose.yaml": (
            "services:\n  web:\n    image: nginx:1.27\n    user: '101'\n    volumes:\n"
            "      - ./conf/app.conf:/etc/nginx/conf.d/default.conf:ro\n"
        ),
        "conf/app.conf": "listen 80;\nlocation / {\n  root /srv/www;\n}\n",
    }
    report = scan(tmp_path, files)
    assert [where(f) for f in report.findings] == [("PP001", "conf/app.conf", 1)]
    assert related(report.findings[0]) == [("compose.yaml", 4), ("compose.yaml", 6)]
    assert scan_tree(tmp_path, runtime="docker").findings == []


def test_compose_config_and_folder_mount(tmp_path: Path) -> None:
    files = {
        "compose.yaml": (
            "services:\n  lb:\n    image: haproxy:3.0\n    user: haproxy\n    volumes:\n"
            "      - ./nginx-snippets:/etc/nginx/conf.d\n"
            "    configs:\n      - source: lb\n        target: /usr/local/etc/haproxy/haproxy.cfg\n"
            "configs:\n  lb:\n    file: ./lb.txt.cfg\n"
        ),
        "nginx-snippets/a.conf": "listen 81;\nlocation / {\n  return 204;\n}\n",
        "lb.txt.cfg": "global\n    maxconn 100\n\nfrontend www\n    bind :80\n    default_backend app\n\n"
        "backend app\n    server a app:8000\n",
    }
    report = scan(tmp_path, files)
    assert sorted(where(f) for f in report.findings) == [
        ("PP001", "lb.txt.cfg", 5),
        ("PP001", "nginx-snippets/a.conf", 1),
    ]


# -- Kubernetes ConfigMaps ------------------------------------------------------------------------

MANIFEST = """\
apiVersion: v1
kind: ConfigMap
metadata:
  name: nginx-conf
data:
  nginx.conf: |
    events {}
    http {
      server {
        listen 80;
      }
    }
---
apiVersion: apps/v1
kind: Deployment
metadata:
  name: web
spec:
  template:
    spec:
      securityContext:
        runAsUser: 101
      containers:
        - name: nginx
          image: nginx:1.27
          ports:
            - containerPort: 80
          volumeMounts:
            - name: conf
              mountPath: /etc/nginx/nginx.conf
              subPath: nginx.conf
      volumes:
        - name: conf
          configMap:
            name: nginx-conf
"""


def test_configmap_key_mounted_into_a_non_root_pod(tmp_path: Path) -> None:
    report = scan(tmp_path, {"k8s/web.yaml": MANIFEST}, runtime="cri-o")
    assert [where(f) for f in report.findings] == [("PP001", "k8s/web.yaml", 10)]  # the key's listen line
    finding = report.findings[0]
    assert finding.location.column == 16
    assert related(finding) == [("k8s/web.yaml", 22), ("k8s/web.yaml", 30)]  # runAsUser, mountPath
    assert "ConfigMap default/nginx-conf key nginx.conf" in finding.related[1].message
    # the container's own containerPort 80 is the same socket: nginx binds it, no second finding
    pod = [ln for ln in report.facts if isinstance(ln, Listener)]
    assert [(ln.location.line, ln.service, ln.run_as.user) for ln in pod] == [(10, "web/nginx", "101")]
    assert report.readers["k8s/web.yaml"] == "kubernetes"
    assert scan_tree(tmp_path, runtime="containerd").findings == []


def test_configmap_in_its_own_file_and_a_key_no_pod_mounts(tmp_path: Path) -> None:
    configmap, deployment = MANIFEST.split("---\n")
    configmap += "  other.conf: |\n    server { listen 81; }\n"
    report = scan(tmp_path, {"k8s/cm.yaml": configmap, "k8s/deploy.yaml": deployment}, runtime="cri-o")
    assert [where(f) for f in report.findings] == [("PP001", "k8s/cm.yaml", 10)]


def test_two_keys_of_one_manifest_reach_only_the_pods_that_mount_them(tmp_path: Path) -> None:
    admin = (
        MANIFEST.split("---\n")[1]
        .replace("name: web", "name: admin")
        .replace("runAsUser: 101", "runAsUser: 0")
        .replace("subPath: nginx.conf", "subPath: admin.conf")
        .replace("mountPath: /etc/nginx/nginx.conf", "mountPath: /etc/nginx/conf.d/admin.conf")
    )
    configmap = MANIFEST.split("---\n")[0] + "  admin.conf: |\n    server {\n      listen 443;\n    }\n"
    text = configmap + "---\n" + MANIFEST.split("---\n")[1] + "---\n" + admin
    report = scan(tmp_path, {"k8s/web.yaml": text}, runtime="cri-o")
    placed = sorted(
        (ln.location.line, ln.service, ln.run_as.user)
        for ln in report.facts
        if isinstance(ln, Listener) and ln.source == "nginx"
    )
    assert placed == [(10, "web/nginx", "101"), (15, "admin/nginx", None)]
    assert [where(f) for f in report.findings] == [("PP001", "k8s/web.yaml", 10)]


# -- systemd drop-ins -----------------------------------------------------------------------------


def test_systemd_drop_in_copied_into_an_image_joins_its_unit(tmp_path: Path) -> None:
    dockerfile = (
        "FROM fedora:40\nCOPY app.socket /etc/systemd/system/app.socket\n"
        "COPY socket-override.conf /etc/systemd/system/app.socket.d/override.conf\n"
        'CMD ["/sbin/init"]\n'
    )
    files = {
        "img/Dockerfile": dockerfile,
        "img/app.socket": "[Socket]\nListenStream=40000\n\n[Install]\nWantedBy=sockets.target\n",
        "img/socket-override.conf": "[Socket]\nListenStream=\nListenStream=8080\n",
    }
    report = scan(tmp_path, files)
    assert report.findings == []  # the drop-in resets the listen list: 40000 is gone
    sockets = [(ln.location.path, ln.location.line) for ln in report.facts if isinstance(ln, Listener)]
    assert sockets == [("img/socket-override.conf", 3)]
    # without the COPY the file is no drop-in, and 40000 (in the ephemeral range) stays
    (tmp_path / "img/Dockerfile").write_text(dockerfile.replace("COPY socket-override", "# COPY x"))
    assert [where(f) for f in scan_tree(tmp_path).findings] == [("PP002", "img/app.socket", 2)]


# -- the CLI, and hostile input ----------------------------------------------------------------------


def test_cli_reports_the_copied_config_under_the_legacy_runtime_only(tmp_path: Path) -> None:
    write_tree(
        tmp_path,
        {
            "Dockerfile": NGINX_IMAGE.format(copies="COPY site.conf /etc/nginx/conf.d/default.conf"),
            "site.conf": "server { listen 80; }\n",
        },
    )
    legacy = run_cli("check", ".", "--runtime", "docker-legacy", cwd=tmp_path)
    assert legacy.returncode == 1, legacy.stderr
    assert "site.conf:1:17: PP001" in legacy.stdout
    clean = run_cli("check", ".", "--runtime", "docker", cwd=tmp_path)
    assert clean.returncode == 0 and "No problems found" in clean.stdout


def test_destination_is_only_a_name() -> None:
    assert deployed.destination_name("/etc/nginx/../../../../etc/nginx/nginx.conf") == "etc/nginx/nginx.conf"
    assert deployed.destination_name("../../outside/x.conf") == "outside/x.conf"
    assert deployed.destination_name("/etc/x\n.conf") is None
    assert deployed.destination_name("/" + "a" * 5000) is None
    assert deployed.destination_name("/") is None


def test_relocate_moves_only_the_virtual_path() -> None:
    ln = Unresolved("x", "why", Location("/etc/nginx/nginx.conf", 3, 4))
    other = Unresolved("x", "why", Location("k8s/web.yaml", 3, 4))
    assert deployed.relocate(ln, "/etc/nginx/nginx.conf", "k8s/web.yaml") == other
    assert deployed.relocate(other, "/etc/nginx/nginx.conf", "elsewhere") is other


def test_hostile_destinations_and_a_key_mounted_many_times(tmp_path: Path) -> None:
    """Traversal, huge and control-character destinations are names only; one large key
    mounted by many pods is read within the scan's budget, and embedded files never nest."""
    big = "    server { listen 80; }\n" + "    # padding\n" * 20000
    mounts = "".join(
        f"            - {{name: conf, mountPath: /etc/nginx/conf.d/{i}.conf, subPath: a.conf}}\n"
        for i in range(300)
    )
    manifest = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: c}\ndata:\n  a.conf: |\n" + big + "---\n"
        "apiVersion: v1\nkind: Pod\nmetadata: {name: p}\nspec:\n  securityContext: {runAsUser: 101}\n"
        "  containers:\n    - name: n\n      image: nginx\n      volumeMounts:\n"
        + mounts.replace("            ", "        ")
        + "  volumes:\n    - {name: conf, configMap: {name: c}}\n"
    )
    nested = (
        "apiVersion: v1\nkind: ConfigMap\nmetadata: {name: outer}\ndata:\n  inner.yaml: |\n"
        "    apiVersion: v1\n    kind: ConfigMap\n    metadata: {name: inner}\n"
        "    data:\n      x.conf: |\n        server { listen 80; }\n"
    )
    files = {
        "k8s/pod.yaml": manifest,
        "k8s/nested.yaml": nested,
        "Dockerfile": "FROM nginx\nUSER nginx\n"
        + "COPY a.conf /etc/nginx/../../../../../../etc/nginx/conf.d/a.conf\n"
        + "COPY a.conf /"
        + "x" * 5000
        + "\n",
        "a.conf": "listen 80;\nlocation / { return 204; }\n",
    }
    write_tree(tmp_path, files)
    run = run_bounded("check", ".", "--runtime", "cri-o", "--format", "json", cwd=tmp_path)
    assert not run.crashed, run.stderr
    found = {(f["rule"], f["path"], f["line"]) for f in json.loads(run.stdout)["findings"]}
    assert ("PP001", "a.conf", 1) in found
    assert ("PP001", "k8s/pod.yaml", 6) in found
    assert not any(path == "k8s/nested.yaml" for _, path, _ in found)
