#!/usr/bin/env python3
"""Writes the Grafana dashboards of redeye (deploy/grafana/*.json) from the
panel lists below, so that the three share their layout rules, variables and
thresholds. Run it after a change and commit the JSON:
    python3 deploy/grafana/build_dashboards.py
tests/kernel/test_deploy_manifests.py fails when the JSON is not what this
script writes, and checks every query with promtool;
tests/kernel/test_dashboards_e2e.py runs every query against a real
Prometheus scraping a real agent.

Thresholds of the traffic lights (dashboard variables, editable):
  error ratio: yellow above 1 %, red above 5 %
  p95 latency: yellow above 250 ms, red above 1 s
"""
import json
import os

HERE = os.path.dirname(os.path.abspath(__file__))
DS = {"type": "prometheus", "uid": "${datasource}"}
RI = "$__rate_interval"


def datasource_var():
    return {"name": "datasource", "label": "Prometheus", "type": "datasource", "query": "prometheus",
            "current": {}, "hide": 0, "refresh": 1, "regex": "", "options": []}


def query_var(name, label, query, multi=True, include_all=True):
    v = {"name": name, "label": label, "type": "query", "datasource": DS,
         "definition": query, "query": {"query": query, "refId": f"{name}-query"},
         "refresh": 2, "sort": 1, "multi": multi, "includeAll": include_all, "hide": 0,
         "current": {}, "options": [], "regex": ""}
    if include_all:
        v["allValue"] = ".*"
        v["current"] = {"selected": True, "text": "All", "value": "$__all"}
    return v


def textbox_var(name, label, value):
    return {"name": name, "label": label, "type": "textbox", "query": value, "hide": 0,
            "current": {"selected": False, "text": value, "value": value},
            "options": [{"selected": True, "text": value, "value": value}]}


class Layout:
    """Places panels left to right, 24 columns wide, rows by section."""

    def __init__(self):
        self.panels = []
        self.x = 0
        self.y = 0
        self.row_height = 0

    def row(self, title):
        self._newline()
        self.panels.append({"type": "row", "title": title, "collapsed": False, "panels": [],
                            "id": len(self.panels) + 1, "gridPos": {"x": 0, "y": self.y, "w": 24, "h": 1}})
        self.y += 1

    def add(self, panel, w=12, h=8):
        if self.x + w > 24:
            self._newline()
        panel["id"] = len(self.panels) + 1
        panel["gridPos"] = {"x": self.x, "y": self.y, "w": w, "h": h}
        self.panels.append(panel)
        self.x += w
        self.row_height = max(self.row_height, h)

    def _newline(self):
        if self.x:
            self.y += self.row_height
        self.x = 0
        self.row_height = 0


def targets(*queries):
    """(expr, legend) pairs -> Grafana targets."""
    return [{"datasource": DS, "expr": expr, "legendFormat": legend, "refId": chr(ord("A") + i), "range": True}
            for i, (expr, legend) in enumerate(queries)]


def timeseries(title, unit, *queries, description="", stack=False):
    return {"type": "timeseries", "title": title, "description": description, "datasource": DS,
            "targets": targets(*queries),
            "fieldConfig": {"defaults": {"unit": unit, "custom": {"fillOpacity": 10 if not stack else 60,
                                                                   "stacking": {"mode": "normal" if stack else "none"}}},
                            "overrides": []},
            "options": {"legend": {"displayMode": "table", "placement": "bottom", "calcs": ["mean", "max"]},
                        "tooltip": {"mode": "multi", "sort": "desc"}}}


def stat(title, unit, *queries, description="", thresholds=None, mappings=None, color_mode="value"):
    steps = thresholds or [{"color": "green", "value": None}]
    return {"type": "stat", "title": title, "description": description, "datasource": DS,
            "targets": [dict(t, range=False, instant=True) for t in targets(*queries)],
            "fieldConfig": {"defaults": {"unit": unit, "mappings": mappings or [],
                                         "thresholds": {"mode": "absolute", "steps": steps}},
                            "overrides": []},
            "options": {"colorMode": color_mode, "graphMode": "none", "justifyMode": "center",
                        "textMode": "value_and_name", "orientation": "horizontal",
                        "reduceOptions": {"calcs": ["lastNotNull"], "fields": "", "values": False}}}


def table(title, *queries, description=""):
    return {"type": "table", "title": title, "description": description, "datasource": DS,
            "targets": [dict(t, range=False, instant=True, format="table") for t in targets(*queries)],
            "fieldConfig": {"defaults": {}, "overrides": []},
            "transformations": [{"id": "merge", "options": {}}],
            "options": {"showHeader": True}}


def dashboard(uid, title, description, variables, layout, tags=()):
    return {"uid": uid, "title": title, "description": description, "tags": ["redeye", *tags],
            "editable": True, "graphTooltip": 1, "schemaVersion": 39, "version": 1, "refresh": "30s",
            "time": {"from": "now-1h", "to": "now"}, "timezone": "",
            "templating": {"list": variables}, "annotations": {"list": []}, "links": [],
            "panels": layout.panels}


def rate(metric, selector, by):
    return f"sum by ({by}) (rate({metric}{{{selector}}}[{RI}]))"


def quantile(q, metric, selector, by):
    return f"histogram_quantile({q}, sum by ({by}, le) (rate({metric}_bucket{{{selector}}}[{RI}])))"


# ---- the signals of a service: error ratio and p95, per kind of traffic ----

S = 'service_name=~"$service"'
HTTP = "http_server_request_duration_seconds"
DB = "db_server_operation_duration_seconds"
AMQP = "messaging_process_duration_seconds"


def error_ratio(metric, error_selector):
    """Errors / all per service; a service with traffic but no error series is 0."""
    total = rate(f"{metric}_count", S, "service_name")
    errors = rate(f"{metric}_count", f"{S}, {error_selector}", "service_name")
    return f"(({errors}) or ({total} * 0)) / ({total})"


SIGNALS = [  # (name, error ratio, p95)
    ("http", error_ratio(HTTP, 'http_response_status_code=~"5.."'), quantile(0.95, HTTP, S, "service_name")),
    ("database", error_ratio(DB, 'error_type!=""'), quantile(0.95, DB, S, "service_name")),
    ("amqp", error_ratio(AMQP, 'outcome!="ack"'), quantile(0.95, AMQP, S, "service_name")),
]


def level(expr, yellow, red):
    """0 green, 1 yellow, 2 red; NaN (no traffic) compares false: green."""
    return f"((({expr}) > bool ${yellow}) + (({expr}) > bool ${red}))"


def traffic_light():
    parts = []
    for name, errors, p95 in SIGNALS:
        parts.append(f'label_replace({level(errors, "error_yellow", "error_red")}, "signal", "{name}_errors", "", "")')
        parts.append(f'label_replace({level(p95, "latency_yellow", "latency_red")}, "signal", "{name}_latency", "", "")')
    return "max by (service_name) (\n  " + "\n  or ".join(parts) + "\n)"


LIGHT_MAPPINGS = [{"type": "value", "options": {
    "0": {"text": "OK", "color": "green", "index": 0},
    "1": {"text": "DEGRADED", "color": "yellow", "index": 1},
    "2": {"text": "FAILING", "color": "red", "index": 2}}}]
LIGHT_STEPS = [{"color": "green", "value": None}, {"color": "yellow", "value": 1}, {"color": "red", "value": 2}]
THRESHOLD_VARS = [textbox_var("error_yellow", "error ratio: yellow above", "0.01"),
                  textbox_var("error_red", "error ratio: red above", "0.05"),
                  textbox_var("latency_yellow", "p95 seconds: yellow above", "0.25"),
                  textbox_var("latency_red", "p95 seconds: red above", "1")]


def overview():
    services = query_var("service", "service", 'label_values({__name__=~"http_server_request_duration_seconds_count|'
                         'db_server_operation_duration_seconds_count|messaging_process_duration_seconds_count"}, '
                         'service_name)')
    l = Layout()
    l.row("Order path: one light per service")
    l.add(stat("Service health", "none", (traffic_light(), "{{service_name}}"), color_mode="background",
               mappings=LIGHT_MAPPINGS, thresholds=LIGHT_STEPS,
               description="Worst of the service's signals: HTTP 5xx ratio and p95 as a server, database errors and "
                           "p95 as a database, AMQP messages not acked and processing p95 as a consumer. Red above "
                           "$error_red errors or $latency_red s, yellow above $error_yellow or $latency_yellow s; "
                           "green also when the service had no traffic."), w=24, h=6)
    l.row("Traffic")
    l.add(timeseries("HTTP requests served /s", "reqps", (rate(f"{HTTP}_count", S, "service_name"), "{{service_name}}")))
    l.add(timeseries("HTTP 5xx ratio", "percentunit", (SIGNALS[0][1], "{{service_name}}")))
    l.add(timeseries("HTTP p95", "s", (SIGNALS[0][2], "{{service_name}}")))
    l.add(timeseries("Database operations /s", "ops", (rate(f"{DB}_count", S, "service_name"), "{{service_name}}")))
    l.add(timeseries("Database p95", "s", (SIGNALS[1][2], "{{service_name}}")))
    l.add(timeseries("Database error ratio", "percentunit", (SIGNALS[1][1], "{{service_name}}")))
    l.add(timeseries("AMQP messages published /s", "short",
                     (rate("messaging_client_sent_messages_total", S, "service_name"), "{{service_name}}")))
    l.add(timeseries("AMQP messages processed /s", "short",
                     (rate(f"{AMQP}_count", S, "service_name, outcome"), "{{service_name}} {{outcome}}")))
    l.row("Signals now")
    l.add(table("Error ratio and p95 per service",
                *[(e, f"{n} errors") for n, e, _ in SIGNALS], *[(p, f"{n} p95") for n, _, p in SIGNALS]), w=24, h=8)
    return dashboard("redeye-overview", "redeye / Order path overview",
                     "One traffic light per service of the order path, from its error ratio and latency.",
                     [datasource_var(), services, *THRESHOLD_VARS], l, tags=("red",))


def service_detail():
    service = query_var("service", "service", 'label_values({__name__=~"http_.*_request_duration_seconds_count|'
                        'db_.*_operation_duration_seconds_count|messaging_client_.*_total"}, service_name)',
                        multi=False, include_all=False)
    s = 'service_name="$service"'
    hc = "http_client_request_duration_seconds"
    dc = "db_client_operation_duration_seconds"
    l = Layout()
    l.row("HTTP server")
    l.add(timeseries("Requests /s by route and status", "reqps",
                     (rate(f"{HTTP}_count", s, "http_route, http_response_status_code"),
                      "{{http_route}} {{http_response_status_code}}")), w=8)
    l.add(timeseries("Latency by route", "s", *[(quantile(q, HTTP, s, "http_route"), f"p{int(q * 100)} {{{{http_route}}}}")
                                                for q in (0.5, 0.95, 0.99)]), w=8)
    l.add(timeseries("Requests in progress", "short", (f'sum(http_server_active_requests{{{s}}})', "in progress")), w=8)
    l.row("HTTP client")
    l.add(timeseries("Requests made /s by server and status", "reqps",
                     (rate(f"{hc}_count", s, "server_address, http_response_status_code"),
                      "{{server_address}} {{http_response_status_code}}")))
    l.add(timeseries("p95 by server", "s", (quantile(0.95, hc, s, "server_address"), "{{server_address}}")))
    l.row("Database")
    l.add(timeseries("Operations served /s (as a database)", "ops",
                     (rate(f"{DB}_count", s, "db_operation_name, db_collection_name"),
                      "{{db_operation_name}} {{db_collection_name}}")), w=8)
    l.add(timeseries("Operation p95 (as a database)", "s",
                     (quantile(0.95, DB, s, "db_operation_name"), "{{db_operation_name}}")), w=8)
    l.add(timeseries("Operations in progress (as a database)", "short",
                     (f'sum by (db_system_name) (db_server_active_operations{{{s}}})', "{{db_system_name}}")), w=8)
    l.add(timeseries("Operations made /s (as a client)", "ops",
                     (rate(f"{dc}_count", s, "server_address, db_operation_name"),
                      "{{server_address}} {{db_operation_name}}")), w=8)
    l.add(timeseries("Operation p95 (as a client)", "s",
                     (quantile(0.95, dc, s, "server_address, db_operation_name"),
                      "{{server_address}} {{db_operation_name}}")), w=8)
    l.add(timeseries("Operations by error type /s", "ops",
                     (f"sum by (error_type) (rate({{__name__=~\"db_(server|client)_operation_duration_seconds_count\", "
                      f"{s}}}[{RI}]))", "{{error_type}}")), w=8,)
    l.row("AMQP")
    l.add(timeseries("Published /s by destination", "short",
                     (rate("messaging_client_sent_messages_total", s, "messaging_destination_name"),
                      "{{messaging_destination_name}}")), w=8)
    l.add(timeseries("Consumed /s by source", "short",
                     (rate("messaging_client_consumed_messages_total", s, "messaging_source_name, operation"),
                      "{{messaging_source_name}} {{operation}}")), w=8)
    l.add(timeseries("Processing p95 by source", "s",
                     (quantile(0.95, AMQP, s, "messaging_source_name"), "{{messaging_source_name}}")), w=8)
    l.add(timeseries("Settled /s by outcome", "short",
                     (rate("messaging_client_settled_messages_total", s, "messaging_source_name, outcome, requeue"),
                      "{{messaging_source_name}} {{outcome}} requeue={{requeue}}")), w=8)
    l.add(timeseries("Unacked deliveries and consumers", "short",
                     (f'sum(messaging_client_unacked_messages{{{s}}})', "unacked"),
                     (f'sum(messaging_client_consumers{{{s}}})', "consumers")), w=8)
    l.add(timeseries("Publish confirms /s by outcome", "short",
                     (rate("messaging_client_publish_confirm_duration_seconds_count", s, "outcome"), "{{outcome}}")), w=8)
    l.add(timeseries("Publish confirm p95", "s",
                     (quantile(0.95, "messaging_client_publish_confirm_duration_seconds", s, "outcome"), "{{outcome}}")), w=8)
    l.add(timeseries("Returned (unroutable) /s", "short",
                     (rate("messaging_client_returned_messages_total", s, "service_name"), "returned")), w=8)
    l.add(timeseries("Connection closes /s by reply code", "short",
                     (rate("redeye_amqp_connection_closes_total", s, "reply_code, side"), "{{reply_code}} by {{side}}")),
          w=8)
    return dashboard("redeye-service", "redeye / Service detail",
                     "HTTP, database and AMQP traffic of one service, as server and as client.",
                     [datasource_var(), service], l, tags=("red",))


def use():
    instance = query_var("instance", "node", "label_values(redeye_build_info, instance)")
    service = query_var("service", "service", "label_values(redeye_process_cpu_seconds_total, service_name)")
    i = 'instance=~"$instance"'
    si = f'{i}, service_name=~"$service"'
    l = Layout()
    l.row("CPU")
    l.add(timeseries("CPU used by service (utilization)", "percentunit",
                     (rate("redeye_process_cpu_seconds_total", si, "service_name"), "{{service_name}}"), stack=True), w=8)
    l.add(timeseries("Run-queue wait p99 by service (saturation)", "s",
                     (quantile(0.99, "redeye_runqueue_latency_seconds", si, "service_name"), "{{service_name}}")), w=8)
    l.add(timeseries("Time stalled (PSI, saturation)", "percentunit",
                     (rate("redeye_node_pressure_waiting_seconds_total", i, "instance, resource, kind"),
                      "{{instance}} {{resource}} {{kind}}")), w=8)
    l.row("Memory")
    l.add(timeseries("Resident memory by service (utilization)", "bytes",
                     (f"sum by (service_name) (redeye_process_resident_memory_bytes{{{si}}})", "{{service_name}}"),
                     stack=True), w=8)
    l.add(timeseries("OOM kills (errors)", "short",
                     (f"sum by (service_name) (increase(redeye_oom_kills_total{{{si}}}[$__range]))", "{{service_name}}"),
                     description="Processes killed by the OOM killer over the dashboard's time range. The series "
                                 "appears at the first kill."), w=8)
    l.add(timeseries("Open file descriptors by service", "short",
                     (f"sum by (service_name) (redeye_process_open_fds{{{si}}})", "{{service_name}}")), w=8)
    l.row("Disk")
    l.add(timeseries("Device time p99 by disk (saturation)", "s",
                     (quantile(0.99, "redeye_disk_io_duration_seconds", i, "instance, device, operation"),
                      "{{instance}} {{device}} {{operation}}")), w=8)
    l.add(timeseries("I/O requests /s by disk (utilization)", "iops",
                     (rate("redeye_disk_io_duration_seconds_count", i, "instance, device, operation"),
                      "{{instance}} {{device}} {{operation}}")), w=8)
    l.add(timeseries("Bytes submitted /s by service", "Bps",
                     (rate("redeye_process_disk_io_bytes_total", si, "service_name, operation"),
                      "{{service_name}} {{operation}}")), w=8)
    l.row("Network (TCP)")
    l.add(timeseries("Connections open by service", "short",
                     (f"sum by (service_name, direction) (redeye_tcp_active_connections{{{si}}})",
                      "{{service_name}} {{direction}}")), w=8)
    l.add(timeseries("Connections opened /s", "short",
                     (rate("redeye_tcp_connections_total", si, "service_name, direction"),
                      "{{service_name}} {{direction}}")), w=8)
    l.add(timeseries("Connect failures /s (errors)", "short",
                     (rate("redeye_tcp_connect_failures_total", si, "service_name, reason"),
                      "{{service_name}} {{reason}}")), w=8)
    l.add(timeseries("Resets /s (errors)", "short",
                     (rate("redeye_tcp_resets_total", si, "service_name, direction"), "{{service_name}} {{direction}}")),
          w=8)
    l.add(timeseries("Retransmitted segments /s (saturation)", "short",
                     (rate("redeye_tcp_retransmits_total", si, "service_name"), "{{service_name}}")), w=8)
    l.add(timeseries("Packets dropped /s by reason", "pps",
                     (rate("redeye_tcp_drops_total", i, "instance, reason"), "{{instance}} {{reason}}")), w=8)
    l.row("The agent")
    l.add(timeseries("Events lost /s", "short",
                     (rate("redeye_events_lost_total", i, "instance, stage, reason"),
                      "{{instance}} {{stage}} {{reason}}")), w=8)
    l.add(timeseries("BPF map fill", "percentunit",
                     (f"redeye_bpf_map_entries{{{i}}} / on (instance, map) redeye_bpf_map_capacity{{{i}}}",
                      "{{instance}} {{map}}")), w=8)
    l.add(stat("Probes attached", "short",
               (f"sum by (instance) (redeye_probe_up{{{i}}})", "{{instance}}"),
               (f"sum by (instance) (1 - redeye_probe_up{{{i}}})", "{{instance}} detached"),
               description="Probes attached and not attached, per node."), w=8)
    return dashboard("redeye-use", "redeye / Host and process USE",
                     "Utilization, saturation and errors of CPU, memory, disk and TCP, per node and per service.",
                     [datasource_var(), instance, service], l, tags=("use",))


DASHBOARDS = {"redeye-overview.json": overview, "redeye-service.json": service_detail, "redeye-use.json": use}


def render():
    return {name: json.dumps(build(), indent=2) + "\n" for name, build in DASHBOARDS.items()}


if __name__ == "__main__":
    for name, text in render().items():
        with open(os.path.join(HERE, name), "w") as f:
            f.write(text)
        print("wrote deploy/grafana/" + name)
