{{/*
The blue-green state of one service, as JSON (docs/bluegreen-conventions.md):

  { "active": "blue"|"green", "preview": ..., "colors": { "blue": { "image", "replicas" }, "green": {...} } }

The live objects are the truth. On an upgrade each piece is read back with
lookup unless the values set it explicitly:
  active color  bluegreen.activeColor, else the live active Service's selector,
                else blue (first install);
  image         services.<name>.colors.<color>.image, else the live Deployment's
                container named <name>, else services.<name>.image / image.*;
  replicas      services.<name>.colors.<color>.replicas, else the live
                Deployment's spec.replicas, else services.<name>.replicas
                (bluegreen.previewReplicas for the preview color, when set).
So a plain `helm upgrade` never flips traffic back and never reverts an image
or a scale the bluegreen CLI set. Under `helm template` lookup finds nothing and
the first-install values apply.

Arguments: dict root name.
*/}}
{{- define "shop.bluegreen.state" -}}
{{- $root := .root -}}
{{- $name := .name -}}
{{- $svc := index $root.Values.services $name -}}
{{- $fullname := include "shop.name" (dict "root" $root "name" $name) -}}
{{- $active := $root.Values.bluegreen.activeColor -}}
{{- if not $active -}}
  {{- $live := lookup "v1" "Service" $root.Release.Namespace $fullname -}}
  {{- $liveColor := "" -}}
  {{- if and $live $live.spec $live.spec.selector -}}
    {{- $liveColor = index $live.spec.selector "shop.example/color" | default "" -}}
  {{- end -}}
  {{- if not $liveColor -}}
    {{- $active = "blue" -}}
  {{- else if has $liveColor (list "blue" "green") -}}
    {{- $active = $liveColor -}}
  {{- else -}}
    {{- fail (printf "Service %s selects shop.example/color=%q, which is neither blue nor green; set bluegreen.activeColor" $fullname $liveColor) -}}
  {{- end -}}
{{- end -}}
{{- $state := dict "active" $active "preview" (ternary "green" "blue" (eq $active "blue")) "colors" dict -}}
{{- range $color := list "blue" "green" -}}
  {{- $explicit := index $svc.colors $color | default dict -}}
  {{- $image := $explicit.image | default "" -}}
  {{- $replicas := $explicit.replicas -}}
  {{- if or (not $image) (kindIs "invalid" $replicas) -}}
    {{- $live := lookup "apps/v1" "Deployment" $root.Release.Namespace (printf "%s-%s" $fullname $color) -}}
    {{- if $live -}}
      {{- if not $image -}}
        {{- range $live.spec.template.spec.containers -}}
          {{- if eq .name $name }}{{ $image = .image }}{{ end -}}
        {{- end -}}
      {{- end -}}
      {{- if and (kindIs "invalid" $replicas) (hasKey $live.spec "replicas") -}}
        {{- $replicas = $live.spec.replicas -}}
      {{- end -}}
    {{- end -}}
  {{- end -}}
  {{- if not $image -}}
    {{- $image = include "shop.image" (dict "root" $root "name" $name) -}}
  {{- end -}}
  {{- if and (kindIs "invalid" $replicas) (eq $color $state.preview) (not (kindIs "invalid" $root.Values.bluegreen.previewReplicas)) -}}
    {{- $replicas = $root.Values.bluegreen.previewReplicas -}}
  {{- end -}}
  {{- if kindIs "invalid" $replicas -}}
    {{- $replicas = $svc.replicas -}}
  {{- end -}}
  {{- $_ := set $state.colors $color (dict "image" $image "replicas" (int $replicas)) -}}
{{- end -}}
{{- toJson $state -}}
{{- end }}

{{/*
A fresh Ed25519 signing key as a private JWK, made in the template. Sprig's
genPrivateKey "ed25519" gives a PKCS#8 PEM: its DER is a fixed 16-byte header
and the 32-byte seed (the JWK's d). PKCS#8 v1 carries no public key, so a
self-signed certificate is made with the key, and x is the 32 bytes after the
Ed25519 SubjectPublicKeyInfo header (30 2a 30 05 06 03 2b 65 70 03 21 00) in the
certificate's DER. The chart test checks the pair with the users service's own
validator (x must match d).
*/}}
{{- define "shop.ed25519Jwk" -}}
{{- $pem := genPrivateKey "ed25519" -}}
{{- $der := $pem | replace "-----BEGIN PRIVATE KEY-----" "" | replace "-----END PRIVATE KEY-----" "" | nospace | b64dec -}}
{{- if ne (len $der) 48 -}}{{ fail "unexpected Ed25519 PKCS#8 length from genPrivateKey" }}{{- end -}}
{{- $cert := genSelfSignedCertWithKey "shop-users-signing-key" nil nil 1 $pem -}}
{{- $certDer := $cert.Cert | replace "-----BEGIN CERTIFICATE-----" "" | replace "-----END CERTIFICATE-----" "" | nospace | b64dec -}}
{{- $parts := splitList "\x30\x2a\x30\x05\x06\x03\x2b\x65\x70\x03\x21\x00" $certDer -}}
{{- if ne (len $parts) 2 -}}{{ fail "could not find the Ed25519 public key in the generated certificate" }}{{- end -}}
{{- $x := substr 0 32 (index $parts 1) | b64enc | replace "+" "-" | replace "/" "_" | trimSuffix "=" -}}
{{- $d := substr 16 48 $der | b64enc | replace "+" "-" | replace "/" "_" | trimSuffix "=" -}}
{{- $kid := printf "%s-helm-%s" (now | date "20060102") (randAlphaNum 12) -}}
{{- dict "kty" "OKP" "crv" "Ed25519" "x" $x "d" $d "kid" $kid | toJson -}}
{{- end }}
