{{/*
The rules src/rbac.rs lists as UPGRADES (tests/packaging.rs compares them), granted only when
config.upgrades.enabled: patch on the workload kinds an upgrade changes, delete on Pods (a
StatefulSet's forced rollback), and the ImageUpgrade
resources that record proposals, approvals and every step.
*/}}
{{- define "ml-operator.upgradeRules" -}}
# Upgrades: applying an approved image, and rolling it back.
- apiGroups: ["apps"]
  resources: ["deployments", "statefulsets", "daemonsets"]
  verbs: ["patch"]
# A StatefulSet's forced rollback: its Pods stuck (not Ready) on the failed revision.
- apiGroups: [""]
  resources: ["pods"]
  verbs: ["delete"]
# Proposals found by scans, approvals, and each step recorded before it is taken.
- apiGroups: ["ml-operator.mojaloop.io"]
  resources: ["imageupgrades"]
  verbs: ["get", "list", "watch", "create", "patch", "update"]
- apiGroups: ["ml-operator.mojaloop.io"]
  resources: ["imageupgrades/status"]
  verbs: ["get", "update", "patch"]
{{- end -}}
