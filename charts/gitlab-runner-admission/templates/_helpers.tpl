{{/* Chart name, overridable. */}}
{{- define "gra.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/*
Fully qualified app name. Truncated at 63 chars because some Kubernetes name fields are
limited to that (DNS-1123 label). Used for the Deployment, Service, webhook configurations
(the product patches their caBundle by this name) and the cert Secret (<fullname>-tls).
*/}}
{{- define "gra.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 63 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "gra.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Common labels (Kubernetes recommended labels + helm.sh/chart). */}}
{{- define "gra.labels" -}}
helm.sh/chart: {{ include "gra.chart" . }}
{{ include "gra.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/component: admission-webhook
app.kubernetes.io/part-of: gitlab-runner-admission
{{- end }}

{{/* Selector labels: must never change between upgrades (Deployment selectors are immutable). */}}
{{- define "gra.selectorLabels" -}}
app.kubernetes.io/name: {{ include "gra.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "gra.serviceAccountName" -}}
{{- if .Values.serviceAccount.create }}
{{- default (include "gra.fullname" .) .Values.serviceAccount.name }}
{{- else }}
{{- default "default" .Values.serviceAccount.name }}
{{- end }}
{{- end }}

{{/* Secret holding the serving cert: written by the product (selfManaged) or cert-manager. */}}
{{- define "gra.tlsSecretName" -}}
{{- printf "%s-tls" (include "gra.fullname" .) }}
{{- end }}

{{- define "gra.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}
{{- end }}

{{/*
Namespaces no webhook of this release is ever called for: kube-system (a webhook that can
block kube-system can block the cluster's own recovery) and the release namespace (the
webhook must never stand in the way of its own pods and Secret).
*/}}
{{- define "gra.excludedNamespaces" -}}
{{- $ns := list "kube-system" .Release.Namespace }}
{{- range .Values.webhook.excludeNamespaces }}{{ $ns = append $ns . }}{{ end }}
{{- toJson (uniq $ns) }}
{{- end }}

{{/*
caBundle already in the cluster (selfManaged mode). Rendering it back keeps `helm upgrade
--force` (which replaces instead of merging) from blanking the bundle until the product
re-patches it. `lookup` returns nothing under `helm template` and Argo CD; the field is then
left out, and a three-way merge keeps the live value.
Argument: dict with "root" and "kind".
*/}}
{{- define "gra.existingCaBundle" -}}
{{- $obj := lookup "admissionregistration.k8s.io/v1" .kind "" (include "gra.fullname" .root) }}
{{- $bundle := "" }}
{{- if $obj }}
{{- range $obj.webhooks }}
{{- if and (not $bundle) .clientConfig.caBundle }}{{ $bundle = .clientConfig.caBundle }}{{ end }}
{{- end }}
{{- end }}
{{- $bundle }}
{{- end }}

{{/* Checks values cannot express in values.schema.json. */}}
{{- define "gra.validate" -}}
{{- if ge (int .Values.reviewBudgetMs) (mul (int .Values.webhook.timeoutSeconds) 1000) }}
{{- fail "reviewBudgetMs must be below webhook.timeoutSeconds*1000: the apiserver gives up at timeoutSeconds and applies failurePolicy" }}
{{- end }}
{{- end }}
