{{/*
The environment of one service's container (see each services/<name>/README.md
and packages/stack/src/services.ts, which wires the same variables for `make
dev`). Arguments: dict root name color.
*/}}
{{- define "shop.serviceEnv" -}}
{{- $root := .root -}}
{{- $name := .name -}}
{{- $svc := index $root.Values.services $name -}}
{{- $catalog := include "shop.catalog" $root | fromYaml -}}
{{- $port := (index $catalog $name).port -}}
- name: POD_NAME
  valueFrom: { fieldRef: { fieldPath: metadata.name } }
- name: SERVICE_NAME
  value: {{ $name | quote }}
- name: HOST
  value: {{ $root.Values.listenHost | quote }}
- name: PORT
  value: {{ $port | quote }}
- name: LOG_LEVEL
  value: {{ $root.Values.logLevel | quote }}
{{- with $root.Values.nodeOptions }}
- name: NODE_OPTIONS
  value: {{ . | quote }}
{{- end }}
- name: SHUTDOWN_GRACE
  value: {{ $svc.shutdownGrace | default $root.Values.shutdown.grace | quote }}
- name: SERVICE_TOKEN_SECRETS
  valueFrom: { secretKeyRef: { name: {{ include "shop.secretsName" $root }}, key: SERVICE_TOKEN_SECRETS } }
- name: KAFKA_BROKERS
  value: {{ include "shop.kafkaBrokers" $root | quote }}
# The pod's own name as its Kafka client id: the broker's view of a group (its
# members, their clients) then says which pod is which.
- name: KAFKA_CLIENT_ID
  value: "$(POD_NAME)"
- name: KAFKA_TOPIC_PREFIX
  value: {{ $root.Values.kafka.topicPrefix | quote }}
- name: KAFKA_TOPIC_PARTITIONS
  value: {{ $root.Values.kafka.topicPartitions | quote }}
- name: KAFKA_REPLICATION_FACTOR
  value: {{ include "shop.kafkaReplicationFactor" $root | quote }}
{{- if $root.Values.bluegreen.followActiveColor }}
{{- $fullname := include "shop.name" (dict "root" $root "name" $name) }}
# Pods follow the active color (docs/bluegreen-conventions.md).
- name: BLUEGREEN_COLOR
  value: {{ .color | quote }}
- name: BLUEGREEN_ACTIVE_SERVICE
  value: {{ $fullname | quote }}
- name: POD_NAMESPACE
  valueFrom: { fieldRef: { fieldPath: metadata.namespace } }
{{- if include "shop.consumersFollowActiveColor" (dict "root" $root "name" $name) }}
- name: BLUEGREEN_CONSUMERS_CONFIGMAP
  value: {{ printf "%s-consumers" $fullname | quote }}
{{- end }}
{{- end }}
{{- if (index $catalog $name).database }}
{{- $db := include "shop.database" (dict "root" $root "name" $name) | fromJson }}
- name: DATABASE_URL
  valueFrom: { secretKeyRef: { name: {{ $db.secret }}, key: {{ $db.key }} } }
- name: DATABASE_POOL_SIZE
  value: {{ $svc.database.poolSize | quote }}
{{- end }}
{{- /* Where each service it calls answers: its active Service. */}}
{{- range $callee, $variable := (index $catalog $name).calls }}
- name: {{ $variable }}
  value: {{ printf "http://%s-%s:%v" $root.Release.Name $callee (index $catalog $callee).port | quote }}
{{- end }}
{{- with include "shop.otlpEndpoint" $root }}
- name: OTEL_EXPORTER_OTLP_ENDPOINT
  value: {{ . | quote }}
{{- end }}
- name: OTEL_TRACES_SAMPLER
  value: {{ $root.Values.telemetry.sampler.name | quote }}
- name: OTEL_TRACES_SAMPLER_ARG
  value: {{ $root.Values.telemetry.sampler.ratio | quote }}
- name: OTEL_RESOURCE_ATTRIBUTES
  value: {{ printf "service.namespace=shop,deployment.environment=%s,k8s.namespace.name=%s,k8s.pod.name=$(POD_NAME),shop.color=%s" $root.Values.environment $root.Release.Namespace .color | quote }}
{{- if eq $name "users" }}
- name: USER_TOKEN_SIGNING_KEYS
  valueFrom: { secretKeyRef: { name: {{ include "shop.secretsName" $root }}, key: USER_TOKEN_SIGNING_KEYS } }
- name: ACCESS_TOKEN_TTL
  value: {{ $root.Values.auth.accessTokenTtl | quote }}
{{- else if eq $name "payments" }}
- name: PROVIDER_URL
  value: {{ include "shop.providerUrl" $root | quote }}
- name: PROVIDER_API_KEY
  valueFrom: { secretKeyRef: { name: {{ include "shop.providerSecretName" $root }}, key: api-key } }
{{- else if eq $name "gateway" }}
- name: ACCESS_TOKEN_TTL
  value: {{ $root.Values.auth.accessTokenTtl | quote }}
- name: RATE_LIMIT_PER_MINUTE
  value: {{ $svc.rateLimit.perMinute | quote }}
{{- if not (kindIs "invalid" $svc.rateLimit.anonymousPerMinute) }}
- name: RATE_LIMIT_ANONYMOUS_PER_MINUTE
  value: {{ $svc.rateLimit.anonymousPerMinute | quote }}
{{- end }}
- name: AUTH_RATE_LIMIT_PER_MINUTE
  value: {{ $svc.rateLimit.authPerMinute | quote }}
- name: RATE_LIMIT_CACHE_SIZE
  value: {{ $svc.rateLimit.cacheSize | quote }}
- name: TRUSTED_PROXY_HOPS
  value: {{ $svc.trustedProxyHops | quote }}
- name: CORS_ORIGINS
  value: {{ join "," $svc.corsOrigins | quote }}
- name: DOCS_ENABLED
  value: {{ $svc.docsEnabled | toString | quote }}
{{- end }}
{{- range $key, $value := $svc.env }}
- name: {{ $key }}
  value: {{ $value | toString | quote }}
{{- end }}
{{- end }}
