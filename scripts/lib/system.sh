# shellcheck shell=bash disable=SC2034
# Written by `npm run system:generate` (scripts/generate-system.ts) from the
# services' declaration, packages/contracts/src/system.ts: do not edit.

# Every service, in the order they start (stopped in reverse).
SYSTEM_SERVICES=(payment-provider users inventory payments shipping orders notifications gateway)
# The services deployed as a blue and a green Deployment (all but the card processor).
SYSTEM_COLORED_SERVICES=(users inventory payments shipping orders notifications gateway)
# The services that own a database (and have migrations).
SYSTEM_DATABASE_SERVICES=(users inventory payments shipping orders notifications)
# The services each one calls over HTTP: VARIABLE=service, the variable holding its URL.
declare -A SYSTEM_CALLS=(
	[payments]="PROVIDER_URL=payment-provider"
	[orders]="INVENTORY_URL=inventory"
	[gateway]="USERS_URL=users INVENTORY_URL=inventory SHIPPING_URL=shipping ORDERS_URL=orders NOTIFICATIONS_URL=notifications"
)
