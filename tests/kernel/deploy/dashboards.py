"""The Grafana dashboards of deploy/grafana as data for the tests: every
panel query, and the queries with the dashboard variables put in."""
import glob
import json
import os
import re

HERE = os.path.dirname(os.path.abspath(__file__))
GRAFANA = os.path.abspath(os.path.join(HERE, "..", "..", "..", "deploy", "grafana"))

# Grafana's own variables, with the values a test uses: windows that cover
# the whole of a short test run.
BUILTINS = {"__rate_interval": "2m", "__range": "5m", "__interval": "15s"}


def load():
    """{file name: dashboard} of every dashboard JSON."""
    out = {}
    for path in sorted(glob.glob(os.path.join(GRAFANA, "*.json"))):
        with open(path) as f:
            out[os.path.basename(path)] = json.load(f)
    return out


def panels(dashboard):
    """Every panel, those inside collapsed rows included."""
    for p in dashboard["panels"]:
        yield p
        yield from p.get("panels", [])


def queries(dashboard):
    """(panel title, expr) of every target of every panel."""
    for p in panels(dashboard):
        for t in p.get("targets", []):
            yield p["title"], t["expr"]


def variables(dashboard):
    return {v["name"]: v for v in dashboard["templating"]["list"]}


def default_values(dashboard):
    """The value each variable has when nothing is picked: All (.*) for the
    multi-value ones, the text of the text boxes."""
    out = {}
    for name, v in variables(dashboard).items():
        if v["type"] == "textbox":
            out[name] = v["query"]
        elif v["type"] == "query" and v.get("includeAll"):
            out[name] = v["allValue"]
    return out


_VAR = re.compile(r"\$\{(\w+)(?::\w+)?\}|\$(\w+)|\[\[(\w+)\]\]")


def substitute(expr, values):
    """expr with $var, ${var} and [[var]] replaced; KeyError names a
    variable without a value."""
    merged = {**BUILTINS, **values}

    def one(m):
        name = m.group(1) or m.group(2) or m.group(3)
        return merged[name]

    return _VAR.sub(one, expr)


def used_variables(expr):
    return {m.group(1) or m.group(2) or m.group(3) for m in _VAR.finditer(expr)}
