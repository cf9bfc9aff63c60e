{{/*
The rules src/rbac.rs lists as UPGRADES, granted only when config.upgrades.enabled. Empty until
the code declares them: then they are added here and tests/packaging.rs checks them.
*/}}
{{- define "ml-operator.upgradeRules" -}}
{{- end -}}
