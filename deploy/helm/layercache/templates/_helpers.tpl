{{/* Names, labels and the values the templates derive. */}}

{{- define "layercache.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-layercache, or the release name alone when it already says layercache.
     Cut to 52 characters: "-headless" and "-peers" are added to it, and a StatefulSet's pods
     carry a controller-revision-hash label built from the name. */}}
{{- define "layercache.fullname" -}}
{{- if .Values.fullnameOverride -}}
{{- .Values.fullnameOverride | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- $name := default .Chart.Name .Values.nameOverride -}}
{{- if contains $name .Release.Name -}}
{{- .Release.Name | trunc 52 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name $name | trunc 52 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}
{{- end -}}

{{- define "layercache.selectorLabels" -}}
app.kubernetes.io/name: {{ include "layercache.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{- define "layercache.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{ include "layercache.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "layercache.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "layercache.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{- define "layercache.image" -}}
{{- printf "%s:%s" .Values.image.repository (default .Chart.AppVersion .Values.image.tag) -}}
{{- end -}}

{{/* The headless Service clients resolve (dns:///): ready nodes only. */}}
{{- define "layercache.headlessName" -}}
{{- printf "%s-headless" (include "layercache.fullname" .) -}}
{{- end -}}

{{/* The StatefulSet's governing Service: every node's own DNS name, ready or not. */}}
{{- define "layercache.peersName" -}}
{{- printf "%s-peers" (include "layercache.fullname" .) -}}
{{- end -}}

{{- define "layercache.scheme" -}}
{{- if .Values.tls.enabled -}}https{{- else -}}http{{- end -}}
{{- end -}}

{{- define "layercache.bucketSecretName" -}}
{{- default (printf "%s-bucket" (include "layercache.fullname" .)) .Values.cluster.credentials.existingSecret -}}
{{- end -}}

{{- define "layercache.tlsSecretName" -}}
{{- default (printf "%s-tls" (include "layercache.fullname" .)) .Values.tls.existingSecret -}}
{{- end -}}

{{- define "layercache.authSecretName" -}}
{{- default (printf "%s-auth" (include "layercache.fullname" .)) .Values.auth.existingSecret -}}
{{- end -}}

{{/* Whether the bucket's credentials come from a Secret (the user's or the chart's). */}}
{{- define "layercache.bucketCredentials" -}}
{{- $c := .Values.cluster.credentials -}}
{{- if and .Values.cluster.enabled (or $c.existingSecret (and $c.accessKeyId $c.secretAccessKey)) -}}true{{- end -}}
{{- end -}}

{{/* The access-control files as a dict file name -> Secret key (only those in use). The files
     keep fixed names under /etc/layercache/auth whatever the Secret's keys are called. */}}
{{- define "layercache.authFiles" -}}
{{- $a := .Values.auth -}}
{{- $files := dict -}}
{{- if $a.existingSecret -}}
{{- if $a.secretKeys.htpasswd -}}{{- $_ := set $files "htpasswd" $a.secretKeys.htpasswd -}}{{- end -}}
{{- if $a.secretKeys.tokens -}}{{- $_ := set $files "tokens" $a.secretKeys.tokens -}}{{- end -}}
{{- if $a.secretKeys.rules -}}{{- $_ := set $files "rules.yaml" $a.secretKeys.rules -}}{{- end -}}
{{- else -}}
{{- if $a.htpasswd -}}{{- $_ := set $files "htpasswd" "htpasswd" -}}{{- end -}}
{{- if $a.tokens -}}{{- $_ := set $files "tokens" "tokens" -}}{{- end -}}
{{- if $a.rules -}}{{- $_ := set $files "rules.yaml" "rules.yaml" -}}{{- end -}}
{{- end -}}
{{- toYaml $files -}}
{{- end -}}

{{/* The Secret key of the node token, empty when none. */}}
{{- define "layercache.nodeTokenKey" -}}
{{- if .Values.auth.existingSecret -}}
{{- .Values.auth.secretKeys.nodeToken -}}
{{- else if .Values.auth.nodeToken -}}
node-token
{{- end -}}
{{- end -}}

{{/* Whether access control is on: a htpasswd or tokens file. */}}
{{- define "layercache.authEnabled" -}}
{{- $files := include "layercache.authFiles" . | fromYaml -}}
{{- if or (hasKey $files "htpasswd") (hasKey $files "tokens") -}}true{{- end -}}
{{- end -}}

{{/* The disk budget from the volume's size: persistence.maxDiskPercent of persistence.size, in
     MiB (the server takes B, KiB, MiB, GiB). Kubernetes quantities: a number with an optional
     binary (Ki..Ei) or decimal (k, K, M..E) suffix; values.schema.json holds size to that form. */}}
{{- define "layercache.maxDiskSize" -}}
{{- $size := toString .Values.persistence.size -}}
{{- $number := regexFind "^[0-9]+(\\.[0-9]+)?" $size -}}
{{- $suffix := trimPrefix $number $size -}}
{{- $units := dict "" 1.0 "Ki" 1024.0 "Mi" 1048576.0 "Gi" 1073741824.0 "Ti" 1099511627776.0 "Pi" 1125899906842624.0 "Ei" 1152921504606846976.0 "k" 1e3 "K" 1e3 "M" 1e6 "G" 1e9 "T" 1e12 "P" 1e15 "E" 1e18 -}}
{{- if not (hasKey $units $suffix) -}}
{{- fail (printf "persistence.size %q: not a Kubernetes quantity this chart can read (e.g. 50Gi)" $size) -}}
{{- end -}}
{{- $bytes := mulf (float64 $number) (get $units $suffix) -}}
{{- $mib := floor (divf (mulf $bytes (float64 .Values.persistence.maxDiskPercent)) 104857600.0) -}}
{{- printf "%dMiB" (int64 $mib) -}}
{{- end -}}

{{/* The node's configuration file: what the chart derives, then config: over it. */}}
{{- define "layercache.configFile" -}}
{{- $derived := dict "max-disk-size" (include "layercache.maxDiskSize" .) -}}
{{- if .Values.cluster.enabled -}}
{{- $_ := set $derived "s3-bucket" .Values.cluster.bucket -}}
{{- $_ := set $derived "s3-region" .Values.cluster.region -}}
{{- $_ := set $derived "s3-path-style" .Values.cluster.pathStyle -}}
{{- if .Values.cluster.endpoint -}}{{- $_ := set $derived "s3-endpoint" .Values.cluster.endpoint -}}{{- end -}}
{{- if .Values.cluster.prefix -}}{{- $_ := set $derived "s3-prefix" .Values.cluster.prefix -}}{{- end -}}
{{- end -}}
{{- if .Values.tls.enabled -}}
{{- $_ := set $derived "tls-cert" "/etc/layercache/tls/tls.crt" -}}
{{- $_ := set $derived "tls-key" "/etc/layercache/tls/tls.key" -}}
{{- if .Values.tls.grpcClientCa.enabled -}}
{{- $_ := set $derived "grpc-client-ca" "/etc/layercache/grpc-client-ca/ca.crt" -}}
{{- end -}}
{{- end -}}
{{- $files := include "layercache.authFiles" . | fromYaml -}}
{{- if hasKey $files "htpasswd" -}}{{- $_ := set $derived "auth-htpasswd" "/etc/layercache/auth/htpasswd" -}}{{- end -}}
{{- if hasKey $files "tokens" -}}{{- $_ := set $derived "auth-tokens" "/etc/layercache/auth/tokens" -}}{{- end -}}
{{- if hasKey $files "rules.yaml" -}}{{- $_ := set $derived "auth-rules" "/etc/layercache/auth/rules.yaml" -}}{{- end -}}
{{- if .Values.auth.anonymousRead -}}{{- $_ := set $derived "auth-anonymous-read" true -}}{{- end -}}
{{- toYaml (merge (deepCopy .Values.config) $derived) -}}
{{- end -}}
