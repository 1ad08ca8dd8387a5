{{/*
CEL matchConditions, read verbatim from cel/<name>.cel so test/unit/chart.test.ts evaluates
exactly the strings the apiserver gets. The apiserver skips the webhook when any condition is
false, so each expression first lets other resources through ("not my resource || ...").
An evaluation error with failurePolicy Fail rejects the request (KEP-3716), hence the has()
guards in every expression.
Argument: dict with "root" and "names" (file names without .cel).
*/}}
{{- define "gra.matchConditions" -}}
{{- if .root.Values.webhook.matchConditions }}
matchConditions:
{{- range .names }}
  - name: {{ printf "runner-%s" . }}
    expression: {{ $.root.Files.Get (printf "cel/%s.cel" .) | trim | toJson }}
{{- end }}
{{- end }}
{{- end }}

{{/* Resources the validating webhooks see: configs and workloads (and Pods in pod mode). */}}
{{- define "gra.validatingRules" -}}
rules:
  - apiGroups: [""]
    apiVersions: ["v1"]
    operations: ["CREATE", "UPDATE"]
    resources: ["configmaps", "secrets"{{ if .Values.webhook.podMode }}, "pods"{{ end }}]
    scope: Namespaced
  - apiGroups: ["apps"]
    apiVersions: ["v1"]
    operations: ["CREATE", "UPDATE"]
    resources: ["deployments", "statefulsets", "daemonsets"]
    scope: Namespaced
  {{- if .Values.webhook.gitops }}
  - apiGroups: ["helm.toolkit.fluxcd.io"]
    apiVersions: ["v2", "v2beta2", "v2beta1"]
    operations: ["CREATE", "UPDATE"]
    resources: ["helmreleases"]
    scope: Namespaced
  - apiGroups: ["argoproj.io"]
    apiVersions: ["v1alpha1"]
    operations: ["CREATE", "UPDATE"]
    resources: ["applications", "applicationsets"]
    scope: Namespaced
  {{- end }}
{{- end }}

{{/*
One validating webhook. mode "" is the cluster default (/validate, GRA_MODE) for namespaces
without a valid mode label; "enforce"/"warn"/"audit" serve namespaces labelled
gitlab-runner-admission/mode=<mode> on /validate/<mode>. The default webhook uses NotIn, which
also matches namespaces without the label, so a typo in the label falls back to the default
mode instead of switching checks off.
Argument: dict with "root", "mode" and "caBundle".
*/}}
{{- define "gra.validatingWebhook" -}}
{{- $root := .root }}
- name: {{ if .mode }}{{ .mode }}.{{ end }}validate.gitlab-runner-admission.io
  admissionReviewVersions: ["v1"]
  # NoneOnDryRun when online verification is on: POST /runners/verify records a heartbeat in
  # GitLab, and the product skips it on dryRun requests.
  sideEffects: {{ ternary "NoneOnDryRun" "None" $root.Values.gitlab.verify }}
  timeoutSeconds: {{ $root.Values.webhook.timeoutSeconds }}
  failurePolicy: {{ $root.Values.webhook.validating.failurePolicy }}
  matchPolicy: Equivalent
  clientConfig:
    service:
      name: {{ include "gra.fullname" $root }}
      namespace: {{ $root.Release.Namespace }}
      path: {{ if .mode }}/validate/{{ .mode }}{{ else }}/validate{{ end }}
      port: {{ $root.Values.service.port }}
    {{- with .caBundle }}
    caBundle: {{ . }}
    {{- end }}
  {{- include "gra.validatingRules" $root | nindent 2 }}
  namespaceSelector:
    matchExpressions:
      - key: kubernetes.io/metadata.name
        operator: NotIn
        values: {{ include "gra.excludedNamespaces" $root }}
      - key: gitlab-runner-admission/mode
      {{- if .mode }}
        operator: In
        values: [{{ .mode | quote }}]
      {{- else }}
        operator: NotIn
        values: ["enforce", "warn", "audit"]
      {{- end }}
  {{- if $root.Values.webhook.gitops }}
  {{- include "gra.matchConditions" (dict "root" $root "names" (list "configmap" "secret" "workload" "gitops")) | nindent 2 }}
  {{- else }}
  {{- include "gra.matchConditions" (dict "root" $root "names" (list "configmap" "secret" "workload")) | nindent 2 }}
  {{- end }}
{{- end }}
