"""Persistence: Tortoise configuration (`orm`), the models (`models`) and migrations."""
