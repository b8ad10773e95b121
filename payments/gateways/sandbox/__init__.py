"""The sandbox gateway, its own app: offline tokenization with Stripe's test-card behaviours, a
hosted 3-D Secure page, batch charges and payouts. It registers itself with the gateway registry
(apps.py); nothing else in payments names it."""
