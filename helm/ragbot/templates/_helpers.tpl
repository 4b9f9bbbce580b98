{{/* Names and labels. */}}
{{- define "ragbot.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "ragbot.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else if contains (include "ragbot.name" .) .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name (include "ragbot.name" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "ragbot.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" }}
app.kubernetes.io/name: {{ include "ragbot.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{/* Selector labels of one component: (dict "root" $ "component" "slack") */}}
{{- define "ragbot.selector" -}}
app.kubernetes.io/name: {{ include "ragbot.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "ragbot.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "ragbot.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The image of a role: (dict "root" $ "role" "adapter") */}}
{{- define "ragbot.image" -}}
{{- $image := index .root.Values.image .role -}}
{{- printf "%s:%s" $image.repository (default .root.Chart.AppVersion $image.tag) -}}
{{- end -}}

{{- define "ragbot.tgiName" -}}
{{- printf "%s-tgi" (include "ragbot.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The adapter ids TGI serves, as ragbot's RAGBOT_TGI__SERVED_ADAPTERS (a JSON list). */}}
{{- define "ragbot.servedAdapters" -}}
{{- $names := list -}}
{{- range .Values.tgi.loraAdapters }}{{ $names = append $names .name }}{{ end -}}
{{- toJson $names -}}
{{- end -}}

{{/* TGI's LORA_ADAPTERS: name=path pairs, from the same list. */}}
{{- define "ragbot.loraAdapters" -}}
{{- $pairs := list -}}
{{- range .Values.tgi.loraAdapters }}{{ $pairs = append $pairs (printf "%s=%s" .name .path) }}{{ end -}}
{{- join "," $pairs -}}
{{- end -}}

{{/* Pod and container security, shared by every ragbot pod. */}}
{{- define "ragbot.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 10001
runAsGroup: 10001
fsGroup: 10001
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "ragbot.containerSecurityContext" -}}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
{{- end -}}

{{/* Where every ragbot container gets its settings: the ConfigMap, then the operator's Secret. */}}
{{- define "ragbot.envFrom" -}}
- configMapRef:
    name: {{ include "ragbot.fullname" . }}
{{- if .Values.existingSecret }}
- secretRef:
    name: {{ .Values.existingSecret }}
{{- end }}
{{- end -}}

{{- define "ragbot.checksums" -}}
checksum/config: {{ include (print .Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- end -}}

{{/* Where the adapter registry is mounted: /data/<tgi.adapterRegistry.path>, in TGI and the generate workers. */}}
{{- define "ragbot.registryPath" -}}
{{- printf "/data/%s" (trimAll "/" .Values.tgi.adapterRegistry.path) -}}
{{- end -}}
