"""Warehouse-native privacy compliance for Customer.io: the connector."""

__version__ = "0.1.0"
