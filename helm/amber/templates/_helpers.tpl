{{/* Names, labels and the values shared by both roles. */}}

{{- define "amber.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "amber.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{/* A name for one of the release's objects: "<fullname>-<suffix>", at most 63 characters. */}}
{{- define "amber.child" -}}
{{- printf "%s-%s" (include "amber.fullname" .root | trunc (int (sub 62 (len .suffix))) | trimSuffix "-") .suffix -}}
{{- end -}}

{{- define "amber.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "amber.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- with .Values.commonLabels }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{- define "amber.selectorLabels" -}}
app.kubernetes.io/name: {{ include "amber.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of one component: (dict "root" $ "component" "responder") */}}
{{- define "amber.componentLabels" -}}
{{ include "amber.labels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "amber.componentSelector" -}}
{{ include "amber.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "amber.image" -}}
{{- $repo := required "image.repository is required: build the image from the Dockerfile at the repository root and push it to your registry" .Values.image.repository -}}
{{- if .Values.image.digest -}}
{{- printf "%s@%s" $repo .Values.image.digest -}}
{{- else -}}
{{- printf "%s:%s" $repo (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}
{{- end -}}

{{- define "amber.responder.name" -}}{{ include "amber.child" (dict "root" . "suffix" "responder") }}{{- end -}}
{{- define "amber.agent.name" -}}{{ include "amber.child" (dict "root" . "suffix" "agent") }}{{- end -}}

{{- define "amber.responder.serviceAccountName" -}}
{{- if .Values.responder.serviceAccount.create -}}
{{- default (include "amber.responder.name" .) .Values.responder.serviceAccount.name -}}
{{- else -}}
{{- required "responder.serviceAccount.name is required when responder.serviceAccount.create is false" .Values.responder.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "amber.agent.serviceAccountName" -}}
{{- if .Values.agent.serviceAccount.create -}}
{{- default (include "amber.agent.name" .) .Values.agent.serviceAccount.name -}}
{{- else -}}
{{- required "agent.serviceAccount.name is required when agent.serviceAccount.create is false" .Values.agent.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "amber.signingKey.secretName" -}}
{{- default (include "amber.child" (dict "root" . "suffix" "signing-key")) .Values.signingKey.existingSecret -}}
{{- end -}}
{{- define "amber.signingKey.secretKey" -}}
{{- if .Values.signingKey.existingSecret }}{{ .Values.signingKey.existingSecretKey }}{{ else }}signing-key{{ end -}}
{{- end -}}

{{- define "amber.ui.secretName" -}}
{{- default (include "amber.child" (dict "root" . "suffix" "ui-session")) .Values.ui.existingSecret -}}
{{- end -}}
{{- define "amber.ui.secretKey" -}}
{{- if .Values.ui.existingSecret }}{{ .Values.ui.existingSecretKey }}{{ else }}session-key{{ end -}}
{{- end -}}

{{- define "amber.auth.secretName" -}}
{{- default (include "amber.child" (dict "root" . "suffix" "auth")) .Values.auth.existingSecret -}}
{{- end -}}
{{- define "amber.auth.secretKey" -}}
{{- if .Values.auth.existingSecret }}{{ .Values.auth.existingSecretKey }}{{ else }}tokens{{ end -}}
{{- end -}}

{{/* Whether S3 credentials come from a Secret ("true") or from the SDK chain (""). */}}
{{- define "amber.s3.hasCredentials" -}}
{{- if or .Values.s3.credentials.existingSecret .Values.s3.credentials.accessKeyId -}}true{{- end -}}
{{- end -}}
{{- define "amber.s3.secretName" -}}
{{- default (include "amber.child" (dict "root" . "suffix" "s3")) .Values.s3.credentials.existingSecret -}}
{{- end -}}

{{- define "amber.policies.configMapName" -}}
{{- default (include "amber.child" (dict "root" . "suffix" "policies")) .Values.policies.existingConfigMap -}}
{{- end -}}
{{- define "amber.config.configMapName" -}}{{ include "amber.child" (dict "root" . "suffix" "config") }}{{- end -}}

{{- define "amber.tls.secretName" -}}
{{- if eq .Values.tls.mode "existingSecret" -}}
{{- required "tls.existingSecret is required when tls.mode is existingSecret" .Values.tls.existingSecret -}}
{{- else -}}
{{- include "amber.child" (dict "root" . "suffix" "tls") -}}
{{- end -}}
{{- end -}}

{{/* The DNS names the responder's certificate must carry. */}}
{{- define "amber.tls.dnsNames" -}}
{{- $svc := include "amber.responder.name" . -}}
{{- $ns := .Release.Namespace -}}
{{- $names := list $svc (printf "%s.%s" $svc $ns) (printf "%s.%s.svc" $svc $ns) (printf "%s.%s.svc.cluster.local" $svc $ns) -}}
{{- toJson (concat $names .Values.tls.extraDNSNames) -}}
{{- end -}}

{{/* The store, checked: nothing sensible can be guessed for it. */}}
{{- define "amber.store" -}}
{{- required "store is required: s3://BUCKET/PREFIX, a bucket with Object Lock enabled (see helm/README.md)" .Values.store -}}
{{- end -}}

{{/* Checksum of the policies and config, so pods restart when either changes. */}}
{{- define "amber.configChecksum" -}}
{{- $policies := include (print .Template.BasePath "/policies-configmap.yaml") . -}}
{{- $config := include (print .Template.BasePath "/config-configmap.yaml") . -}}
{{- printf "%s\n%s" $policies $config | sha256sum -}}
{{- end -}}

{{/*
Env vars both roles read. The responder never opens the store or the signing key (amber's
serve-command: only the agent writes evidence), so S3 settings, credentials and the key are the
agent's alone (amber.agentEnv); AMBER_STORE is given to both so that logs and answers name it.
*/}}
{{- define "amber.commonEnv" -}}
- name: AMBER_STORE
  value: {{ include "amber.store" . | quote }}
- name: AMBER_CLUSTER
  value: {{ .Values.cluster | quote }}
- name: AMBER_LOG_LEVEL
  value: {{ .Values.logLevel | quote }}
- name: AMBER_POLICIES
  value: /etc/amber/policies
- name: AMBER_DATA_DIR
  value: /var/lib/amber
- name: NODE_NAME
  valueFrom:
    fieldRef:
      fieldPath: spec.nodeName
- name: NODE_IP
  valueFrom:
    fieldRef:
      fieldPath: status.hostIP
- name: POD_NAME
  valueFrom:
    fieldRef:
      fieldPath: metadata.name
- name: POD_NAMESPACE
  valueFrom:
    fieldRef:
      fieldPath: metadata.namespace
{{- with .Values.extraEnv }}
{{ toYaml . }}
{{- end }}
{{- end -}}

{{/* The evidence side: S3 and the signing key. */}}
{{- define "amber.agentEnv" -}}
- name: AMBER_SIGNING_KEY
  value: /etc/amber/signing/signing-key
{{- if and (include "amber.restoreButton" .) .Values.ui.restoreRegistrySecret }}
- name: AMBER_REGISTRY_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ .Values.ui.restoreRegistrySecret }}
      key: {{ .Values.ui.restoreRegistrySecretKey }}
{{- end }}
{{ include "amber.s3Env" . }}
{{- end -}}

{{/* The S3 store's settings and credentials: the agent writes with them, the evidence browser reads. */}}
{{- define "amber.s3Env" -}}
{{- with .Values.s3.endpoint }}
- name: AMBER_S3_ENDPOINT
  value: {{ . | quote }}
{{- end }}
{{- with .Values.s3.region }}
- name: AMBER_S3_REGION
  value: {{ . | quote }}
{{- end }}
- name: AMBER_S3_FORCE_PATH_STYLE
  value: {{ .Values.s3.forcePathStyle | quote }}
- name: AMBER_S3_SSE
  value: {{ .Values.s3.sse | quote }}
{{- with .Values.s3.kmsKeyId }}
- name: AMBER_S3_KMS_KEY_ID
  value: {{ . | quote }}
{{- end }}
{{- if include "amber.s3.hasCredentials" . }}
- name: AWS_ACCESS_KEY_ID
  valueFrom:
    secretKeyRef:
      name: {{ include "amber.s3.secretName" . }}
      key: {{ if .Values.s3.credentials.existingSecret }}{{ .Values.s3.credentials.accessKeyIdKey }}{{ else }}AWS_ACCESS_KEY_ID{{ end }}
- name: AWS_SECRET_ACCESS_KEY
  valueFrom:
    secretKeyRef:
      name: {{ include "amber.s3.secretName" . }}
      key: {{ if .Values.s3.credentials.existingSecret }}{{ .Values.s3.credentials.secretAccessKeyKey }}{{ else }}AWS_SECRET_ACCESS_KEY{{ end }}
{{- end }}
{{- end -}}

{{/* Volumes both roles mount. */}}
{{- define "amber.commonVolumes" -}}
- name: policies
  configMap:
    name: {{ include "amber.policies.configMapName" . }}
{{- if .Values.config }}
- name: config
  configMap:
    name: {{ include "amber.config.configMapName" . }}
{{- end }}
- name: tmp
  emptyDir:
    sizeLimit: 256Mi
{{- end -}}

{{- define "amber.commonMounts" -}}
- name: policies
  mountPath: /etc/amber/policies
  readOnly: true
{{- if .Values.config }}
- name: config
  mountPath: /etc/amber/config
  readOnly: true
{{- end }}
- name: tmp
  mountPath: /tmp
- name: data
  mountPath: /var/lib/amber
{{- end -}}

{{/*
"true" when config.ui.restore turns the evidence browser's restore button on (the agents then run
the restores): it needs the sandbox namespace the chart makes, under the same name.
*/}}
{{- define "amber.restoreButton" -}}
{{- $restore := dig "ui" "restore" nil (.Values.config | default dict) -}}
{{- if $restore -}}
{{- if not .Values.sandbox.enabled -}}
{{- fail "config.ui.restore (the restore button) needs sandbox.enabled: the agents restore into the chart's sandbox namespace" -}}
{{- end -}}
{{- if ne (get $restore "namespace") .Values.sandbox.namespace -}}
{{- fail (printf "config.ui.restore.namespace (%v) must be sandbox.namespace (%s): the agents may create pods there only" (get $restore "namespace") .Values.sandbox.namespace) -}}
{{- end -}}
true
{{- end -}}
{{- end -}}
