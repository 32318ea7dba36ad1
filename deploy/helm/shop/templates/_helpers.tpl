{{/* dict root name: "true" when the service's pods consume from Kafka only while their color is active, else "". */}}
{{- define "shop.consumersFollowActiveColor" -}}
{{- if and .root.Values.bluegreen.followActiveColor (index (include "shop.catalog" .root | fromYaml) .name).consumes -}}
true
{{- end -}}
{{- end }}

{{- define "shop.colors" -}}
[blue, green]
{{- end }}

{{/*
The install phase. With the chart's own Postgres or Kafka, the first install
creates only the infrastructure: Helm runs pre-install hooks (the migrations)
before it creates any other object, so the database would not exist yet.
"infrastructure" | "full".
*/}}
{{- define "shop.phase" -}}
{{- $inChart := include "shop.inChartDatabases" . | fromYamlArray -}}
{{- if and .Release.IsInstall .Values.bootstrap.infrastructureFirst (or $inChart .Values.kafka.enabled) -}}
infrastructure
{{- else -}}
full
{{- end -}}
{{- end }}

{{- define "shop.chart" -}}
{{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels every object carries. */}}
{{- define "shop.commonLabels" -}}
helm.sh/chart: {{ include "shop.chart" . }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/part-of: shop
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end }}

{{/* dict root name component: labels of one component's objects and pods. */}}
{{- define "shop.labels" -}}
{{ include "shop.commonLabels" .root }}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/component: {{ .component }}
{{- end }}

{{/* dict root name: what selects a component's pods (without the color). */}}
{{- define "shop.selectorLabels" -}}
app.kubernetes.io/name: {{ .name }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
{{- end }}

{{/* dict root name: <release>-<name>, the active Service and the ServiceAccount. */}}
{{- define "shop.name" -}}
{{ printf "%s-%s" .root.Release.Name .name | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* dict root name: the image a service starts with (services.<name>.image or image.*). */}}
{{- define "shop.image" -}}
{{- $svc := index .root.Values.services .name | default dict -}}
{{- if $svc.image -}}
{{ $svc.image }}
{{- else -}}
{{ printf "%s%s%s:%s" .root.Values.image.registry .root.Values.image.prefix .name (.root.Values.image.tag | default .root.Chart.AppVersion | toString) }}
{{- end -}}
{{- end }}

{{/* A duration such as 500ms, 10s or 2m in whole seconds, rounded up. */}}
{{- define "shop.seconds" -}}
{{- $d := . | toString -}}
{{- if regexMatch "^[0-9]+ms$" $d -}}
{{ div (add (trimSuffix "ms" $d | atoi) 999) 1000 }}
{{- else if regexMatch "^[0-9]+s$" $d -}}
{{ trimSuffix "s" $d | atoi }}
{{- else if regexMatch "^[0-9]+m$" $d -}}
{{ mul (trimSuffix "m" $d | atoi) 60 }}
{{- else -}}
{{ fail (printf "%q is not a duration such as 500ms, 10s or 2m" $d) }}
{{- end -}}
{{- end }}

{{/* dict root grace: terminationGracePeriodSeconds, larger than preStop + SHUTDOWN_GRACE. */}}
{{- define "shop.terminationGrace" -}}
{{- $grace := include "shop.seconds" .grace | atoi -}}
{{- $preStop := int .root.Values.shutdown.preStopSeconds -}}
{{- $explicit := .root.Values.shutdown.terminationGracePeriodSeconds -}}
{{- if kindIs "invalid" $explicit -}}
{{ add $preStop $grace 5 }}
{{- else if le (int $explicit) (add $preStop $grace) -}}
{{ fail (printf "shutdown.terminationGracePeriodSeconds (%d) must be larger than shutdown.preStopSeconds + SHUTDOWN_GRACE (%d + %d): otherwise the kubelet kills a pod that is still draining" (int $explicit) $preStop $grace) }}
{{- else -}}
{{ $explicit }}
{{- end -}}
{{- end }}

{{/* dict root resources: the defaults with a component's own resources over them. */}}
{{- define "shop.resources" -}}
{{- toYaml (mergeOverwrite (deepCopy .root.Values.resources) (deepCopy (.resources | default dict))) -}}
{{- end }}

{{/* Pod security context of the services and their Jobs (the images run as 1000:1000). */}}
{{- define "shop.podSecurityContext" -}}
runAsNonRoot: true
runAsUser: 1000
runAsGroup: 1000
fsGroup: 1000
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/* dict uid: a container security context; the root filesystem is read-only. */}}
{{- define "shop.containerSecurityContext" -}}
runAsNonRoot: true
runAsUser: {{ .uid | default 1000 }}
runAsGroup: {{ .gid | default (.uid | default 1000) }}
allowPrivilegeEscalation: false
readOnlyRootFilesystem: true
privileged: false
capabilities:
  drop: [ALL]
seccompProfile:
  type: RuntimeDefault
{{- end }}

{{/*
kube-score findings this chart accepts, each with its reason. Objects name the
checks they skip in the annotation kube-score/ignore (a comma-separated list);
README.md has the same table.

container-security-context-user-group-id: kube-score wants a UID and GID above
  10000. The service images run as 1000:1000 (USER in the Dockerfile, the node
  user of the official image, owner of nothing writable); the official postgres
  and apache/kafka images run as 999 and 1000. What matters is enforced:
  runAsNonRoot, a read-only root filesystem, no capabilities.
container-image-pull-policy: kube-score wants Always. Images loaded with `kind
  load` (and any image in an air-gapped cluster) cannot be pulled; tags are
  immutable here. Only objects whose pull policy is not Always carry it;
  values-production.yaml sets Always.
deployment-replicas: kube-score wants more than one replica. A color with one
  replica is what a laptop can hold (values-kind.yaml); production runs 2 per
  color. The local infrastructure (collector, Jaeger, the card simulator) keeps
  its state in memory and runs once. Only Deployments with fewer than 2
  replicas carry it. (kube-score skips its PodDisruptionBudget and anti-affinity
  checks for them by itself.)
service-type: the gateway's Service is a NodePort only when values say so
  (kind maps host port 8080 to it); it is the entry to a local cluster.
*/}}
{{- define "shop.kubeScoreIgnore" -}}
{{- $checks := . | uniq | sortAlpha -}}
{{- if $checks -}}
kube-score/ignore: {{ join "," $checks | quote }}
{{- end -}}
{{- end }}

{{/* The checks an object whose containers use this pull policy must skip. */}}
{{- define "shop.pullPolicyIgnores" -}}
{{- if ne . "Always" }}[container-image-pull-policy]{{ else }}[]{{ end -}}
{{- end }}

{{/* dict root indent: the nodeSelector and tolerations of every pod (scheduling.*), on new lines, or nothing. */}}
{{- define "shop.scheduling" -}}
{{- with .root.Values.scheduling.nodeSelector -}}
{{ dict "nodeSelector" . | toYaml | nindent $.indent }}
{{- end -}}
{{- with .root.Values.scheduling.tolerations -}}
{{ dict "tolerations" . | toYaml | nindent $.indent }}
{{- end -}}
{{- end }}

{{/* dict root indent: imagePullSecrets, on a new line, or nothing. */}}
{{- define "shop.imagePullSecrets" -}}
{{- with .root.Values.image.pullSecrets -}}
{{- $list := list -}}
{{- range . }}{{ $list = append $list (dict "name" .) }}{{ end -}}
{{ dict "imagePullSecrets" $list | toYaml | nindent $.indent }}
{{- end -}}
{{- end }}

{{/* Kafka bootstrap brokers the services use. */}}
{{- define "shop.kafkaBrokers" -}}
{{- if .Values.kafka.brokers -}}
{{ .Values.kafka.brokers }}
{{- else if .Values.kafka.enabled -}}
{{ printf "%s-kafka:9092" .Release.Name }}
{{- else -}}
{{ fail "kafka.brokers is required when kafka.enabled is false (comma-separated bootstrap brokers of your Kafka cluster)" }}
{{- end -}}
{{- end }}

{{- define "shop.kafkaReplicationFactor" -}}
{{- if not (kindIs "invalid" .Values.kafka.replicationFactor) -}}
{{ .Values.kafka.replicationFactor }}
{{- else if and .Values.kafka.enabled (not .Values.kafka.brokers) -}}
1
{{- else -}}
3
{{- end -}}
{{- end }}

{{/* OTLP/HTTP endpoint of the services, or nothing. */}}
{{- define "shop.otlpEndpoint" -}}
{{- if .Values.telemetry.otlpEndpoint -}}
{{ .Values.telemetry.otlpEndpoint }}
{{- else if .Values.otelCollector.enabled -}}
{{ printf "http://%s-otel-collector:4318" .Release.Name }}
{{- end -}}
{{- end }}

{{/* dict root name: where a service's DATABASE_URL comes from: { secret, key, inChart }. */}}
{{- define "shop.database" -}}
{{- $db := (index .root.Values.services .name).database -}}
{{- if $db.existingSecret -}}
{{ dict "secret" $db.existingSecret "key" ($db.existingSecretKey | default "url") "inChart" false | toJson }}
{{- else if $db.url -}}
{{ dict "secret" (printf "%s-%s-db" .root.Release.Name .name) "key" "url" "inChart" false | toJson }}
{{- else if .root.Values.postgres.enabled -}}
{{ dict "secret" (printf "%s-%s-db" .root.Release.Name .name) "key" "url" "inChart" true | toJson }}
{{- else -}}
{{ fail (printf "services.%s.database: set url or existingSecret (or postgres.enabled=true for the chart's own Postgres)" .name) }}
{{- end -}}
{{- end }}

{{/*
The services whose database is the chart's own Postgres (postgres.enabled and
neither services.<name>.database.url nor .existingSecret): each gets its own
Postgres StatefulSet R-postgres-<name>. A YAML list.
*/}}
{{- define "shop.inChartDatabases" -}}
{{- $root := . -}}
{{- $list := list -}}
{{- range $name := include "shop.databaseServices" . | fromYamlArray -}}
{{- if (include "shop.database" (dict "root" $root "name" $name) | fromJson).inChart }}{{ $list = append $list $name }}{{ end -}}
{{- end -}}
{{ toYaml $list }}
{{- end }}

{{/* The Secret with SERVICE_TOKEN_SECRETS and USER_TOKEN_SIGNING_KEYS. */}}
{{- define "shop.secretsName" -}}
{{ .Values.secrets.existingSecret | default (printf "%s-secrets" .Release.Name) }}
{{- end }}

{{- define "shop.adminSecretName" -}}
{{ .Values.seed.admin.existingSecret | default (printf "%s-admin" .Release.Name) }}
{{- end }}

{{- define "shop.providerSecretName" -}}
{{ .Values.paymentProvider.existingSecret | default (printf "%s-payment-provider" .Release.Name) }}
{{- end }}

{{- define "shop.providerUrl" -}}
{{- if .Values.paymentProvider.url -}}
{{ .Values.paymentProvider.url }}
{{- else if .Values.paymentProvider.enabled -}}
{{ printf "http://%s-payment-provider:8090" .Release.Name }}
{{- else -}}
{{ fail "paymentProvider.url is required when paymentProvider.enabled is false (the card provider's base URL)" }}
{{- end -}}
{{- end }}

{{/*
dict root name key: the value of one key of a live Secret (decoded), or "".
Generated secrets are read back with this on upgrades, so they are made once.
*/}}
{{- define "shop.liveSecretValue" -}}
{{- $live := lookup "v1" "Secret" .root.Release.Namespace .name -}}
{{- if and $live $live.data (hasKey $live.data .key) -}}
{{ index $live.data .key | b64dec }}
{{- end -}}
{{- end }}

{{/* /tmp for the read-only root filesystem. */}}
{{- define "shop.tmpVolume" -}}
- name: tmp
  emptyDir:
    sizeLimit: 64Mi
{{- end }}
