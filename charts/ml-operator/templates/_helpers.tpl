{{/* The chart's name, overridable. */}}
{{- define "ml-operator.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The release's full name: the prefix of every object's name. */}}
{{- define "ml-operator.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "ml-operator.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "ml-operator.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels that select the operator's pods. */}}
{{- define "ml-operator.selectorLabels" -}}
app.kubernetes.io/name: {{ include "ml-operator.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels on every object. */}}
{{- define "ml-operator.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "ml-operator.selectorLabels" . }}
app.kubernetes.io/version: {{ .Values.image.tag | default .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: ml-operator
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "ml-operator.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ml-operator.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* Where the operator keeps its Lease and state ConfigMap: config.state.namespace or the release's. */}}
{{- define "ml-operator.stateNamespace" -}}
{{- default .Release.Namespace .Values.config.state.namespace -}}
{{- end -}}

{{- define "ml-operator.stateConfigMap" -}}
{{- default (printf "%s-state" (include "ml-operator.fullname" .)) .Values.config.state.configMap -}}
{{- end -}}

{{- define "ml-operator.leaseName" -}}
{{- default (include "ml-operator.fullname" .) .Values.config.leaderElection.leaseName -}}
{{- end -}}

{{/* The HTTP port, from config.listen (HOST:PORT). */}}
{{- define "ml-operator.port" -}}
{{- regexFind "[0-9]+$" .Values.config.listen | int -}}
{{- end -}}

{{- define "ml-operator.secretName" -}}
{{- if .Values.secrets.existingSecret -}}
{{- .Values.secrets.existingSecret -}}
{{- else if .Values.secrets.values -}}
{{- printf "%s-secrets" (include "ml-operator.fullname" .) -}}
{{- end -}}
{{- end -}}

{{- define "ml-operator.image" -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) -}}
{{- end -}}
{{- end -}}

{{/*
A copy of a map without empty strings, empty lists, empty maps and nulls (recursively, also in
maps inside lists), as JSON: the code's defaults apply to what values leave empty. false and 0
are kept.
*/}}
{{- define "ml-operator.prune" -}}
{{- $out := dict -}}
{{- range $key, $value := . -}}
{{- if kindIs "map" $value -}}
{{- $inner := include "ml-operator.prune" $value | fromJson -}}
{{- if $inner }}{{ $_ := set $out $key $inner }}{{ end -}}
{{- else if kindIs "slice" $value -}}
{{- $items := list -}}
{{- range $value -}}
{{- if kindIs "map" . -}}
{{- $items = append $items (include "ml-operator.prune" . | fromJson) -}}
{{- else -}}
{{- $items = append $items . -}}
{{- end -}}
{{- end -}}
{{- if $items }}{{ $_ := set $out $key $items }}{{ end -}}
{{- else if kindIs "invalid" $value -}}
{{- else if and (kindIs "string" $value) (eq $value "") -}}
{{- else -}}
{{- $_ := set $out $key $value -}}
{{- end -}}
{{- end -}}
{{- toJson $out -}}
{{- end -}}

{{/*
The configuration file: config from values with the chart's defaults filled in (state
ConfigMap and Lease name; the state namespace stays unset unless given: POD_NAMESPACE is the release's), upgrades only when enabled, empties left out.
*/}}
{{- define "ml-operator.config" -}}
{{- $config := deepCopy .Values.config -}}
{{- $_ := set $config.state "configMap" (include "ml-operator.stateConfigMap" .) -}}
{{- $_ := set $config.leaderElection "leaseName" (include "ml-operator.leaseName" .) -}}
{{- if not $config.upgrades.enabled -}}
{{- $_ := unset $config "upgrades" -}}
{{- end -}}
{{- if not $config.api.enabled -}}
{{- $_ := unset $config "api" -}}
{{- end -}}
{{- include "ml-operator.prune" $config | fromJson | toYaml -}}
{{- end -}}

{{/* Refuses values that would deploy something broken or leak a secret. */}}
{{- define "ml-operator.validate" -}}
{{- $notify := .Values.config.notify -}}
{{- range $name := list "slack" "teams" -}}
{{- $url := get $notify $name -}}
{{- if and $url (or $url.webhookUrl $url.url) -}}
{{- fail (printf "config.notify.%s.webhookUrl would put a secret in a ConfigMap: put the URL in secrets.existingSecret (or secrets.values) and set config.notify.%s.webhookUrlFile: /etc/ml-operator/secrets/<key>" $name $name) -}}
{{- end -}}
{{- end -}}
{{- range $i, $hook := $notify.webhooks -}}
{{- if or $hook.webhookUrl $hook.url -}}
{{- fail (printf "config.notify.webhooks[%d].webhookUrl would put a secret in a ConfigMap: use webhookUrlFile with secrets.existingSecret (or secrets.values)" $i) -}}
{{- end -}}
{{- end -}}
{{- if and .Values.secrets.existingSecret .Values.secrets.values -}}
{{- fail "give secrets.existingSecret or secrets.values, not both" -}}
{{- end -}}
{{- if and (gt (int .Values.replicaCount) 1) (not .Values.config.leaderElection.enabled) -}}
{{- fail "replicaCount > 1 needs config.leaderElection.enabled: true, or every replica would notify" -}}
{{- end -}}
{{- if and .Values.serviceMonitor.enabled (not .Values.service.enabled) -}}
{{- fail "serviceMonitor.enabled needs service.enabled" -}}
{{- end -}}
{{- $secretPaths := list -}}
{{- range $r := .Values.config.registries -}}{{ $secretPaths = append $secretPaths ($r.passwordFile | default "") }}{{ $secretPaths = append $secretPaths ($r.caFile | default "") }}{{- end -}}
{{- range $n := list $notify.slack $notify.teams -}}{{ if $n }}{{ $secretPaths = append $secretPaths ($n.webhookUrlFile | default ($n.urlFile | default "")) }}{{ end }}{{- end -}}
{{- range $h := $notify.webhooks -}}{{ $secretPaths = append $secretPaths ($h.webhookUrlFile | default ($h.urlFile | default "")) }}{{ $secretPaths = append $secretPaths ($h.signingKeyFile | default "") }}{{- end -}}
{{- range $p := $secretPaths -}}
{{- if and (hasPrefix "/etc/ml-operator/secrets/" $p) (not (include "ml-operator.secretName" $)) -}}
{{- fail (printf "%s is in /etc/ml-operator/secrets but neither secrets.existingSecret nor secrets.values is set" $p) -}}
{{- end -}}
{{- if and (hasPrefix "/etc/ml-operator/secrets/" $p) $.Values.secrets.values (not (hasKey $.Values.secrets.values (trimPrefix "/etc/ml-operator/secrets/" $p))) -}}
{{- fail (printf "%s: secrets.values has no key %q" $p (trimPrefix "/etc/ml-operator/secrets/" $p)) -}}
{{- end -}}
{{- end -}}
{{- end -}}
