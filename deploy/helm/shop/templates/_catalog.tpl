{{/*
Written by `npm run system:generate` (scripts/generate-system.ts) from the services'
declaration, packages/contracts/src/system.ts: do not edit.

What the chart knows about each service (not configuration: the architecture).
port: what it listens on and its Services' port. database: it owns one (and has
migrations). consumes: it has consumer groups (which only the active color runs,
bluegreen.followActiveColor). callers: who may call it over HTTP (NetworkPolicy
ingress); the gateway takes traffic from outside the release. calls: the
services it calls, by the variable that gives each one's URL. weight: the order
of its migration hook (all before any Deployment).
*/}}
{{- define "shop.catalog" -}}
users: { port: 8081, database: true, consumes: false, callers: [gateway], calls: {}, weight: -10 }
inventory: { port: 8082, database: true, consumes: true, callers: [orders, gateway], calls: {}, weight: -9 }
payments: { port: 8083, database: true, consumes: true, callers: [smoke], calls: {}, weight: -8 }
shipping: { port: 8086, database: true, consumes: true, callers: [gateway], calls: {}, weight: -7 }
orders: { port: 8084, database: true, consumes: true, callers: [gateway], calls: { inventory: INVENTORY_URL }, weight: -6 }
notifications: { port: 8085, database: true, consumes: true, callers: [gateway], calls: {}, weight: -5 }
gateway: { port: 8080, database: false, consumes: false, callers: [], calls: { users: USERS_URL, inventory: INVENTORY_URL, shipping: SHIPPING_URL, orders: ORDERS_URL, notifications: NOTIFICATIONS_URL } }
{{- end }}

{{/* The services in the order they start. */}}
{{- define "shop.serviceNames" -}}
[users, inventory, payments, shipping, orders, notifications, gateway]
{{- end }}
{{- define "shop.databaseServices" -}}
[users, inventory, payments, shipping, orders, notifications]
{{- end }}
