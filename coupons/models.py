"""Coupon campaigns, codes and redemptions arrive with the coupons issue."""
