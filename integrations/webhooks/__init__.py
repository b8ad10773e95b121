"""Signed outbound webhooks (Standard Webhooks): endpoints, one delivery row per (event, endpoint),
and the sender that claims due deliveries, signs them and records each answer."""
