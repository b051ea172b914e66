{{/* The chart's name: app.kubernetes.io/name. */}}
{{- define "events-ingester.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The prefix of every object name: the release name, with the chart name added unless it is already in it. */}}
{{- define "events-ingester.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 50 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* Labels that select one component's pods: (dict "root" $ "component" "handler"). */}}
{{- define "events-ingester.selectorLabels" -}}
app.kubernetes.io/name: {{ include "events-ingester.name" .root }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end -}}

{{/* Labels of every object of a component: the selector labels and the chart's. */}}
{{- define "events-ingester.labels" -}}
{{ include "events-ingester.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version | replace "+" "_" }}
{{- end -}}

{{/* repository@digest, else repository:tag (tag defaults to the chart's appVersion): (dict "root" $ "image" ...). */}}
{{- define "events-ingester.image" -}}
{{- if .image.digest -}}
{{- printf "%s@%s" .image.repository .image.digest -}}
{{- else -}}
{{- printf "%s:%s" .image.repository (default .root.Chart.AppVersion .image.tag) -}}
{{- end -}}
{{- end -}}

{{/* An environment value as text: whole numbers without an exponent, booleans as true / false. */}}
{{- define "events-ingester.envValue" -}}
{{- if and (kindIs "float64" .) (eq (float64 (int64 .)) .) -}}
{{- int64 . -}}
{{- else -}}
{{- toString . -}}
{{- end -}}
{{- end -}}

{{/* ConfigMap data from an env map: every key whose value is not empty, sorted, one "KEY: "value"" a line. */}}
{{- define "events-ingester.envData" -}}
{{- $lines := list -}}
{{- range $key, $value := . -}}
{{- if not (or (kindIs "invalid" $value) (eq (toString $value) "")) -}}
{{- $lines = append $lines (printf "%s: %s" $key (include "events-ingester.envValue" $value | quote)) -}}
{{- end -}}
{{- end -}}
{{- join "\n" $lines -}}
{{- end -}}

{{/* The handler's API port (PORT). */}}
{{- define "events-ingester.handlerPort" -}}
{{- include "events-ingester.envValue" (default 8080 .Values.handler.env.PORT) -}}
{{- end -}}

{{/* The relay's probe and metrics port (HEALTH_PORT). */}}
{{- define "events-ingester.healthPort" -}}
{{- include "events-ingester.envValue" (default 8081 .Values.relay.env.HEALTH_PORT) -}}
{{- end -}}

{{/* The relay's Lease: LEASE_NAME, else <fullname>-relay. */}}
{{- define "events-ingester.leaseName" -}}
{{- default (printf "%s-relay" (include "events-ingester.fullname" .)) .Values.relay.env.LEASE_NAME -}}
{{- end -}}

{{/* The namespace of the relay's Lease (and of the Role that lets the relay renew it). */}}
{{- define "events-ingester.leaseNamespace" -}}
{{- default .Release.Namespace .Values.relay.env.LEASE_NAMESPACE -}}
{{- end -}}

{{/* HANDLER_URL: as set, else the handler Service of this release; an error when neither exists. */}}
{{- define "events-ingester.handlerUrl" -}}
{{- if .Values.relay.env.HANDLER_URL -}}
{{- .Values.relay.env.HANDLER_URL -}}
{{- else if .Values.handler.enabled -}}
{{- $service := printf "%s-handler.%s.svc" (include "events-ingester.fullname" .) .Release.Namespace -}}
{{- printf "http://%s:%s" $service (include "events-ingester.handlerPort" .) -}}
{{- else -}}
{{- fail (print "relay.env.HANDLER_URL: is empty and handler.enabled is false: "
  "name the handler the relay sends to (e.g. https://events-ingester.example.com)") -}}
{{- end -}}
{{- end -}}

{{/* Pod and container security settings both components share: non-root 1993, read-only, nothing added. */}}
{{- define "events-ingester.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1993
runAsGroup: 1993
# Mounted Secret files get this group, so the 0440 files are readable by the process and nobody else.
fsGroup: 1993
seccompProfile:
  type: RuntimeDefault
{{- end -}}

{{- define "events-ingester.containerSecurityContext" -}}
runAsNonRoot: true
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
capabilities:
  drop: ["ALL"]
seccompProfile:
  type: RuntimeDefault
{{- end -}}
