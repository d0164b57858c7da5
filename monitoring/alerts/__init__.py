"""Alerting: rules (data), the engine (pure evaluation), notification planning, and the
service functions that read the store, keep state and history, and deliver the outbox."""
