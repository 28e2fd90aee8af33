{{/*
Names, labels and the pod pieces shared by web, worker and the migration Job.
Helpers are named CHARTNAME.*; the project generator replaced CHARTNAME with the chart's name.
*/}}

{{- define "CHARTNAME.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-and-chart prefix of every resource name, at most 63 characters (a DNS label). */}}
{{- define "CHARTNAME.fullname" -}}
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

{{/* Name of one component's resources. Call with (dict "root" $ "component" "web"). */}}
{{- define "CHARTNAME.componentName" -}}
{{- printf "%s-%s" (include "CHARTNAME.fullname" .root) .component | trunc 63 | trimSuffix "-" }}
{{- end }}

{{- define "CHARTNAME.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Selector labels of one component. Call with (dict "root" $ "component" "web"). */}}
{{- define "CHARTNAME.selectorLabels" -}}
app.kubernetes.io/name: {{ include "CHARTNAME.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* All labels of one component's resources. Call with (dict "root" $ "component" "web"). */}}
{{- define "CHARTNAME.labels" -}}
helm.sh/chart: {{ include "CHARTNAME.chart" .root }}
{{ include "CHARTNAME.selectorLabels" . }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
{{- end }}

{{- define "CHARTNAME.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) }}
{{- end }}

{{/* The Secret with DATABASE_URL and REDIS_URL the running pods read. */}}
{{- define "CHARTNAME.secretName" -}}
{{- default (include "CHARTNAME.fullname" .) .Values.secret.existingSecret }}
{{- end }}

{{/*
An environment variable's value from a values entry. Helm reads numbers as floats, and a float
of a million prints as 1e+06, which no integer setting parses; whole numbers print as integers.
*/}}
{{- define "CHARTNAME.envValue" -}}
{{- if and (kindIs "float64" .) (eq . (float64 (int64 .))) }}
{{- int64 . | toString | quote }}
{{- else }}
{{- toString . | quote }}
{{- end }}
{{- end }}

{{/* The ConfigMap data: one key per setting. Shared by the release and the migration hook. */}}
{{- define "CHARTNAME.configData" -}}
{{- $lines := list }}
{{- range $key, $value := .Values.config }}
{{- $lines = append $lines (printf "%s: %s" $key (include "CHARTNAME.envValue" $value)) }}
{{- end }}
{{- $lines = append $lines (printf "QUEUES: %s" (include "CHARTNAME.queuesJson" . | quote)) }}
{{- join "\n" $lines }}
{{- end }}

{{/*
The QUEUES setting, one JSON map built from workers.queues, e.g.
{"default":{"drain_seconds":25,"max_jobs":50,"poll_delay_seconds":0.05}}. Every pod reads the same
map, so web enqueues only to queues that have workers. Whole numbers go out as integers.
*/}}
{{- define "CHARTNAME.queuesJson" -}}
{{- $queues := dict }}
{{- range $name, $queue := .Values.workers.queues }}
{{- $_ := set $queues $name (dict "max_jobs" (int64 $queue.maxJobs) "drain_seconds" (int64 $queue.drainSeconds) "poll_delay_seconds" (float64 $queue.pollDelaySeconds)) }}
{{- end }}
{{- toJson $queues }}
{{- end }}

{{/* The component of one queue's workers: worker-NAME. Call with the queue name. */}}
{{- define "CHARTNAME.workerComponent" -}}
{{- printf "worker-%s" . }}
{{- end }}

{{/* Seconds between SIGTERM and SIGKILL for one queue's pods: its drain plus the margin. */}}
{{- define "CHARTNAME.workerGracePeriod" -}}
{{- add (int64 .queue.drainSeconds) (int64 .root.Values.workers.graceMarginSeconds) }}
{{- end }}

{{/* The Secret data the chart creates when no existingSecret is named. */}}
{{- define "CHARTNAME.secretData" -}}
DATABASE_URL: {{ .Values.secret.databaseUrl | quote }}
REDIS_URL: {{ .Values.secret.redisUrl | quote }}
{{- end }}

{{/* Pod-level settings every pod shares: no API token, non-root, spread, placement. */}}
{{- define "CHARTNAME.podSpec" -}}
automountServiceAccountToken: false
{{- with .root.Values.serviceAccountName }}
serviceAccountName: {{ . }}
{{- end }}
{{- with .root.Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
securityContext:
  runAsNonRoot: true
  runAsUser: 10001
  runAsGroup: 10001
  seccompProfile:
    type: RuntimeDefault
{{- with .root.Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .root.Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- if and .root.Values.topologySpread (ne .component "migrate") }}
topologySpreadConstraints:
  {{- range list "kubernetes.io/hostname" "topology.kubernetes.io/zone" }}
  - maxSkew: 1
    topologyKey: {{ . }}
    whenUnsatisfiable: ScheduleAnyway
    labelSelector:
      matchLabels:
        {{- include "CHARTNAME.selectorLabels" $ | nindent 8 }}
  {{- end }}
{{- end }}
volumes:
  # The only writable path: the root file system is read-only.
  - name: tmp
    emptyDir:
      sizeLimit: 64Mi
{{- end }}

{{/*
Container-level settings every container shares. Call with (dict "root" $ "component" "web"), and
"args" when the command is more than the component's name (a worker's `worker --queue NAME`).
*/}}
{{- define "CHARTNAME.containerBase" -}}
image: {{ include "CHARTNAME.image" .root }}
imagePullPolicy: {{ .root.Values.image.pullPolicy }}
args: {{ .args | default (list .component) | toJson }}
securityContext:
  allowPrivilegeEscalation: false
  readOnlyRootFilesystem: true
  runAsNonRoot: true
  capabilities:
    drop: ["ALL"]
volumeMounts:
  - name: tmp
    mountPath: /tmp
{{- end }}

{{/* Annotations that roll the pods when their configuration changes. */}}
{{- define "CHARTNAME.podAnnotations" -}}
checksum/config: {{ include "CHARTNAME.configData" . | sha256sum }}
{{- if not .Values.secret.existingSecret }}
checksum/secret: {{ include "CHARTNAME.secretData" . | sha256sum }}
{{- end }}
{{- with .Values.podAnnotations }}
{{ toYaml . }}
{{- end }}
{{- end }}

{{/*
Checks that no schema can express. They fail rendering with a message naming the value to fix.
*/}}
{{- define "CHARTNAME.checks" -}}
{{- if not .Values.secret.existingSecret }}
{{- $hint := "set secret.existingSecret to a Secret with DATABASE_URL and REDIS_URL, or set" }}
{{- $db := required (printf "%s secret.databaseUrl" $hint) .Values.secret.databaseUrl }}
{{- $redis := required (printf "%s secret.redisUrl" $hint) .Values.secret.redisUrl }}
{{- if not (hasPrefix "postgresql+asyncpg://" $db) }}
{{- fail "secret.databaseUrl must start with postgresql+asyncpg://" }}
{{- end }}
{{- if not (or (hasPrefix "redis://" $redis) (hasPrefix "rediss://" $redis)) }}
{{- fail "secret.redisUrl must start with redis:// or rediss://" }}
{{- end }}
{{- if or (contains "change-me" $db) (contains "change-me" $redis) }}
{{- fail "secret.databaseUrl and secret.redisUrl must not hold the change-me placeholder password" }}
{{- end }}
{{- end }}
{{- range $name, $queue := .Values.workers.queues }}
{{- if and $queue.autoscaling.enabled $queue.keda.enabled }}
{{- fail (printf "enable one of workers.queues.%s.autoscaling and workers.queues.%s.keda: KEDA manages its own HorizontalPodAutoscaler" $name $name) }}
{{- end }}
{{- if and $queue.keda.enabled (not $.Values.workers.keda.serverAddress) }}
{{- fail (printf "workers.keda.serverAddress must name the Prometheus that KEDA queries for workers.queues.%s" $name) }}
{{- end }}
{{- if gt (int $queue.keda.minReplicas) (int $queue.keda.maxReplicas) }}
{{- fail (printf "workers.queues.%s.keda.minReplicas must not be above its maxReplicas" $name) }}
{{- end }}
{{- if gt (int $queue.autoscaling.minReplicas) (int $queue.autoscaling.maxReplicas) }}
{{- fail (printf "workers.queues.%s.autoscaling.minReplicas must not be above its maxReplicas" $name) }}
{{- end }}
{{- end }}
{{- end }}
