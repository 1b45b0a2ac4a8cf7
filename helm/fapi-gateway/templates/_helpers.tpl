{{/* Chart name, truncated to 63 characters (DNS label). */}}
{{- define "fapi-gateway.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Fully qualified app name: <release>-<chart>, or the release name when it already contains the chart name.
   57 characters, so the admin Service's "-admin" still fits a DNS label (63). */}}
{{- define "fapi-gateway.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 57 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 57 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 57 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "fapi-gateway.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "fapi-gateway.selectorLabels" -}}
app.kubernetes.io/name: {{ include "fapi-gateway.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{- define "fapi-gateway.labels" -}}
helm.sh/chart: {{ include "fapi-gateway.chart" . }}
{{ include "fapi-gateway.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* The image reference: repository:tag (tag defaults to appVersion), or repository@digest. */}}
{{- define "fapi-gateway.image" -}}
{{- if .Values.image.digest }}
{{- printf "%s@%s" .Values.image.repository .Values.image.digest }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository (.Values.image.tag | default .Chart.AppVersion) }}
{{- end }}
{{- end }}

{{/* The container ports come from the gateway's own listen addresses (host:port), so they cannot disagree. */}}
{{- define "fapi-gateway.apiPort" -}}
{{- .Values.config.server.listen | toString | splitList ":" | last }}
{{- end }}

{{- define "fapi-gateway.adminPort" -}}
{{- required "config.admin.listen is required: the probes and metrics use it" (dig "admin" "listen" "" .Values.config) | toString | splitList ":" | last }}
{{- end }}

{{/* true when more than one gateway runs: the PodDisruptionBudget is rendered then. */}}
{{- define "fapi-gateway.multiReplica" -}}
{{- if or .Values.autoscaling.enabled (gt (int .Values.replicaCount) 1) }}true{{ end }}
{{- end }}
