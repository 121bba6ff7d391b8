// Validates Kubernetes objects against the schemas of the kubernetes-models
// packages (the Kubernetes OpenAPI schemas; ServiceMonitor and PrometheusRule
// from the prometheus-operator CRDs). Reads a multi-document YAML stream on
// stdin; prints one line per object and exits 1 if any object is invalid or
// of a kind this script does not know.
//
// The schemas check types, required fields and enums; like the API server's
// OpenAPI schemas they do not reject unknown fields. test_deploy_manifests.py
// checks the fields that matter (security context, mounts, probes) itself.
import { readFileSync } from "node:fs";
import { parseAllDocuments } from "yaml";
import { ConfigMap, Service, ServiceAccount, Namespace } from "kubernetes-models/v1";
import { DaemonSet } from "kubernetes-models/apps/v1";
import { ServiceMonitor, PrometheusRule } from "@kubernetes-models/prometheus-operator/monitoring.coreos.com/v1";

const MODELS = {
  "v1/ConfigMap": ConfigMap,
  "v1/Service": Service,
  "v1/ServiceAccount": ServiceAccount,
  "v1/Namespace": Namespace,
  "apps/v1/DaemonSet": DaemonSet,
  "monitoring.coreos.com/v1/ServiceMonitor": ServiceMonitor,
  "monitoring.coreos.com/v1/PrometheusRule": PrometheusRule,
};

let failed = false;
let count = 0;
for (const doc of parseAllDocuments(readFileSync(0, "utf8"))) {
  if (doc.errors.length) {
    console.log(`YAML error: ${doc.errors[0].message}`);
    failed = true;
    continue;
  }
  const obj = doc.toJS();
  if (obj === null) continue;  // an empty document between two ---
  count++;
  const key = `${obj.apiVersion}/${obj.kind}`;
  const name = `${key} ${obj.metadata?.name}`;
  const Model = MODELS[key];
  if (!Model) {
    console.log(`UNKNOWN ${name}: no schema for this kind`);
    failed = true;
    continue;
  }
  try {
    new Model(obj).validate();
    console.log(`valid ${name}`);
  } catch (e) {
    console.log(`INVALID ${name}: ${e.message}`);
    failed = true;
  }
}
if (count === 0) {
  console.log("no objects on stdin");
  failed = true;
}
process.exit(failed ? 1 : 0);
